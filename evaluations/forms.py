import re
from decimal import Decimal
from functools import partial

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import models

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup
from indicators.values import IndicatorValue, ValueParseError, format_value, parse_value

from .models import (
    HUNDRED,
    MAX_AMOUNT,
    BudgetLine,
    Evaluation,
    Project,
    Unit,
    check_field_text,
    clean_rich_text,
)
from .numbers import ZERO, two_places, whole_or_two_places
from .overview import STAGES
from .text import parse_two_places, read_number


class ModelDecimalField(forms.DecimalField):
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
    models.DecimalField: {"form_class": ModelDecimalField},
    models.IntegerField: {"form_class": WholeNumberField},
    models.PositiveIntegerField: {"form_class": WholeNumberField},
    models.PositiveSmallIntegerField: {"form_class": WholeNumberField},
}


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


# ---------------------------------------------------------------- the entry page
#
# One model form per row of the form (the evaluation itself, a budget line, a 一级, a
# 二级, a 三级), its prefix the row's anchor ("indicator-12", "budget-fiscal"), so the
# page posts "indicator-12-score". Max lengths and validators come from the models;
# a field the phase keeps closed (`Evaluation.editable_fields`) is disabled, so a
# posted value for it is ignored.


class TwoPlacesField(forms.Field):
    """A number with at most two decimals, read by the one grammar of the project
    (`parse_two_places`); blank gives `empty_value`."""

    def __init__(
        self, *, maximum: Decimal, example: str, empty_value=None, shown=two_places, **kwargs
    ):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.maximum, self.example, self.empty_value, self.shown = (
            maximum,
            example,
            empty_value,
            shown,
        )

    def to_python(self, value):
        text = str(value if value is not None else "").strip()
        if not text:
            return self.empty_value
        try:
            return parse_two_places(text, self.label, maximum=self.maximum, example=self.example)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def prepare_value(self, value):
        if isinstance(value, Decimal):
            return self.shown(value)
        return "" if value is None else value


class RichTextField(forms.CharField):
    """年初设定目标 / 全年完成情况: cleaned like saved text, also when shown again."""

    def to_python(self, value):
        return clean_rich_text(super().to_python(value))

    def prepare_value(self, value):
        # Shown again, unsaved, after an error: as cleaned as if it had been saved.
        return clean_rich_text(value if isinstance(value, str) else "")


def _squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", html or "").strip()


