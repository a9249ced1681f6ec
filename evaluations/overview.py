"""The year at a glance: every unit in the user's scope with where its evaluation
stands, its 执行率, 总得分 and grade, in one query whatever the number of units.

The query runs over units, not evaluations, so that a unit that has not started
shows too. The year's evaluation is joined once (a `FilteredRelation`); budget totals
and the score are correlated `Sum` subqueries; stage and grade are SQL `CASE`s, so
filtering and sorting happen in the database as well.
"""

import io
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone
from openpyxl.styles import Alignment, Font

from indicators.models import Indicator
from indicators.scoring import GRADE_BANDS

from .access import units_for_user
from .kinds import OVERALL, FormKind
from .models import (
    BudgetLine,
    Evaluation,
    Unit,
    truncate_percent,
)
from .numbers import AMOUNT_FORMAT, TWO_PLACES_FORMAT
from .xlsx import set_text, set_value

NOT_STARTED = "not_started"
Phase, Status = Evaluation.Phase, Evaluation.Status

# Where a unit's evaluation stands, in the order of the year: (key, label).
STAGES = [(NOT_STARTED, "未开始")] + [
    (f"{phase}-{status}", f"{phase.label}·{status.label}")
    for phase in Phase
    for status in Status
    if not (phase == Phase.TARGETS and status == Status.APPROVED)
]
STAGE_LABELS = dict(STAGES)


# ?sort= value → ordering; "-" in front reverses it. Empty values sort last either way.
SORTS = {
    "code": ("代码", "code"),
    "name": ("部门（单位）名称", "name"),
    "parent": ("主管部门", "parent__code"),
    "stage": ("状态", "stage_order"),
    "rate": ("执行率", "rate"),
    "score": ("总得分", "total_score"),
    "updated": ("最后修改", "updated_at"),
}
DEFAULT_SORT = "code"

SCORE_BINS = [
    ("60分以下", None, Decimal("60")),
    ("60–70分", Decimal("60"), Decimal("70")),
    ("70–80分", Decimal("70"), Decimal("80")),
    ("80–90分", Decimal("80"), Decimal("90")),
    ("90–100分", Decimal("90"), None),
]
RATE_BINS = [
    ("50%以下", None, Decimal("50")),
    ("50%–70%", Decimal("50"), Decimal("70")),
    ("70%–80%", Decimal("70"), Decimal("80")),
    ("80%–90%", Decimal("80"), Decimal("90")),
    ("90%–95%", Decimal("90"), Decimal("95")),
    ("95%–100%", Decimal("95"), Decimal("100")),
    ("100%", Decimal("100"), None),
]
MONEY = DecimalField(max_digits=16, decimal_places=2)


