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
    Exists,
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
from indicators.scoring import grade as grade_for

from .access import units_for_user
from .kinds import OVERALL, FormKind
from .models import (
    Attachment,
    BudgetLine,
    Evaluation,
    Unit,
    truncate_percent,
)
from .numbers import AMOUNT_FORMAT, TWO_PLACES_FORMAT
from .table import execution_score
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
STAGE_ORDER = {key: position for position, (key, _) in enumerate(STAGES)}


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
            has_sealed=Exists(
                Attachment.objects.filter(
                    evaluation=OuterRef("evaluation_pk"),
                    category=Attachment.Category.SEALED,
                    removed_at__isnull=True,
                )
            ),
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
    # The approved form's sealed PDF: None before approval, else whether it is there.
    sealed: bool | None = None
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
        sealed=unit.has_sealed
        if (unit.phase, unit.status) == (Phase.RESULTS, Status.APPROVED)
        else None,
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

    def values(unit) -> list:
        row = describe(unit)
        return [
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
            row.updated_at,
        ]

    return write_sheet(f"{year}年度总览", XLSX_COLUMNS, map(values, rows), amounts=(6, 7))


def write_sheet(title: str, columns: list, rows, *, amounts: tuple[int, ...]) -> bytes:
    """A list as a workbook: the heads, then a row per list of values (the columns in
    `amounts` as money, other decimals to two places, the last column a time)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    bold = Font(bold=True)
    for column, (header, width) in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=column)
        set_text(cell, header)
        cell.font = bold
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[cell.column_letter].width = width
    for row_number, values in enumerate(rows, start=2):
        *values, updated = values
        if updated:
            values.append(timezone.localtime(updated).replace(tzinfo=None))
        for column, value in enumerate(values, start=1):
            if value is None or value == "":
                continue
            cell = sheet.cell(row=row_number, column=column)
            set_value(cell, value)
            if isinstance(value, Decimal):
                cell.number_format = AMOUNT_FORMAT if column in amounts else TWO_PLACES_FORMAT
            elif column == len(columns):
                cell.number_format = "yyyy-mm-dd hh:mm"
    sheet.freeze_panes = "C2"
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


# ---------------------------------------------------------------- the project forms
#
# One row per 项目支出绩效自评表 of the year (a project without a form of the year has
# no row: its unit starts it with the year). Figures come in the one query of the
# rows; the execution score is the table's rule (`table.execution_score`), applied to
# the truncated rate of each row, so grade and 总分 filter and sort in Python.

PROJECT_SORTS = {
    "code": ("项目编码", lambda row: row.project_code),
    "name": ("项目名称", lambda row: row.project_name),
    "unit": ("实施单位", lambda row: (row.unit_code, row.project_code)),
    "parent": ("主管部门", lambda row: row.parent_code),
    "stage": ("状态", lambda row: row.stage_order),
    "rate": ("执行率", lambda row: row.execution_rate),
    "score": ("总分", lambda row: row.total_score),
    "updated": ("最后修改", lambda row: row.updated_at),
}


@dataclass
class ProjectOverviewRow:
    project_code: str
    project_name: str
    unit_code: str
    unit_name: str
    parent_code: str
    parent_name: str
    evaluation_pk: int
    targets: str
    results: str
    stage: str
    stage_order: int
    budget_total: Decimal
    executed_total: Decimal
    execution_rate: Decimal
    execution_score: Decimal | None
    indicator_score: Decimal | None
    total_score: Decimal | None
    grade: str
    updated_at: object


PROJECT_ROW_FIELDS = (
    "phase",
    "status",
    "budget_points",
    "updated_at",
    "project__code",
    "project__name",
    "unit__code",
    "unit__name",
    "unit__parent__code",
    "unit__parent__name",
)


def project_forms(user, year: int, *, stage: str = "", parent: Unit | None = None) -> QuerySet:
    """The year's project forms in the user's scope, with their money and 得分 sums."""
    lines = BudgetLine.objects.filter(evaluation=OuterRef("pk")).order_by()

    def line_total(field: str) -> Subquery:
        totals = lines.values("evaluation").annotate(total=Sum(field)).values("total")
        return Subquery(totals[:1], output_field=MONEY)

    scores = (
        Indicator.objects.filter(category__group__evaluation=OuterRef("pk"))
        .order_by()
        .values("category__group__evaluation")
        .annotate(total=Sum("score"))
        .values("total")
    )
    forms = (
        Evaluation.objects.filter(kind=FormKind.PROJECT, year=year, unit__in=units_for_user(user))
        .select_related("project", "unit", "unit__parent")
        # Not the goal texts: thousands of rows of rich text nobody here reads.
        .only(*PROJECT_ROW_FIELDS)
        .annotate(
            stage=Concat("phase", Value("-"), "status", output_field=CharField()),
            budget_total=line_total("budget_amount"),
            executed_total=line_total("executed_amount"),
            indicator_score=Subquery(scores[:1], output_field=MONEY),
        )
    )
    if parent is not None:
        forms = forms.filter(Q(unit__parent=parent) | Q(unit=parent))
    if stage:
        forms = forms.filter(stage=stage)
    return forms


def describe_project_form(form: Evaluation) -> ProjectOverviewRow:
    """A form of `project_forms` as the overview shows it (no query)."""
    targets, results = phase_labels(form.phase, form.status)
    budget = form.budget_total or Decimal("0.00")
    executed = form.executed_total or Decimal("0.00")
    rate = truncate_percent(executed, budget)
    # As on the form: the execution scores once the results are open, and 总分 and
    # 自评等级 show once some indicator has a 得分.
    execution = None
    if form.phase == Phase.RESULTS and form.budget_points is not None:
        execution = execution_score(form.budget_points, rate)
    total = None
    if form.indicator_score is not None:
        total = form.indicator_score + (execution or Decimal("0.00"))
    unit, parent = form.unit, form.unit.parent
    return ProjectOverviewRow(
        project_code=form.project.code,
        project_name=form.project.name,
        unit_code=unit.code,
        unit_name=unit.name,
        parent_code=parent.code if parent else "",
        parent_name=parent.name if parent else "",
        evaluation_pk=form.pk,
        targets=targets,
        results=results,
        stage=STAGE_LABELS.get(form.stage, form.stage),
        stage_order=STAGE_ORDER.get(form.stage, len(STAGES)),
        budget_total=budget,
        executed_total=executed,
        execution_rate=rate,
        execution_score=execution,
        indicator_score=form.indicator_score,
        total_score=total,
        grade=grade_for(total) if total is not None else "",
        updated_at=form.updated_at,
    )


def project_rows(
    user,
    year: int,
    *,
    stage: str = "",
    parent: Unit | None = None,
    grade: str = "",
    sort: str = "",
) -> list[ProjectOverviewRow]:
    """The project overview's rows, filtered and sorted (one query)."""
    rows = [
        describe_project_form(form)
        for form in project_forms(user, year, stage=stage, parent=parent).order_by(
            "unit__code", "project__code"
        )
    ]
    if grade:
        rows = [row for row in rows if row.grade == grade]
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in PROJECT_SORTS:
        return rows
    value_of = PROJECT_SORTS[key][1]
    present = [row for row in rows if value_of(row) is not None]
    missing = [row for row in rows if value_of(row) is None]  # last either way
    return sorted(present, key=value_of, reverse=descending) + missing