class EntryForm(forms.ModelForm):
    """A row's form; `evaluation` decides which of its fields the phase opens."""

    # The model fields each input writes, where they differ from its name.
    opened_by: dict[str, str] = {}

    def __init__(
        self,
        *args,
        evaluation: Evaluation,
        locked: bool = False,
        keep_typed: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        model_name = self._meta.model._meta.model_name
        if keep_typed:
            # A form posted after the evaluation closed: what was typed into the phase's
            # fields is shown again (and saved nowhere), so it can be copied.
            open_fields = evaluation.layout.phase_fields[evaluation.phase].get(model_name, ())
        else:
            open_fields = evaluation.editable_fields(model_name)
        model_fields = {field.name for field in self._meta.model._meta.fields}
        for name, form_field in self.fields.items():
            form_field.disabled = locked or self.opened_by.get(name, name) not in open_fields
            if isinstance(form_field, forms.CharField):
                # What a text may hold is one rule (`evaluations.text`), with the model's
                # limits and a message naming the field; Django's generic checks go.
                form_field.validators = [
                    validator
                    for validator in form_field.validators
                    if not isinstance(
                        validator, (MaxLengthValidator, ProhibitNullCharactersValidator)
                    )
                ]
                if name in model_fields:
                    form_field.validators.append(partial(self._check_text, name))

    def _check_text(self, name: str, value: str) -> None:
        try:
            check_field_text(self.instance, name, value, label=str(self.fields[name].label))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def validate_unique(self):
        # The database's constraints hold every write; checking them here would cost a
        # query per row on every keystroke's preview.
        pass

    def first_errors(self) -> dict[str, str]:
        """The first error of each field, by the posted name; an error of the whole
        row is shown at its first field."""
        errors = {}
        for name, messages in self.errors.items():
            if name == NON_FIELD_ERRORS:
                name = next(iter(self.fields))
            errors.setdefault(self[name].html_name, messages[0])
        return errors


class EvaluationEntryForm(EntryForm):
    subordinate_unit_count = WholeNumberField(
        label="下属单位个数",
        required=False,
        min_value=0,
        max_value=100000,
        error_messages={
            "invalid": "下属单位个数须为不小于 0 的整数。",
            "min_value": "下属单位个数须为不小于 0 的整数。",
            "max_value": "下属单位个数不能超过 100000。",
        },
    )
    target_text = RichTextField(label="年初设定目标", required=False, strip=True)
    result_text = RichTextField(label="全年完成情况", required=False, strip=True)

    class Meta:
        model = Evaluation
        fields = ("subordinate_unit_count", "target_text", "result_text")

    def clean(self):
        cleaned_data = super().clean()
        for name in ("target_text", "result_text"):
            # The editor may respell untouched text (spaces between paragraphs): no change then.
            stored = clean_rich_text(getattr(self.instance, name))
            if name in cleaned_data and _squeezed(cleaned_data[name]) == _squeezed(stored):
                cleaned_data[name] = getattr(self.instance, name)
        return cleaned_data


class BudgetLineEntryForm(EntryForm):
    initial_budget_amount = TwoPlacesField(
        label="年初预算数", maximum=MAX_AMOUNT, example="8278261.03", empty_value=ZERO
    )
    budget_amount = TwoPlacesField(
        label="全年预算数", maximum=MAX_AMOUNT, example="8278261.03", empty_value=ZERO
    )
    executed_amount = TwoPlacesField(
        label="全年执行数", maximum=MAX_AMOUNT, example="8278261.03", empty_value=ZERO
    )

    class Meta:
        model = BudgetLine
        fields = ("initial_budget_amount", "budget_amount", "executed_amount")

    def __init__(self, *args, evaluation: Evaluation, **kwargs):
        super().__init__(*args, evaluation=evaluation, **kwargs)
        # The columns of this kind of form only (no 年初预算数 on the overall form).
        shown = {name for name, _ in evaluation.layout.budget_columns}
        for name in [name for name in self.fields if name not in shown]:
            del self.fields[name]


class GroupEntryForm(EntryForm):
    weight = TwoPlacesField(label="权重", maximum=HUNDRED, example="30", shown=whole_or_two_places)

    class Meta:
        model = IndicatorGroup
        fields = ("name", "weight", "note")

    def __init__(self, *args, evaluation: Evaluation, **kwargs):
        super().__init__(*args, evaluation=evaluation, **kwargs)
        self.fields["weight"].label = evaluation.layout.weight_heading
        if not self.instance.note:
            # Only a 一级 without 三级 (投入管理) has a note, drawn over the 三级 column.
            del self.fields["note"]

    def clean_weight(self):
        weight = self.cleaned_data["weight"]
        if weight is None or weight <= 0:
            raise forms.ValidationError("请填写权重（大于 0、不超过 100）。")
        return weight


class CategoryEntryForm(EntryForm):
    class Meta:
        model = IndicatorCategory
        fields = ("name",)


class IndicatorEntryForm(EntryForm):
    opened_by = {"target": "target_number", "actual": "actual_number"}

    target = forms.CharField(label="年度指标值", required=False, max_length=70)
    points = TwoPlacesField(label="分值", maximum=HUNDRED, example="2.00", empty_value=ZERO)
    actual = forms.CharField(label="全年完成值", required=False, max_length=70)
    score = TwoPlacesField(label="得分", maximum=HUNDRED, example="2.00")

    class Meta:
        model = Indicator
        fields = ("name", "target", "points", "actual", "score", "deviation_reason")

    def __init__(self, *args, **kwargs):
        instance = kwargs["instance"]
        kwargs["initial"] = {
            "target": format_value(instance.target),
            "actual": format_value(instance.actual),
        }
        super().__init__(*args, **kwargs)
        self.stored_points, self.stored_score = instance.points, instance.score

    def clean_target(self):
        return self._value("target", allow_comparator=True)

    def clean_actual(self):
        return self._value("actual", allow_comparator=False)

    def _value(self, name: str, *, allow_comparator: bool) -> IndicatorValue:
        try:
            return parse_value(self.cleaned_data[name], allow_comparator=allow_comparator)
        except ValueParseError as error:
            raise forms.ValidationError(str(error)) from None

    def clean(self):
        cleaned_data = super().clean()
        # 得分 ≤ 分值, as the database demands: the error goes on the input that is open.
        # A 得分 kept from the results phase (reopened to 年初目标) bounds the 分值.
        points = cleaned_data.get("points", self.stored_points)
        score = cleaned_data.get("score", self.stored_score)
        if score is not None and points is not None and score > points:
            if not self.fields["score"].disabled:
                self.add_error("score", f"得分不能超过分值 {two_places(points)}。")
            else:
                self.add_error("points", f"分值不能低于已填的得分 {two_places(score)}。")
        return cleaned_data

    def _post_clean(self):
        for name in ("target", "actual"):
            if name in self.cleaned_data:
                setattr(self.instance, name, self.cleaned_data[name])
        super()._post_clean()


class ProjectForm(forms.ModelForm):
    """A project a unit adds itself (where its district allows it)."""

    class Meta:
        model = Project
        fields = ["code", "name", "first_year", "last_year"]
        field_classes = {"first_year": WholeNumberField, "last_year": WholeNumberField}
