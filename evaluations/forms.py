from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from .models import Unit, parse_two_places
from .overview import STAGES
from .text import read_number


class ExportForm(forms.Form):
    """What a bulk export takes: a year, and optionally a stage or a 主管部门."""

    year = forms.TypedChoiceField(label="年度", coerce=int)
    stage = forms.ChoiceField(label="状态", required=False)
    parent = forms.TypedChoiceField(label="主管部门", required=False, empty_value=None)

    def __init__(self, *args, years: list[int], parents: list[Unit], **kwargs):
        super().__init__(*args, **kwargs)
        self.parents = {str(unit.pk): unit for unit in parents}
        self.fields["year"].choices = [(year, f"{year}年度") for year in years]
        self.fields["stage"].choices = [("", "全部")] + STAGES
        self.fields["parent"].choices = [("", "全部")] + [
            (str(unit.pk), unit.name) for unit in parents
        ]
        self.fields["parent"].coerce = self.parents.get


class TwoPlacesField(forms.DecimalField):
    """Amounts, points, scores and weights in the admin's forms, read by the one
    grammar of typed numbers (`parse_two_places`): 8,278,261.03 is read, 8278261,03
    is refused rather than taken for 827,826,103. The range is left to the model's
    validators and constraints."""

    def to_python(self, value):
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        whole_digits = (self.max_digits or 14) - (self.decimal_places or 2)
        largest = Decimal(10) ** whole_digits - Decimal("0.01")
        try:
            return parse_two_places(
                value, str(self.label or "数值"), maximum=largest, minimum=-largest
            )
        except ValueError as error:
            raise ValidationError(str(error), code="invalid") from None


class WholeNumberField(forms.IntegerField):
    """Counts, years and positions in the admin's forms, by the same grammar: Python's
    int() would read 1_000 and ١٢٣."""

    def to_python(self, value):
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, int):
            return value
        label = str(self.label or "数值")
        try:
            number = read_number(str(value), label)
        except ValueError as error:
            raise ValidationError(str(error), code="invalid") from None
        if number != number.to_integral_value() or abs(number) > 2**31:
            raise ValidationError(f"{label}须为整数。", code="invalid")
        return int(number)


# For ModelAdmin.formfield_overrides: every number field of the admin's forms.
NUMBER_FIELDS = {
    models.DecimalField: {"form_class": TwoPlacesField},
    models.IntegerField: {"form_class": WholeNumberField},
    models.PositiveIntegerField: {"form_class": WholeNumberField},
    models.PositiveSmallIntegerField: {"form_class": WholeNumberField},
}
