"""The data-entry page: the whole evaluation as one form, read, previewed and saved.

`read_entry` lays the stored evaluation out as the page shows it and, given what
the page posted, puts the typed values on the rows in memory — only the fields
the current phase opens (`Evaluation.editable_fields`), and the rows' order,
additions and removals only while rows may be added. Types are checked there,
each error in Chinese beside its field; nothing is written.

`compute` adds the figures (执行率, 分值/得分 per 一级 and in total, the grade, the
suggested scores and the consistency faults) with the same Python the table,
the PDF and submission use; `preview_data` is that as JSON for the page's live
figures. `save_entry` writes what changed through `workflow.save_changes`.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup
from indicators.scoring import Suggestion, grade, suggest_score
from indicators.values import format_value

from . import workflow
from .consistency import Fault, faults_of
from .models import BudgetLine, Evaluation, check_field_text, clean_rich_text, parse_two_places
from .table import SOURCE_LABELS
from .templatetags.official import two_places, whole_or_two_places

ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")
NEW_KEY = re.compile(r"^new\d{1,9}$")


class EntryExpired(Exception):
    """The page posted rows that are no longer there: someone changed the table."""

    message = "该自评表的指标行已被他人修改，请刷新后重试。"


@dataclass(frozen=True)
class Spec:
    """One input of the page: the field it fills and how its text is read."""

    field: str
    label: str
    kind: str  # text, rich, count, amount, weight, points, score, target, actual
    max_length: int = 0

    @property
    def model_field(self) -> str:
        """The model field whose phase opens this input."""
        return {"target": "target_number", "actual": "actual_number"}.get(self.field, self.field)


EVALUATION_SPECS = (
    Spec("subordinate_unit_count", "下属单位个数", "count"),
    Spec("target_text", "年初设定目标", "rich"),
    Spec("result_text", "全年完成情况", "rich"),
)
BUDGET_SPECS = (
    Spec("budget_amount", "全年预算数", "amount"),
    Spec("executed_amount", "全年执行数", "amount"),
)
GROUP_SPECS = (
    Spec("name", "一级指标", "text", 100),
    Spec("weight", "权重", "weight"),
    Spec("note", "三级指标说明", "text", 300),
)
CATEGORY_SPECS = (Spec("name", "二级指标", "text", 100),)
INDICATOR_SPECS = (
    Spec("name", "三级指标", "text", 200),
    Spec("target", "年度指标值", "target"),
    Spec("points", "分值", "points"),
    Spec("actual", "全年完成值", "actual"),
    Spec("score", "得分", "score"),
    Spec("deviation_reason", "偏差及原因分析", "text", 2000),
)
# The model attributes each input writes: compared to decide what a save must write.
ATTRIBUTES = {
    "target": ("target_comparator", "target_number", "target_unit", "target_label"),
    "actual": ("actual_number", "actual_unit", "actual_label"),
}


@dataclass
class Input:
    name: str
    label: str
    value: str
    editable: bool
    error: str = ""


@dataclass
class Part:
    """A row of the page (the evaluation itself, a budget line, a 一级, 二级 or 三级)
    and its inputs; `stored` holds its values as read, to write only what changed."""

    obj: models.Model
    inputs: dict[str, Input]
    stored: dict = field(default_factory=dict)
    # The reviewer's notes on this row at the last return.
    comments: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return getattr(self.obj, "anchor", "")

    def changed_fields(self) -> list[str]:
        return [name for name, value in self.stored.items() if getattr(self.obj, name) != value]

    def errors(self) -> list[Input]:
        return [entry_input for entry_input in self.inputs.values() if entry_input.error]


@dataclass
class EntryRow(Part):
    last_year_actual: str = ""
    suggestion: Suggestion | None = None
    reason_required: bool = False
    reason_missing: bool = False
    faults: list[str] = field(default_factory=list)


@dataclass
class EntryCategory(Part):
    rows: list[EntryRow] = field(default_factory=list)


@dataclass
class EntryGroup(Part):
    categories: list[EntryCategory] = field(default_factory=list)
    points: Decimal = ZERO
    score: Decimal = ZERO
    faults: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[EntryRow]:
        return [row for category in self.categories for row in category.rows]


@dataclass
class EntryBudgetLine(Part):
    label: str = ""
    rate: Decimal = ZERO


@dataclass
class Entry:
    evaluation: Evaluation
    main: Part
    budget_lines: list[EntryBudgetLine]
    groups: list[EntryGroup]
    structure_editable: bool
    removed: list[models.Model] = field(default_factory=list)
    has_last_year: bool = False
    total_points: Decimal = ZERO
    total_score: Decimal = ZERO
    grade: str = ""
    faults: list[Fault] = field(default_factory=list)

    @property
    def rows(self) -> list[EntryRow]:
        return [row for group in self.groups for row in group.rows]

    def parts(self) -> list[Part]:
        parts: list[Part] = [self.main, *self.budget_lines]
        for group in self.groups:
            parts.append(group)
            for category in group.categories:
                parts.extend([category, *category.rows])
        return parts

    def errors(self) -> list[Input]:
        return [error for part in self.parts() for error in part.errors()]

    def has_changes(self) -> bool:
        return bool(self.removed) or any(
            part.changed_fields() if part.obj.pk else self.structure_editable
            for part in self.parts()
        )

    @property
    def editable(self) -> bool:
        return self.evaluation.status in Evaluation.EDITABLE_STATUSES


def read_entry(evaluation: Evaluation, data=None, last_year: Evaluation | None = None) -> Entry:
    """The page of `evaluation` (from `Evaluation.objects.with_table()`), with `data`
    (the posted form) applied in memory if given."""
    structure_editable = evaluation.rows_can_be_added
    main = _part(Part, evaluation, "", EVALUATION_SPECS, data, evaluation)
    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    budget_lines = []
    for kind in BudgetLine.ORDER:
        line = lines.get(kind) or BudgetLine(evaluation=evaluation, kind=kind)
        part = _part(EntryBudgetLine, line, f"budget-{kind}", BUDGET_SPECS, data, evaluation)
        if line.pk is None and not structure_editable:
            for entry_input in part.inputs.values():
                entry_input.editable = False
        part.label = SOURCE_LABELS[kind]
        budget_lines.append(part)

    groups = [
        (
            group,
            [(category, list(category.indicators.all())) for category in group.categories.all()],
        )
        for group in evaluation.indicator_groups.all()
    ]
    removed = []
    if data is not None and structure_editable and "rows" in data:
        groups, removed = _posted_structure(groups, data)
    last_actuals = _last_year_actuals(last_year)

    entry_groups = []
    for group, categories in groups:
        entry_group = _part(EntryGroup, group, group.anchor, GROUP_SPECS, data, evaluation)
        for position, (category, indicators) in enumerate(categories, start=1):
            entry_category = _part(
                EntryCategory, category, category.anchor, CATEGORY_SPECS, data, evaluation
            )
            _place(entry_category, position, structure_editable)
            for row_position, indicator in enumerate(indicators, start=1):
                row = _part(
                    EntryRow, indicator, indicator.anchor, INDICATOR_SPECS, data, evaluation
                )
                _place(row, row_position, structure_editable)
                _check_score_within_points(row)
                row.last_year_actual = last_actuals.get(
                    (group.name, category.name, indicator.name), ""
                )
                entry_category.rows.append(row)
            entry_group.categories.append(entry_category)
        entry_groups.append(entry_group)
    entry = Entry(
        evaluation=evaluation,
        main=main,
        budget_lines=budget_lines,
        groups=entry_groups,
        structure_editable=structure_editable,
        removed=removed,
        has_last_year=bool(last_actuals),
    )
    compute(entry)
    return entry


def _place(part: Part, position: int, structure_editable: bool) -> None:
    """The row's position is its place in the page's order."""
    part.stored["position"] = part.obj.position
    if structure_editable:
        part.obj.position = position


def _part(
    cls, obj: models.Model, key: str, specs: tuple[Spec, ...], data, evaluation: Evaluation
) -> Part:
    evaluation_fields = evaluation.editable_fields(obj._meta.model_name)
    part = cls(obj=obj, inputs={})
    for spec in specs:
        if isinstance(obj, IndicatorGroup) and spec.field == "note" and not obj.note:
            continue
        editable = spec.model_field in evaluation_fields
        name = f"{key}-{spec.field}" if key else spec.field
        for attribute in ATTRIBUTES.get(spec.field, (spec.field,)):
            part.stored[attribute] = getattr(obj, attribute)
        entry_input = Input(name, spec.label, _shown(obj, spec), editable)
        if editable and data is not None and name in data:
            entry_input.value = str(data.get(name, ""))
            if spec.kind == "rich":
                # Shown again, unsaved, after an error: as cleaned as if it had been saved.
                entry_input.value = clean_rich_text(entry_input.value)
            try:
                _apply(obj, spec, entry_input.value)
            except ValueError as error:
                entry_input.error = str(error)
        part.inputs[spec.field] = entry_input
    return part


def _shown(obj: models.Model, spec: Spec) -> str:
    """A stored value written as one would type it."""
    if spec.kind == "target":
        return format_value(obj.target)
    if spec.kind == "actual":
        return format_value(obj.actual)
    value = getattr(obj, spec.field)
    if value is None:
        return ""
    if spec.kind == "weight":
        return whole_or_two_places(value)
    if isinstance(value, Decimal):
        return two_places(value)
    return str(value)


def _apply(obj: models.Model, spec: Spec, text: str) -> None:
    """Puts the typed `text` on `obj`; ValueError in Chinese if it cannot be read."""
    text = text.strip()
    if spec.kind == "target":
        obj.target = text
    elif spec.kind == "actual":
        obj.actual = text
    elif spec.kind == "rich":
        cleaned = clean_rich_text(text)
        check_field_text(obj, spec.field, cleaned, spec.label)
        # The editor may respell untouched text (spaces between paragraphs): no change then.
        if _squeezed(cleaned) != _squeezed(clean_rich_text(getattr(obj, spec.field))):
            setattr(obj, spec.field, cleaned)
    elif spec.kind == "text":
        check_field_text(obj, spec.field, text, spec.label)
        setattr(obj, spec.field, text)
    elif spec.kind == "count":
        if not text:
            setattr(obj, spec.field, None)
        elif not (text.isascii() and text.isdigit()) or int(text) > 100000:
            raise ValueError(f"{spec.label}须为不小于 0 的整数。")
        else:
            setattr(obj, spec.field, int(text))
    elif spec.kind == "amount":
        setattr(obj, spec.field, _decimal(text, spec.label, MAX_AMOUNT, "8278261.03") or ZERO)
    elif spec.kind == "weight":
        weight = _decimal(text, spec.label, Decimal("100"), "30")
        if weight is None or weight <= 0:
            raise ValueError("请填写权重（大于 0、不超过 100）。")
        obj.weight = weight
    elif spec.kind == "points":
        obj.points = _decimal(text, spec.label, Decimal("100"), "2.00") or ZERO
    elif spec.kind == "score":
        obj.score = _decimal(text, spec.label, Decimal("100"), "2.00")


def _squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


def _decimal(text: str, label: str, maximum: Decimal, example: str) -> Decimal | None:
    if not text.strip():
        return None
    return parse_two_places(text, label, maximum=maximum, example=example)


def _check_score_within_points(row: EntryRow) -> None:
    """得分 ≤ 分值, as the database demands: the error goes on the input that changed.
    A 得分 kept from the results phase (reopened to 年初目标) bounds the 分值."""
    indicator = row.obj
    if indicator.score is None or indicator.score <= indicator.points:
        return
    score_input, points_input = row.inputs["score"], row.inputs["points"]
    if score_input.editable:
        if not score_input.error:
            score_input.error = f"得分不能超过分值 {indicator.points:.2f}。"
        indicator.score = row.stored["score"]
    else:
        if not points_input.error:
            points_input.error = f"分值不能低于已填的得分 {indicator.score:.2f}。"
        indicator.points = row.stored["points"]


def _posted_structure(groups: list, data) -> tuple[list, list]:
    """The 二级 and 三级 rows in the order the page posted them: moved, added or removed."""
    by_key = {group.anchor: (group, []) for group, _ in groups}
    categories = {category.anchor: category for _, pairs in groups for category, _ in pairs}
    indicators = {
        indicator.anchor: indicator
        for _, pairs in groups
        for _, rows in pairs
        for indicator in rows
    }
    posted_categories = {}
    for key in dict.fromkeys(data.getlist("categories")):
        group_key = data.get(f"{key}-group", "")
        if group_key not in by_key:
            raise EntryExpired()
        category = categories.get(key)
        if category is None:
            new_key = key.removeprefix("category-")
            if not NEW_KEY.match(new_key):
                raise EntryExpired()
            category = IndicatorCategory(group=by_key[group_key][0], name="")
            category.new_key = new_key
        rows = []
        posted_categories[key] = (category, rows)
        by_key[category.group.anchor][1].append((category, rows))
    posted_rows = set()
    for key in dict.fromkeys(data.getlist("rows")):
        indicator = indicators.get(key)
        category_key = data.get(f"{key}-category", "")
        if indicator is not None:
            # A row stays in its 二级: moving it elsewhere is not something the page does.
            category_key = indicator.category.anchor
        if category_key not in posted_categories:
            raise EntryExpired()
        if indicator is None:
            new_key = key.removeprefix("indicator-")
            if not NEW_KEY.match(new_key):
                raise EntryExpired()
            indicator = Indicator(category=posted_categories[category_key][0], points=ZERO)
            indicator.new_key = new_key
        posted_categories[category_key][1].append(indicator)
        posted_rows.add(indicator.anchor)
    removed = [indicator for key, indicator in indicators.items() if key not in posted_rows]
    removed += [category for key, category in categories.items() if key not in posted_categories]
    return list(by_key.values()), removed


def _last_year_actuals(last_year: Evaluation | None) -> dict[tuple[str, str, str], str]:
    """Last year's 全年完成值 by (一级, 二级, 三级) name, shown beside this year's target."""
    if last_year is None:
        return {}
    return {
        (group.name, category.name, indicator.name): indicator.actual_display
        for group in last_year.indicator_groups.all()
        for category in group.categories.all()
        for indicator in category.indicators.all()
        if indicator.actual_display
    }


def compute(entry: Entry) -> None:
    """The figures of the page, from the values in memory."""
    for line in entry.budget_lines:
        line.rate = line.obj.execution_rate
    for group in entry.groups:
        group.points = sum((row.obj.points for row in group.rows), ZERO)
        group.score = sum((row.obj.score or ZERO for row in group.rows), ZERO)
        for row in group.rows:
            indicator = row.obj
            # A 二级 scored by itself (投入管理) is scored by the city's scheme: no suggestion.
            if not group.obj.note:
                row.suggestion = suggest_score(indicator.target, indicator.actual, indicator.points)
            row.reason_required = indicator.score is not None and indicator.score < indicator.points
            row.reason_missing = row.reason_required and not indicator.deviation_reason.strip()
    entry.total_points = sum((group.points for group in entry.groups), ZERO)
    entry.total_score = sum((group.score for group in entry.groups), ZERO)
    entry.grade = grade(entry.total_score)
    entry.faults = faults_of(
        [line.obj for line in entry.budget_lines],
        [(group.obj, [row.obj for row in group.rows]) for group in entry.groups],
        entry.evaluation.phase,
    )
    messages_at: dict[str, list[str]] = {}
    for fault in entry.faults:
        messages_at.setdefault(fault.anchor, []).append(fault.message)
    for group in entry.groups:
        group.faults = messages_at.get(group.key, [])
        for row in group.rows:
            row.faults = messages_at.get(row.key, [])


def preview_data(entry: Entry) -> dict:
    """What the page's live figures show, as JSON: decimals as the form prints them."""
    return {
        "errors": {error.name: error.error for error in entry.errors()},
        "budget": {line.key: two_places(line.rate) for line in entry.budget_lines},
        "groups": {
            group.key: {
                "points": whole_or_two_places(group.points),
                "score": whole_or_two_places(group.score),
                "faults": group.faults,
            }
            for group in entry.groups
        },
        "rows": {
            row.key: {
                "suggested": two_places(row.suggestion.score) if row.suggestion else "",
                "reason": row.suggestion.reason if row.suggestion else "",
                "far_above": bool(row.suggestion and row.suggestion.far_above_target),
                "reason_required": row.reason_required,
                "reason_missing": row.reason_missing,
                "faults": row.faults,
            }
            for row in entry.rows
        },
        "total": {
            "points": whole_or_two_places(entry.total_points),
            "score": whole_or_two_places(entry.total_score),
            "grade": entry.grade,
        },
        "faults": [{"anchor": fault.anchor, "message": fault.message} for fault in entry.faults],
    }


