"""The official table as a structure: built once from an evaluation, drawn by the
HTML page, the PDF and the Excel workbook alike.

Rows come grouped the way the form merges its cells: a `GroupBlock` per 一级 (its
name and 权重 span all its rows), inside it a `CategoryBlock` per 二级 (its name spans
its rows), inside that the scored `Row`s. Every block knows its rowspan, so a
drawing never counts rows itself.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.safestring import SafeString, mark_safe

from indicators.scoring import grade

from .consistency import BUDGET_ANCHOR, TOTAL_ANCHOR, Fault, find_faults
from .models import BudgetLine, Evaluation, clean_rich_text

TITLE = "部门（单位）整体支出绩效自评表"
SOURCE_LABELS = {
    BudgetLine.Kind.FISCAL: "资金来源：（1）财政拨款",
    BudgetLine.Kind.OTHER: "（2）其他资金",
    BudgetLine.Kind.BASIC: "资金结构：（1）基本支出",
    BudgetLine.Kind.PROJECT: "（2）项目支出",
}
ZERO = Decimal("0.00")


@dataclass
class BudgetRow:
    kind: str
    label: str
    budget_amount: Decimal
    executed_amount: Decimal
    execution_rate: Decimal
    anchor: str
    faults: list[str] = field(default_factory=list)
    # The reviewer's notes of the last return and the fields changed since; filled
    # by the table page only.
    comments: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


@dataclass
class Row:
    anchor: str
    name: str
    target: str
    actual: str
    points: Decimal
    score: Decimal | None
    deviation_reason: str
    faults: list[str] = field(default_factory=list)
    # 再复核, drawn on the table page only (not part of the official form).
    review_score: Decimal | None = None
    review_opinion: str = ""
    indicator_id: int | None = None
    comments: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


@dataclass
class CategoryBlock:
    name: str
    rows: list[Row]

    @property
    def rowspan(self) -> int:
        return len(self.rows)


@dataclass
class GroupBlock:
    anchor: str
    name: str
    weight: Decimal
    # Drawn as one merged cell over the 三级 column (the 投入管理 case), or "".
    note: str
    categories: list[CategoryBlock]
    faults: list[str] = field(default_factory=list)

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
    title: str
    year: int
    unit_name: str
    unit_code: str
    subordinate_unit_count: int
    status: str
    phase: str
    budget_rows: list[BudgetRow]
    target_text: SafeString
    result_text: SafeString
    groups: list[GroupBlock]
    faults: list[Fault] = field(default_factory=list)

    @property
    def total_points(self) -> Decimal:
        return sum((group.points for group in self.groups), ZERO)

    @property
    def total_score(self) -> Decimal:
        return sum((group.score for group in self.groups), ZERO)

    @property
    def grade(self) -> str:
        return grade(self.total_score)

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


def build_table(evaluation: Evaluation) -> Table:
    """Expects an evaluation from `Evaluation.objects.with_table()`: no query of its own."""
    faults = find_faults(evaluation)
    messages_at = defaultdict(list)
    for fault in faults:
        messages_at[fault.anchor].append(fault.message)
    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    budget_rows = []
    for kind in BudgetLine.ORDER:
        line = lines.get(kind) or BudgetLine(kind=kind)
        budget_rows.append(
            BudgetRow(
                kind=kind,
                label=SOURCE_LABELS[kind],
                budget_amount=line.budget_amount,
                executed_amount=line.executed_amount,
                execution_rate=line.execution_rate,
                anchor=line.anchor,
                faults=messages_at[line.anchor],
            )
        )
    groups = []
    for group in evaluation.indicator_groups.all():
        categories = []
        for category in group.categories.all():
            rows = [
                Row(
                    anchor=indicator.anchor,
                    name=indicator.name,
                    target=indicator.target_display,
                    actual=indicator.actual_display,
                    points=indicator.points,
                    score=indicator.score,
                    deviation_reason=indicator.deviation_reason,
                    faults=messages_at[indicator.anchor],
                    review_score=indicator.review_score,
                    review_opinion=indicator.review_opinion,
                    indicator_id=indicator.pk,
                )
                for indicator in category.indicators.all()
            ]
            if rows:
                categories.append(CategoryBlock(name=category.name, rows=rows))
        groups.append(
            GroupBlock(
                anchor=group.anchor,
                name=group.name,
                weight=group.weight,
                note=group.note,
                categories=categories,
                faults=messages_at[group.anchor],
            )
        )
    # The texts were cleaned when saved; cleaning again costs microseconds and also
    # covers rows written around `save()` (bulk updates, raw imports).
    return Table(
        title=TITLE,
        year=evaluation.year,
        unit_name=evaluation.unit.name,
        unit_code=evaluation.unit.code,
        subordinate_unit_count=evaluation.subordinate_unit_count,
        status=evaluation.get_status_display(),
        phase=evaluation.get_phase_display(),
        budget_rows=budget_rows,
        target_text=mark_safe(clean_rich_text(evaluation.target_text)),
        result_text=mark_safe(clean_rich_text(evaluation.result_text)),
        groups=groups,
        faults=faults,
    )