def project_stage_counts(rows: list[ProjectOverviewRow]) -> list[tuple[str, str, int]]:
    """(key, label, count) of every stage among `rows` (no query). A project form
    exists from its start, so 未开始 has none."""
    counts = {}
    for row in rows:
        counts[row.stage] = counts.get(row.stage, 0) + 1
    return [(key, label, counts.get(label, 0)) for key, label in STAGES if key != NOT_STARTED]


PROJECT_XLSX_COLUMNS = [
    ("项目编码", 18),
    ("项目名称", 40),
    ("实施单位", 32),
    ("主管部门", 24),
    ("年初目标", 10),
    ("年末自评", 10),
    ("全年预算数（元）", 18),
    ("全年执行数（元）", 18),
    ("执行率（%）", 12),
    ("总分", 10),
    ("自评等级", 10),
    ("最后修改", 18),
]


def project_overview_xlsx(rows: list[ProjectOverviewRow], year: int) -> bytes:
    """The project overview as a workbook: numbers stay numbers, text never a formula."""
    values = (
        [
            row.project_code,
            row.project_name,
            row.unit_name,
            row.parent_name,
            row.targets,
            row.results,
            row.budget_total,
            row.executed_total,
            row.execution_rate,
            row.total_score,
            row.grade,
            row.updated_at,
        ]
        for row in rows
    )
    return write_sheet(f"{year}年度项目支出总览", PROJECT_XLSX_COLUMNS, values, amounts=(7, 8))


