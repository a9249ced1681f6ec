"""The form as one tree, in memory: built once from an evaluation's saved rows or
from rows not saved yet (a posted entry form, a parsed workbook), and read by
everything that needs the form's figures.

Rows come grouped the way the form merges its cells: a `GroupBlock` per 一级 (its
name and 权重 span all its rows), inside it a `CategoryBlock` per 二级 (its name spans
its rows), inside that the scored `Row`s. Every block knows its rowspan, so a
drawing never counts rows itself. Group sums, totals, the grade, the suggested
scores and the consistency faults are computed here and nowhere else; the page,
the PDF and the workbook draw the tree, the entry page and the import preview read
its figures, and `Table.state()` is what both fingerprints hash.

Each node keeps the model object it was built from (`line`, `group`, `category`,
`indicator`), saved or not, so `save_tree` can write what changed.
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models
from django.utils.safestring import SafeString, mark_safe

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup
from indicators.scoring import Suggestion, grade, suggest_score
from indicators.values import IndicatorValue

from .consistency import BUDGET_ANCHOR, TOTAL_ANCHOR, TOTAL_WEIGHT, Fault, find_faults
from .kinds import Layout
from .models import BudgetLine, Evaluation, clean_rich_text, execution_score, truncate_percent
from .numbers import ZERO

# The hierarchy as plain pairs: each 一级 with its 二级, each 二级 with its scored rows.
Structure = list[tuple[IndicatorGroup, list[tuple[IndicatorCategory, list[Indicator]]]]]


@dataclass
class BudgetRow:
    line: BudgetLine
    label: str
    faults: list[str] = field(default_factory=list)
    # The reviewer's notes of the last return and the fields changed since; filled
    # by the table page only.
    comments: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.line.kind

    @property
    def anchor(self) -> str:
        return self.line.anchor

    @property
    def initial_budget_amount(self) -> Decimal:
        return self.line.initial_budget_amount

    @property
    def budget_amount(self) -> Decimal:
        return self.line.budget_amount

    @property
    def executed_amount(self) -> Decimal:
        return self.line.executed_amount

    @property
    def execution_rate(self) -> Decimal:
        return self.line.execution_rate


@dataclass
class BudgetTotal:
    """The project form's 年度资金总额: the sum of its lines, column by column, with
    分值 and the 得分 its 执行率 earns (None before the results phase)."""

    initial_budget_amount: Decimal
    budget_amount: Decimal
    executed_amount: Decimal
    points: Decimal
    score: Decimal | None
    label: str
    anchor: str = BUDGET_ANCHOR

    @property
    def execution_rate(self) -> Decimal:
        return truncate_percent(self.executed_amount, self.budget_amount)


def budget_total(layout: Layout, evaluation: Evaluation, rows: list[BudgetRow]):
    if not layout.scores_budget:
        return None
    sums = {
        name: sum((getattr(row.line, name) for row in rows), Decimal("0.00"))
        for name in ("initial_budget_amount", "budget_amount", "executed_amount")
    }
    points = evaluation.budget_points if evaluation.budget_points is not None else ZERO
    total = BudgetTotal(**sums, points=points, score=None, label=layout.budget_total_label)
    if evaluation.phase == Evaluation.Phase.RESULTS:
        total.score = execution_score(points, total.execution_rate)
    return total


@dataclass
class Row:
    indicator: Indicator
    # None for a 二级 scored by the city's scheme (投入管理): no suggestion there.
    suggestion: Suggestion | None = None
    faults: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return self.indicator.anchor

    @property
    def indicator_id(self) -> int | None:
        return self.indicator.pk

    @property
    def name(self) -> str:
        return self.indicator.name

    @property
    def label(self) -> str:
        return self.indicator.label

    @property
    def target_value(self) -> IndicatorValue:
        return self.indicator.target

    @property
    def actual_value(self) -> IndicatorValue:
        return self.indicator.actual

    @property
    def target(self) -> str:
        return self.indicator.target_display

    @property
    def actual(self) -> str:
        return self.indicator.actual_display

    @property
    def points(self) -> Decimal:
        return self.indicator.points

    @property
    def score(self) -> Decimal | None:
        return self.indicator.score

    @property
    def deviation_reason(self) -> str:
        return self.indicator.deviation_reason

    @property
    def review_score(self) -> Decimal | None:
        return self.indicator.review_score

    @property
    def review_opinion(self) -> str:
        return self.indicator.review_opinion

    @property
    def reason_required(self) -> bool:
        """得分 below 分值 must be explained in 偏差及原因分析."""
        return self.score is not None and self.score < self.points

    @property
    def reason_missing(self) -> bool:
        return self.reason_required and not self.deviation_reason.strip()

    @property
    def far_above_target(self) -> bool:
        return bool(self.suggestion and self.suggestion.far_above_target)


@dataclass
class CategoryBlock:
    category: IndicatorCategory
    rows: list[Row]

    @property
    def name(self) -> str:
        return self.category.name

    @property
    def anchor(self) -> str:
        return self.category.anchor

    @property
    def rowspan(self) -> int:
        return len(self.rows)


@dataclass
class GroupBlock:
    group: IndicatorGroup
    # The 二级 that have rows, as drawn; `every_category` also holds the empty ones
    # (a 二级 just added on the entry page).
    categories: list[CategoryBlock]
    every_category: list[CategoryBlock]
    faults: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return self.group.anchor

    @property
    def name(self) -> str:
        return self.group.name

    @property
    def weight(self) -> Decimal:
        return self.group.weight

    @property
    def note(self) -> str:
        """Drawn as one merged cell over the 三级 column (the 投入管理 case), or ""."""
        return self.group.note

    @property
    def rowspan(self) -> int:
        return sum(category.rowspan for category in self.categories)

    @property
    def points(self) -> Decimal:
        return sum((row.points for row in self.rows), ZERO)

    @property
    def score(self) -> Decimal:
        return sum((row.score or ZERO for row in self.rows), ZERO)

    @property
    def rows(self) -> list[Row]:
        return [row for category in self.categories for row in category.rows]


@dataclass
class Table:
    evaluation: Evaluation
    title: str
    budget_rows: list[BudgetRow]
    groups: list[GroupBlock]
    faults: list[Fault] = field(default_factory=list)
    # The project form's 年度资金总额 (`BudgetTotal`); None on the overall form.
    budget_total: BudgetTotal | None = None

    @property
    def layout(self) -> Layout:
        return self.evaluation.layout

    @property
    def year(self) -> int:
        return self.evaluation.year

    @property
    def project_name(self) -> str:
        project = self.evaluation.project
        return project.name if project else ""

    @property
    def project_code(self) -> str:
        project = self.evaluation.project
        return project.code if project else ""

    @property
    def document_title(self) -> str:
        """A file's title: the unit's or the project's name, the year, the form."""
        return f"{self.evaluation.subject} {self.year}年度 {self.title}"

    @property
    def supervisor_name(self) -> str:
        """主管部门: the unit's parent (blank for a unit without one)."""
        parent = self.evaluation.unit.parent
        return parent.name if parent else ""

    @property
    def unit_name(self) -> str:
        return self.evaluation.unit.name

    @property
    def unit_code(self) -> str:
        return self.evaluation.unit.code

    @property
    def subordinate_unit_count(self) -> int | None:
        return self.evaluation.subordinate_unit_count

    @property
    def status(self) -> str:
        return self.evaluation.get_status_display()

    @property
    def phase(self) -> str:
        return self.evaluation.get_phase_display()

    @property
    def target_text(self) -> SafeString:
        # Cleaned when saved; cleaning again costs microseconds and also covers rows
        # written around `save()` (bulk updates, raw imports) and unsaved text.
        return mark_safe(clean_rich_text(self.evaluation.target_text))

    @property
    def result_text(self) -> SafeString:
        return mark_safe(clean_rich_text(self.evaluation.result_text))

    @property
    def indicator_share(self) -> Decimal:
        """What the indicators' 分值 add up to: 100, less the project form's budget
        points (90 by default)."""
        if self.budget_total is None:
            return TOTAL_WEIGHT
        return TOTAL_WEIGHT - self.budget_total.points

    @property
    def indicator_points(self) -> Decimal:
        return sum((group.points for group in self.groups), ZERO)

    @property
    def indicator_score(self) -> Decimal:
        return sum((group.score for group in self.groups), ZERO)

    @property
    def total_points(self) -> Decimal:
        budget = self.budget_total.points if self.budget_total else ZERO
        return self.indicator_points + budget

    @property
    def has_scores(self) -> bool:
        """Whether any row carries a 得分 yet. 得分 is filled in the results phase
        (the layout's `phase_fields`), so a form of targets only has none: its 总得分
        and 评价等级 are blank ("—"), not 0 and 差. A form whose rows carry scores
        written otherwise (a history imported with its printed scores) shows them,
        as the overview does."""
        return any(row.score is not None for row in self.rows)

    @property
    def total_score(self) -> Decimal:
        """Σ 得分, and on the project form the 年度资金总额's 得分 with them."""
        budget = self.budget_total.score if self.budget_total else None
        return self.indicator_score + (budget or ZERO)

    @property
    def grade(self) -> str:
        """优/良/中/差, or "" while no row has a score."""
        return grade(self.total_score) if self.has_scores else ""

    @property
    def has_review_scores(self) -> bool:
        """Whether the district's 再复核 scored any row."""
        return any(row.review_score is not None for row in self.rows)

    @property
    def review_total(self) -> Decimal | None:
        """复核总分: the district's score where it re-checked a row, the unit's elsewhere
        (再复核 is a sample), with the project form's execution score; None before any."""
        if not self.has_review_scores:
            return None
        rows = sum(
            (
                row.review_score if row.review_score is not None else (row.score or ZERO)
                for row in self.rows
            ),
            ZERO,
        )
        budget = self.budget_total.score if self.budget_total else None
        return rows + (budget or ZERO)

    @property
    def review_grade(self) -> str:
        return grade(self.review_total) if self.has_review_scores else ""

    @property
    def review_difference(self) -> Decimal | None:
        """复核总分 − 自评总分."""
        if not self.has_review_scores:
            return None
        return self.review_total - self.total_score

    @property
    def row_count(self) -> int:
        return sum(group.rowspan for group in self.groups)

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    @property
    def budget_faults(self) -> list[str]:
        """The faults of the whole block, then those of its lines, in the lines' order."""
        block = [fault.message for fault in self.faults if fault.anchor == BUDGET_ANCHOR]
        return block + [message for row in self.budget_rows for message in row.faults]

    @property
    def total_faults(self) -> list[str]:
        return [fault.message for fault in self.faults if fault.anchor == TOTAL_ANCHOR]

    def objects(self) -> list[models.Model]:
        """Every model object of the tree, in the form's order: what `save_tree` writes."""
        objects: list[models.Model] = [self.evaluation]
        objects += [row.line for row in self.budget_rows]
        for group in self.groups:
            objects.append(group.group)
            for category in group.every_category:
                objects.append(category.category)
                objects += [row.indicator for row in category.rows]
        return objects

    def fingerprint(self, *salt: str) -> str:
        """A hash of `state()` (and of `salt`, e.g. the drawing's version)."""
        payload = json.dumps([*salt, self.state()], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def state(self) -> dict:
        """Everything the form shows, as plain data: what a fingerprint hashes."""
        evaluation = self.evaluation
        return {
            "kind": evaluation.kind,
            "unit": [evaluation.unit.code, evaluation.unit.name, self.supervisor_name],
            "project": [self.project_code, self.project_name],
            "budget_points": None
            if evaluation.budget_points is None
            else str(evaluation.budget_points),
            "year": evaluation.year,
            "phase": evaluation.phase,
            "status": evaluation.status,
            "subordinate_unit_count": evaluation.subordinate_unit_count,
            "texts": [evaluation.target_text, evaluation.result_text],
            "budget": [
                [
                    row.anchor,
                    str(row.initial_budget_amount),
                    str(row.budget_amount),
                    str(row.executed_amount),
                ]
                for row in self.budget_rows
            ],
            "groups": [
                [
                    group.anchor,
                    group.name,
                    str(group.weight),
                    group.note,
                    [
                        [category.anchor, category.name, [_row_state(row) for row in category.rows]]
                        for category in group.every_category
                    ],
                ]
                for group in self.groups
            ],
        }


def _row_state(row: Row) -> list:
    return [
        row.anchor,
        row.name,
        row.target,
        row.actual,
        str(row.points),
        None if row.score is None else str(row.score),
        row.deviation_reason,
        None if row.review_score is None else str(row.review_score),
        row.review_opinion,
    ]


def saved_structure(evaluation: Evaluation) -> Structure:
    """The stored hierarchy, from what `Evaluation.objects.with_table()` prefetched."""
    return [
        (
            group,
            [(category, list(category.indicators.all())) for category in group.categories.all()],
        )
        for group in evaluation.indicator_groups.all()
    ]


def saved_budget_lines(evaluation: Evaluation) -> list[BudgetLine]:
    """The lines of the form's budget block in its order (a missing one as zeros)."""
    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    return [
        lines.get(kind) or BudgetLine(evaluation=evaluation, kind=kind)
        for kind in evaluation.layout.budget_kinds
    ]


def build_table(
    evaluation: Evaluation,
    *,
    budget_lines: list[BudgetLine] | None = None,
    structure: Structure | None = None,
) -> Table:
    """The tree of `evaluation`: from its saved rows (expects an evaluation from
    `Evaluation.objects.with_table()`, and then runs no query) or from the given rows,
    saved or not."""
    if budget_lines is None:
        budget_lines = saved_budget_lines(evaluation)
    if structure is None:
        structure = saved_structure(evaluation)
    groups = []
    for group, categories in structure:
        blocks = []
        for category, indicators in categories:
            rows = [
                Row(
                    indicator=indicator,
                    suggestion=None
                    if group.note
                    else suggest_score(indicator.target, indicator.actual, indicator.points),
                )
                for indicator in indicators
            ]
            blocks.append(CategoryBlock(category=category, rows=rows))
        groups.append(
            GroupBlock(
                group=group,
                categories=[block for block in blocks if block.rows],
                every_category=blocks,
            )
        )
    layout = evaluation.layout
    budget_rows = [
        BudgetRow(line=line, label=layout.budget_label(line.kind)) for line in budget_lines
    ]
    table = Table(
        evaluation=evaluation,
        title=layout.title,
        budget_rows=budget_rows,
        groups=groups,
        budget_total=budget_total(layout, evaluation, budget_rows),
    )
    table.faults = find_faults(table)
    messages_at: dict[str, list[str]] = {}
    for fault in table.faults:
        messages_at.setdefault(fault.anchor, []).append(fault.message)
    for row in table.budget_rows:
        row.faults = messages_at.get(row.anchor, [])
    for group in table.groups:
        group.faults = messages_at.get(group.anchor, [])
        for row in group.rows:
            row.faults = messages_at.get(row.anchor, [])
    return table


# ---------------------------------------------------------------- writing a tree back


def remember(obj: models.Model) -> models.Model:
    """Notes `obj`'s stored values before anything changes it in memory, so that a
    save writes only the fields that changed."""
    obj._stored_values = {
        field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields
    }
    return obj


def changed_fields(obj: models.Model) -> list[str]:
    stored = getattr(obj, "_stored_values", None)
    if stored is None:
        return [field.name for field in obj._meta.concrete_fields if not field.primary_key]
    return [
        field.name
        for field in obj._meta.concrete_fields
        if field.attname in stored and getattr(obj, field.attname) != stored[field.attname]
    ]


def has_changes(table: Table, removed: list[models.Model]) -> bool:
    return bool(removed) or any(obj.pk is None or changed_fields(obj) for obj in table.objects())


def save_tree(table: Table, removed: list[models.Model], *, add_rows: bool) -> None:
    """Writes the tree's new and changed objects and deletes `removed`, each through
    `save()`/`delete()` so the phase rules and the field history see every row. Call it
    inside `workflow.changing`. Only changed fields are written, so the history
    records real changes only. New rows are written only when `add_rows` (the
    targets phase): a missing budget line stays missing in 年末自评 rather than
    refusing every save."""
    # Rows first, then their 二级 (which would take its rows with it).
    for obj in removed:
        obj.delete()
    for obj in table.objects():
        if isinstance(obj, IndicatorCategory):
            obj.group = obj.group  # sets group_id from the (just saved) group
        elif isinstance(obj, Indicator):
            obj.category = obj.category
        if obj.pk is None:
            if add_rows:
                obj.save()
                remember(obj)
        elif fields := changed_fields(obj):
            if isinstance(obj, Evaluation):
                fields.append("updated_at")
            obj.save(update_fields=fields)
            remember(obj)