def with_year(units: QuerySet[Unit], year: int) -> QuerySet[Unit]:
    """Units annotated with their evaluation of `year` and its figures."""
    # The overall form's figures: a unit's project forms are listed on their own.
    own_year = {
        "evaluation__unit": OuterRef("pk"),
        "evaluation__year": year,
        "evaluation__kind": FormKind.OVERALL,
    }
    sources = BudgetLine.objects.filter(**own_year, kind__in=OVERALL.balances[0].left).order_by()

    def budget_total(field: str) -> Subquery:
        totals = sources.values("evaluation").annotate(total=Sum(field)).values("total")
        return Subquery(totals[:1], output_field=MONEY)

    scores = (
        Indicator.objects.filter(
            category__group__evaluation__unit=OuterRef("pk"),
            category__group__evaluation__year=year,
            category__group__evaluation__kind=FormKind.OVERALL,
        )
        .order_by()
        .values("category__group__evaluation")
        .annotate(total=Sum("score"))
        .values("total")
    )
    # 再复核: Σ (复核得分 − 得分) over the rows the district re-checked, None before any.
    review_differences = (
        Indicator.objects.filter(
            category__group__evaluation__unit=OuterRef("pk"),
            category__group__evaluation__year=year,
            category__group__evaluation__kind=FormKind.OVERALL,
            review_score__isnull=False,
        )
        .order_by()
        .values("category__group__evaluation")
        .annotate(delta=Sum(F("review_score") - Coalesce("score", Value(Decimal("0")))))
        .values("delta")
    )
    stage_order = Case(
        *[When(stage=key, then=Value(position)) for position, (key, _) in enumerate(STAGES)],
        output_field=IntegerField(),
    )
    return (
        units.select_related("parent")
        .annotate(
            this_year=FilteredRelation(
                "evaluations",
                condition=Q(evaluations__year=year, evaluations__kind=FormKind.OVERALL),
            )
        )
        .annotate(
            evaluation_pk=F("this_year__pk"),
            phase=F("this_year__phase"),
            status=F("this_year__status"),
            updated_at=F("this_year__updated_at"),
            stage=Case(
                When(this_year__pk__isnull=True, then=Value(NOT_STARTED)),
                default=Concat("this_year__phase", Value("-"), "this_year__status"),
                output_field=CharField(),
            ),
            budget_total=budget_total("budget_amount"),
            executed_total=budget_total("executed_amount"),
            total_score=Subquery(scores[:1], output_field=MONEY),
            review_difference=Subquery(review_differences[:1], output_field=MONEY),
        )
        .annotate(
            stage_order=stage_order,
            rate=Case(
                When(budget_total__gt=0, then=F("executed_total") * 100 / F("budget_total")),
                default=None,
                output_field=MONEY,
            ),
            grade=Case(
                *[
                    When(total_score__gte=lowest, then=Value(name))
                    for name, lowest in GRADE_BANDS[:-1]
                ],
                When(total_score__isnull=False, then=Value(GRADE_BANDS[-1][0])),
                default=Value(""),
                output_field=CharField(),
            ),
        )
    )


def overview_rows(
    user,
    year: int,
    *,
    stage: str = "",
    parent: Unit | None = None,
    grade: str = "",
    sort: str = "",
) -> QuerySet[Unit]:
    """The overview's rows, filtered and sorted. `parent` selects a 主管部门 and its units."""
    rows = with_year(units_for_user(user), year)
    if parent is not None:
        rows = rows.filter(Q(parent=parent) | Q(pk=parent.pk))
    if grade:
        rows = rows.filter(grade=grade)
    if stage:
        rows = rows.filter(stage=stage)
    return rows.order_by(*ordering(sort))


def ordering(sort: str) -> list:
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORTS:
        key, descending = DEFAULT_SORT, False
    field = F(SORTS[key][1])
    first = field.desc(nulls_last=True) if descending else field.asc(nulls_last=True)
    return [first, "code"]


def stage_counts(rows: QuerySet[Unit]) -> list[tuple[str, str, int]]:
    """(key, label, count) of every stage among `rows`, zeros included: one query."""
    counts = dict(rows.order_by().values_list("stage").annotate(count=Count("pk", distinct=True)))
    return [(key, label, counts.get(key, 0)) for key, label in STAGES]


def year_choices() -> list[int]:
    return list(Evaluation.objects.order_by("-year").values_list("year", flat=True).distinct()) or [
        timezone.localdate().year - 1
    ]


def parent_choices(user) -> QuerySet[Unit]:
    """The 主管部门 with units in the user's scope."""
    return Unit.objects.filter(
        pk__in=units_for_user(user).filter(parent__isnull=False).values("parent")
    ).order_by("code")


@dataclass
class OverviewRow:
    code: str
    name: str
    parent_name: str
    evaluation_pk: int | None
    targets: str
    results: str
    stage: str
    budget_total: Decimal | None
    executed_total: Decimal | None
    execution_rate: Decimal | None
    total_score: Decimal | None
    grade: str
    updated_at: object
    # 再复核: 复核总分 and its difference from 总得分, None before any re-checked row.
    review_total: Decimal | None = None
    review_difference: Decimal | None = None


