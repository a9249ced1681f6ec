"""The data-entry page: the whole evaluation as one set of forms, read, previewed and saved.

`read_entry` gives every row of the form its model form (`evaluations.forms`), bound
to what the page posted if anything: the typed values land on the rows in memory —
only the fields the current phase opens, and the rows' order, additions and
removals only while rows may be added. Errors are in Chinese beside their fields;
nothing is written. The figures (执行率, 分值/得分 per 一级 and in total, the grade,
the suggested scores and the consistency faults) are those of the form's tree,
`build_table`, built from those rows: the same Python the table page, the PDF and
submission use. `preview_data` is that as JSON for the page's live figures;
`save_entry` writes what changed inside `workflow.changing`.
"""

import re
from dataclasses import dataclass, field

from django import forms as django_forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from indicators.models import Indicator, IndicatorCategory

from . import workflow
from .forms import (
    ZERO,
    BudgetLineEntryForm,
    CategoryEntryForm,
    EntryForm,
    EvaluationEntryForm,
    GroupEntryForm,
    IndicatorEntryForm,
)
from .models import Evaluation, parse_anchor
from .numbers import amount, two_places, whole_or_two_places
from .table import (
    BudgetRow,
    GroupBlock,
    Row,
    Structure,
    Table,
    build_table,
    has_changes,
    remember,
    save_tree,
    saved_budget_lines,
    saved_structure,
)

NEW_KEY = re.compile(r"^new\d{1,9}$")


class EntryExpired(Exception):
    """The page posted rows that are no longer there: someone changed the table."""

    message = "该自评表的指标行已被他人修改，请刷新后重试。"


@dataclass
class Part:
    """A row of the page and its form; `comments` are the reviewer's notes on this
    row at the last return."""

    form: EntryForm
    comments: list[str] = field(default_factory=list)

    @property
    def obj(self) -> models.Model:
        return self.form.instance

    @property
    def key(self) -> str:
        return getattr(self.obj, "anchor", "")


@dataclass
class EntryRow(Part):
    node: Row | None = None
    last_year_actual: str = ""

    @property
    def suggestion(self):
        return self.node.suggestion

    @property
    def faults(self) -> list[str]:
        return self.node.faults

    @property
    def reason_required(self) -> bool:
        return self.node.reason_required

    @property
    def reason_missing(self) -> bool:
        return self.node.reason_missing

    @property
    def score_editable(self) -> bool:
        return not self.form.fields["score"].disabled


@dataclass
class EntryCategory(Part):
    rows: list[EntryRow] = field(default_factory=list)


@dataclass
class EntryGroup(Part):
    node: GroupBlock | None = None
    categories: list[EntryCategory] = field(default_factory=list)

    @property
    def rows(self) -> list[EntryRow]:
        return [row for category in self.categories for row in category.rows]

    @property
    def points(self):
        return self.node.points

    @property
    def score(self):
        return self.node.score

    @property
    def faults(self) -> list[str]:
        return self.node.faults


@dataclass
class EntryBudgetLine(Part):
    node: BudgetRow | None = None

    @property
    def label(self) -> str:
        return self.node.label

    @property
    def rate(self):
        return self.node.execution_rate


@dataclass
class Entry:
    evaluation: Evaluation
    main: Part
    budget_lines: list[EntryBudgetLine]
    groups: list[EntryGroup]
    structure_editable: bool
    table: Table
    removed: list[models.Model] = field(default_factory=list)
    has_last_year: bool = False

    @property
    def rows(self) -> list[EntryRow]:
        return [row for group in self.groups for row in group.rows]

    @property
    def layout(self):
        return self.evaluation.layout

    @property
    def budget_total(self):
        """The project form's 年度资金总额 (sums, 执行率, 分值, 得分), or None."""
        return self.table.budget_total

    @property
    def total_points(self):
        return self.table.total_points

    @property
    def total_score(self):
        return self.table.total_score

    @property
    def grade(self) -> str:
        return self.table.grade

    @property
    def faults(self):
        return self.table.faults

    def parts(self) -> list[Part]:
        parts: list[Part] = [self.main, *self.budget_lines]
        for group in self.groups:
            parts.append(group)
            for category in group.categories:
                parts.extend([category, *category.rows])
        return parts

    def errors(self) -> dict[str, str]:
        """The first error of every field, by the posted name."""
        errors = {}
        for part in self.parts():
            errors.update(part.form.first_errors())
        return errors

    def has_changes(self) -> bool:
        return has_changes(self.table, self.removed)

    @property
    def editable(self) -> bool:
        return self.evaluation.status in Evaluation.EDITABLE_STATUSES


