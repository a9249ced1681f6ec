from django import forms

from .models import Unit
from .overview import STAGES


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
