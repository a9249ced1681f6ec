"""The yearly indicator template (指标库) through django-import-export, xlsx only.

One sheet row per template line, matched on 表类型 + 年度 + 一级 + 二级 + 三级 (one
指标库 per kind of form and year; a file without the 表类型 column is the 部门（单位）
整体支出 指标库, as before the project form). 需佐证材料 (是/否, blank 否) marks the
lines whose rows need 佐证材料; a file without that column leaves the marks alone.
Rows of the same 一级 must agree on its 权重 and note; the base shares of a 一级 must
add up to 100. Existing lines are loaded once, and the rows are written in bulk: a
10,000-line template imports in seconds.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from import_export import fields

from evaluations.kinds import FormKind
from evaluations.numbers import HUNDRED
from evaluations.resources import NumberWidget, TextWidget, XlsxResource, YesNoWidget

from .models import IndicatorTemplate
from .values import ValueParseError, format_value, parse_value


class TargetWidget(TextWidget):
    def clean(self, value, row=None, **kwargs) -> str:
        text = super().clean(value, row, **kwargs)
        try:
            return format_value(parse_value(text))
        except ValueParseError as error:
            raise ValueError(f"{self.label}：{error}") from None


class FormKindWidget(TextWidget):
    """表类型 by its name (部门（单位）整体支出 / 项目支出); blank is the overall form."""

    NAMES = {label: value for value, label in FormKind.choices} | {
        "整体支出": FormKind.OVERALL,
        "部门整体支出": FormKind.OVERALL,
        "项目": FormKind.PROJECT,
    }

    def clean(self, value, row=None, **kwargs) -> str:
        text = super().clean(value, row, **kwargs)
        if not text:
            return FormKind.OVERALL
        if text in FormKind.values:
            return text
        if text not in self.NAMES:
            names = "或".join(f"“{label}”" for label in FormKind.labels)
            raise ValueError(f"{self.label}：应填{names}，而不是“{text}”。")
        return self.NAMES[text]

    def render(self, value, obj=None, **kwargs) -> str:
        return FormKind(value).label if value else ""


KEY_FIELDS = ("form_kind", "year", "group_name", "category_name", "name")
FORM_KIND_COLUMN = "表类型"
# 是: the row needs 佐证材料 when the 年末自评 is submitted (`evaluations.evidence`).
EVIDENCE_COLUMN = "需佐证材料"


class IndicatorTemplateResource(XlsxResource):
    form_kind = fields.Field("form_kind", FORM_KIND_COLUMN, FormKindWidget(FORM_KIND_COLUMN))
    year = fields.Field(
        "year",
        "年度",
        NumberWidget("年度", minimum=Decimal("2000"), maximum=Decimal("2100"), whole=True),
    )
    group_name = fields.Field(
        "group_name", "一级指标", TextWidget("一级指标", required=True, max_length=100)
    )
    group_weight = fields.Field(
        "group_weight", "权重", NumberWidget("权重", minimum=Decimal("0.01"))
    )
    group_note = fields.Field(
        "group_note", "三级指标说明", TextWidget("三级指标说明", max_length=300)
    )
    category_name = fields.Field(
        "category_name", "二级指标", TextWidget("二级指标", required=True, max_length=100)
    )
    name = fields.Field("name", "三级指标", TextWidget("三级指标", max_length=200))
    base_share = fields.Field(
        "base_share",
        "基础分占比（%）",
        NumberWidget("基础分占比（%）", required=False, minimum=Decimal("0.01")),
    )
    points = fields.Field("points", "分值", NumberWidget("分值", required=False))
    default_target = fields.Field(
        "default_target", "默认年度指标值", TargetWidget("默认年度指标值", max_length=70)
    )
    evidence_required = fields.Field(
        "evidence_required", EVIDENCE_COLUMN, YesNoWidget(EVIDENCE_COLUMN, blank=False)
    )

    class Meta:
        model = IndicatorTemplate
        fields = (
            "form_kind",
            "year",
            "group_name",
            "group_weight",
            "group_note",
            "category_name",
            "name",
            "base_share",
            "points",
            "default_target",
            "evidence_required",
        )
        import_id_fields = KEY_FIELDS
        clean_model_instances = True
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        report_skipped = False

    # Files made before the column existed import as they did: the lines they update
    # keep their mark, new lines have none.
    optional_columns = (EVIDENCE_COLUMN,)

    def before_import(self, dataset, **kwargs) -> None:
        if dataset.headers and FORM_KIND_COLUMN not in dataset.headers:
            dataset.insert_col(0, [""] * dataset.height, header=FORM_KIND_COLUMN)
        super().before_import(dataset, **kwargs)
        years = set()
        for value in dataset["年度"]:
            try:
                years.add(int(Decimal(str(value).strip())))
            except (ArithmeticError, ValueError):
                continue  # the row reports it
        self.existing = {
            tuple(getattr(line, name) for name in KEY_FIELDS): line
            for line in IndicatorTemplate.objects.filter(year__in=years)
        }
        self.seen_lines: dict[tuple, int] = {}
        self.seen_groups: dict[tuple, tuple[Decimal, str, int]] = {}
        self.shares: dict[tuple, list[Decimal]] = {}

    def get_instance(self, instance_loader, row):
        try:
            key = tuple(self.fields[name].clean(row) for name in KEY_FIELDS)
        except ValueError:
            return None  # a new line then, whose cells report what is wrong
        return self.existing.get(key)

    def import_instance(self, instance, row, **kwargs):
        instance.position = kwargs.get("row_number", 0)
        super().import_instance(instance, row, **kwargs)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # Uniqueness and the check constraints are checked in `check_row` against
        # the lines loaded once; Django would ask the database for each, per row.
        errors = dict(import_validation_errors or {})
        try:
            instance.full_clean(
                exclude=errors.keys(), validate_unique=False, validate_constraints=False
            )
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def check_row(self, instance, row) -> dict:
        errors = {}
        number = self._row_number
        if instance.points is None and instance.base_share is None:
            errors["points"] = "分值：请填写分值，或填写基础分占比（二级指标自身计分时）。"
        elif instance.points is not None and instance.base_share is not None:
            errors["points"] = "分值：已填写基础分占比时不再填写分值（分值 = 权重 × 占比 ÷ 100）。"
        points, weight = instance.points, instance.group_weight
        if points is not None and weight is not None and points > weight:
            errors["points"] = f"分值：{points} 超过所属一级指标的权重 {weight}。"
        line = tuple(getattr(instance, name) for name in KEY_FIELDS)
        if line in self.seen_lines:
            errors["name"] = (
                f"三级指标：与行号 {self.seen_lines[line]} 重复（同一年度、一级、二级下名称相同）。"
            )
        self.seen_lines.setdefault(line, number)
        group = (instance.form_kind, instance.year, instance.group_name)
        weight, note = instance.group_weight, instance.group_note
        if weight is None:  # not a number: its cell reports it
            return errors
        first = self.seen_groups.setdefault(group, (weight, note, number))
        if weight != first[0]:
            errors["group_weight"] = (
                f"权重：{weight} 与行号 {first[2]} 同一一级指标“{instance.group_name}”的权重 "
                f"{first[0]} 不一致。"
            )
        if note != first[1]:
            errors["group_note"] = f"三级指标说明：与行号 {first[2]} 同一一级指标的说明不一致。"
        if instance.base_share is not None:
            self.shares.setdefault(group, []).append(instance.base_share)
        return errors

    def import_row(self, row, instance_loader, **kwargs):
        self._row_number = kwargs.get("row_number", 0)
        return super().import_row(row, instance_loader, **kwargs)

    def after_import(self, dataset, result, **kwargs) -> None:
        for (form_kind, year, group_name), shares in self.shares.items():
            total = sum(shares, Decimal("0"))
            if total != HUNDRED:
                kind = "" if form_kind == FormKind.OVERALL else f"{FormKind(form_kind).label}"
                raise ValueError(
                    f"{year} 年{kind}一级指标“{group_name}”各二级指标的基础分占比合计 {total}，"
                    "应为 100。"
                )