def phase_labels(phase: str | None, status: str | None) -> tuple[str, str]:
    """What the 年初目标 and 年末自评 columns say: the targets were approved once the
    results phase is open."""
    if phase is None:
        return "未开始", "未开始"
    status_label = Status(status).label
    if phase == Phase.TARGETS:
        return status_label, "未开始"
    return Status.APPROVED.label, status_label


def describe(unit: Unit) -> OverviewRow:
    """An annotated unit of `with_year` as the overview shows it (no query)."""
    targets, results = phase_labels(unit.phase, unit.status)
    started = unit.evaluation_pk is not None
    rate = None
    if started:
        rate = truncate_percent(
            unit.executed_total or Decimal("0.00"), unit.budget_total or Decimal("0.00")
        )
    return OverviewRow(
        code=unit.code,
        name=unit.name,
        parent_name=unit.parent.name if unit.parent else "",
        evaluation_pk=unit.evaluation_pk,
        targets=targets,
        results=results,
        stage=STAGE_LABELS.get(unit.stage, unit.stage),
        budget_total=unit.budget_total,
        executed_total=unit.executed_total,
        execution_rate=rate,
        total_score=unit.total_score,
        grade=unit.grade,
        updated_at=unit.updated_at,
        review_total=None
        if unit.review_difference is None
        else (unit.total_score or Decimal("0")) + unit.review_difference,
        review_difference=unit.review_difference,
    )


@dataclass
class Bar:
    label: str
    count: int
    percent: int  # of the longest bar, for drawing


def distribution(values: list[Decimal], bins) -> list[Bar]:
    counts = [0] * len(bins)
    for value in values:
        for index, (_, low, high) in enumerate(bins):
            if (low is None or value >= low) and (high is None or value < high):
                counts[index] += 1
                break
    longest = max(counts) or 1
    return [
        Bar(label, count, count * 100 // longest)
        for (label, _, _), count in zip(bins, counts, strict=True)
    ]


def charts(rows: list[OverviewRow]) -> dict[str, list[Bar]]:
    return {
        "scores": distribution(
            [row.total_score for row in rows if row.total_score is not None], SCORE_BINS
        ),
        "rates": distribution(
            [row.execution_rate for row in rows if row.execution_rate is not None], RATE_BINS
        ),
    }


XLSX_COLUMNS = [
    ("单位编码", 18),
    ("部门（单位）名称", 40),
    ("主管部门", 24),
    ("年初目标", 10),
    ("年末自评", 10),
    ("全年预算数（元）", 18),
    ("全年执行数（元）", 18),
    ("执行率（%）", 12),
    ("总得分", 10),
    ("等级", 8),
    ("最后修改", 18),
]


def overview_xlsx(rows: QuerySet[Unit], year: int) -> bytes:
    """The overview as a workbook: numbers stay numbers, text never becomes a formula."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = f"{year}年度总览"
    bold = Font(bold=True)
    for column, (header, width) in enumerate(XLSX_COLUMNS, start=1):
        cell = sheet.cell(row=1, column=column)
        set_text(cell, header)
        cell.font = bold
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[cell.column_letter].width = width
    for row_number, unit in enumerate(rows, start=2):
        row = describe(unit)
        updated = (
            timezone.localtime(row.updated_at).replace(tzinfo=None) if row.updated_at else None
        )
        values = [
            row.code,
            row.name,
            row.parent_name,
            row.targets,
            row.results,
            row.budget_total,
            row.executed_total,
            row.execution_rate,
            row.total_score,
            row.grade,
            updated,
        ]
        for column, value in enumerate(values, start=1):
            if value is None or value == "":
                continue
            cell = sheet.cell(row=row_number, column=column)
            set_value(cell, value)
            if isinstance(value, Decimal):
                cell.number_format = AMOUNT_FORMAT if column in (6, 7) else TWO_PLACES_FORMAT
            elif column == 11:
                cell.number_format = "yyyy-mm-dd hh:mm"
    sheet.freeze_panes = "C2"
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