# ---------------------------------------------------------------- both kinds


@dataclass(frozen=True)
class OverviewPage:
    """What the overview shows of one kind of form: the page's table (a partial),
    its rows, counts and sort columns from one set of filters, and its workbook."""

    label: str
    heading: str
    table_template: str
    sorts: dict
    default_sort: str
    file_name: str
    # What a row is, what its score is called and which money its 执行率 is of.
    row_noun: str
    score_label: str
    rate_basis: str
    # Rows per page, or None: all on one (a district's ~350 units). Counts, charts
    # and the workbook cover every row whatever the page.
    page_size: int | None = None

    def rows_and_counts(self, user, filters: dict) -> tuple[list, list]:
        raise NotImplementedError

    def workbook(self, user, filters: dict) -> bytes:
        raise NotImplementedError


class OverallOverview(OverviewPage):
    def rows_and_counts(self, user, filters: dict) -> tuple[list, list]:
        year, parent, grade = filters["year"], filters["parent"], filters["grade"]
        counts = stage_counts(overview_rows(user, year, parent=parent, grade=grade))
        rows = overview_rows(user, year, **_row_filters(filters))
        return [describe(unit) for unit in rows], counts

    def workbook(self, user, filters: dict) -> bytes:
        rows = overview_rows(user, filters["year"], **_row_filters(filters))
        return overview_xlsx(rows, filters["year"])


class ProjectOverview(OverviewPage):
    def rows_and_counts(self, user, filters: dict) -> tuple[list, list]:
        # One query: the counts are those of the rows before the stage filter.
        rows = project_rows(
            user,
            filters["year"],
            parent=filters["parent"],
            grade=filters["grade"],
            sort=filters["sort"],
        )
        counts = project_stage_counts(rows)
        if filters["stage"]:
            label = STAGE_LABELS[filters["stage"]]
            rows = [row for row in rows if row.stage == label]
        return rows, counts

    def workbook(self, user, filters: dict) -> bytes:
        rows = project_rows(user, filters["year"], **_row_filters(filters))
        return project_overview_xlsx(rows, filters["year"])


def _row_filters(filters: dict) -> dict:
    return {name: filters[name] for name in ("stage", "parent", "grade", "sort")}


OVERVIEW_PAGES = {
    FormKind.OVERALL: OverallOverview(
        label="部门整体",
        heading="部门（单位）整体支出绩效自评总览",
        table_template="evaluations/_overview_overall.html",
        sorts={key: label for key, (label, _) in SORTS.items()},
        default_sort=DEFAULT_SORT,
        file_name="{year}年度绩效自评总览.xlsx",
        row_noun="单位",
        score_label="总得分",
        rate_basis="财政拨款＋其他资金",
    ),
    FormKind.PROJECT: ProjectOverview(
        label="项目",
        heading="项目支出绩效自评总览",
        table_template="evaluations/_overview_project.html",
        sorts={key: label for key, (label, _) in PROJECT_SORTS.items()},
        default_sort="unit",  # the rows' own order: by unit, then project code
        file_name="{year}年度项目支出绩效自评总览.xlsx",
        row_noun="项目自评表",
        score_label="总分",
        rate_basis="年度资金总额",
        # ~7,000 project forms in a district year: drawn all at once, the page takes
        # seconds; the workbook has them all.
        page_size=200,
    ),
}