def save_entry(entry: Entry, *, by, expected_version: int) -> Evaluation:
    """Writes what the page changed, all or nothing, if nobody saved since
    `expected_version`; only changed rows are written, so the field history
    records real changes only (and a save without changes writes nothing)."""
    if not entry.has_changes():
        return entry.evaluation

    def apply(locked: Evaluation) -> None:
        changed = entry.main.changed_fields()
        if changed:
            for name in changed:
                setattr(locked, name, getattr(entry.evaluation, name))
            locked.save(update_fields=[*changed, "updated_at"])
        # Rows first, then their 二级 (which would take its rows with it).
        for obj in entry.removed:
            obj.delete()
        for part in entry.parts()[1:]:
            obj = part.obj
            if isinstance(obj, IndicatorCategory):
                obj.group = obj.group  # sets group_id from the (saved) group
            elif isinstance(obj, Indicator):
                obj.category = obj.category  # a new 二级 has just been saved
            if obj.pk is None:
                # Rows are added only with the targets (a missing budget line stays
                # missing in 年末自评 rather than refusing every save).
                if entry.structure_editable:
                    obj.save()
            elif fields := part.changed_fields():
                obj.save(update_fields=fields)

    return workflow.save_changes(
        entry.evaluation, by=by, expected_version=expected_version, apply=apply
    )