def read_entry(evaluation: Evaluation, data=None, last_year: Evaluation | None = None) -> Entry:
    """The page of `evaluation` (from `Evaluation.objects.with_table()`), with `data`
    (the posted form) applied in memory if given. Posted to an evaluation that is no
    longer open (a stale tab), the phase's fields keep what was typed, for the page to
    show again; nothing of it can be saved."""
    keep_typed = data is not None and evaluation.status not in Evaluation.EDITABLE_STATUSES
    structure_editable = evaluation.rows_can_be_added
    budget_lines = saved_budget_lines(evaluation)
    structure = saved_structure(evaluation)
    for obj in [evaluation, *budget_lines, *_objects(structure)]:
        remember(obj)
    removed = []
    if data is not None and structure_editable and "rows" in data:
        structure, removed = _posted_structure(structure, data)

    def form_of(form_class, obj, key: str, locked: bool = False) -> EntryForm:
        form = form_class(
            data,
            instance=obj,
            prefix=key or None,
            evaluation=evaluation,
            locked=locked,
            keep_typed=keep_typed,
        )
        if data is not None:
            form.is_valid()  # puts the typed values on `obj`, in memory
        return form

    main = Part(form_of(EvaluationEntryForm, evaluation, ""))
    lines = [
        EntryBudgetLine(
            form_of(
                BudgetLineEntryForm, line, line.anchor, line.pk is None and not structure_editable
            )
        )
        for line in budget_lines
    ]
    last_actuals = _last_year_actuals(last_year)
    groups = []
    for group, categories in structure:
        entry_group = EntryGroup(form_of(GroupEntryForm, group, group.anchor))
        for position, (category, indicators) in enumerate(categories, start=1):
            entry_category = EntryCategory(form_of(CategoryEntryForm, category, category.anchor))
            if structure_editable:
                category.position = position
            for row_position, indicator in enumerate(indicators, start=1):
                row = EntryRow(form_of(IndicatorEntryForm, indicator, indicator.anchor))
                if structure_editable:
                    indicator.position = row_position
                row.last_year_actual = last_actuals.get(
                    (group.name, category.name, indicator.name), ""
                )
                entry_category.rows.append(row)
            entry_group.categories.append(entry_category)
        groups.append(entry_group)

    table = build_table(evaluation, budget_lines=budget_lines, structure=structure)
    for line, node in zip(lines, table.budget_rows, strict=True):
        line.node = node
    for group, node in zip(groups, table.groups, strict=True):
        group.node = node
        rows = {row.anchor: row for row in node.rows}
        for row in group.rows:
            row.node = rows.get(row.key) or Row(indicator=row.obj)
    return Entry(
        evaluation=evaluation,
        main=main,
        budget_lines=lines,
        groups=groups,
        structure_editable=structure_editable,
        table=table,
        removed=removed,
        has_last_year=bool(last_actuals),
    )


def _objects(structure: Structure) -> list[models.Model]:
    objects = []
    for group, categories in structure:
        objects.append(group)
        for category, indicators in categories:
            objects += [category, *indicators]
    return objects


def _posted_structure(structure: Structure, data) -> tuple[Structure, list[models.Model]]:
    """The 二级 and 三级 rows in the order the page posted them: moved, added or removed."""
    by_key = {group.anchor: (group, []) for group, _ in structure}
    categories = {category.anchor: category for _, pairs in structure for category, _ in pairs}
    indicators = {
        indicator.anchor: indicator
        for _, pairs in structure
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
            prefix, new_key = parse_anchor(key)
            if prefix != IndicatorCategory.anchor_prefix or not NEW_KEY.match(new_key):
                raise EntryExpired()
            category = IndicatorCategory(group=by_key[group_key][0], name="")
            category.new_key = new_key
            remember(category)  # what a field typed wrong falls back to
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
            prefix, new_key = parse_anchor(key)
            if prefix != Indicator.anchor_prefix or not NEW_KEY.match(new_key):
                raise EntryExpired()
            indicator = Indicator(category=posted_categories[category_key][0], points=ZERO)
            indicator.new_key = new_key
            remember(indicator)
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
        for group, categories in saved_structure(last_year)
        for category, indicators in categories
        for indicator in indicators
        if indicator.actual_display
    }


def preview_data(entry: Entry) -> dict:
    """What the page's live figures show, as JSON: decimals as the form prints them."""
    return {
        "errors": entry.errors(),
        "budget": {line.key: two_places(line.rate) for line in entry.budget_lines},
        "budget_total": _budget_total_data(entry.budget_total),
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
                "far_above": row.node.far_above_target,
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


def _budget_total_data(total) -> dict | None:
    if total is None:
        return None
    return {
        **{
            name: amount(getattr(total, name))
            for name in ("initial_budget_amount", "budget_amount", "executed_amount")
        },
        "rate": two_places(total.execution_rate),
        "score": "—" if total.score is None else two_places(total.score),
    }


def save_entry(entry: Entry, *, by, expected_version: int) -> Evaluation:
    """Writes what the page changed, all or nothing, if nobody saved since
    `expected_version`; a save without changes writes nothing."""
    if not entry.has_changes():
        return entry.evaluation
    with workflow.changing(entry.evaluation, by=by, expected_version=expected_version) as locked:
        save_tree(entry.table, entry.removed, add_rows=entry.structure_editable)
    return locked


def keep_valid_fields(entry: Entry) -> dict[str, str]:
    """Puts the stored value back on every field the page got wrong, so that a save
    writes the valid fields only; the bound forms still show what was typed. Returns,
    for each new row, its posted key: `renamed_keys` maps it to its key once saved."""
    for part in entry.parts():
        obj = part.obj
        stored = obj._stored_values
        for name in part.form.errors:
            try:
                model_field = obj._meta.get_field(name)
            except FieldDoesNotExist:
                continue  # 年度指标值/全年完成值: set on the row only when valid
            attname = model_field.attname
            setattr(obj, attname, stored[attname])
    return {id(part.obj): part.key for part in entry.parts() if part.obj.pk is None}


def renamed_keys(data, entry: Entry, posted_keys: dict[int, str]):
    """The posted form with the keys of the rows saved just now ("indicator-new1")
    replaced by their saved keys, as if the page had been drawn after the save."""
    renames = {
        posted_keys[id(part.obj)]: part.key
        for part in entry.parts()
        if id(part.obj) in posted_keys and part.obj.pk is not None
    }
    renamed = data.copy()
    for old, new in renames.items():
        for name in list(renamed):
            if name.startswith(old + "-"):
                renamed.setlist(new + name[len(old) :], renamed.getlist(name))
                del renamed[name]
    for name in list(renamed):
        if name in ("rows", "categories") or name.endswith(("-category", "-group")):
            renamed.setlist(name, [renames.get(value, value) for value in renamed.getlist(name)])
    return renamed


@dataclass
class Input:
    """One input as the page draws it (`templatetags/entry.py`)."""

    name: str
    label: str
    value: str
    editable: bool
    error: str = ""


def input_of(part: Part, name: str) -> Input | None:
    if name not in part.form.fields:
        return None
    bound = part.form[name]
    value = bound.value()
    if isinstance(value, django_forms.Field):
        value = ""
    return Input(
        name=bound.html_name,
        label=str(bound.label),
        value="" if value is None else str(value),
        editable=not bound.field.disabled,
        error=bound.errors[0] if bound.errors else "",
    )
