"""The reporting rate (报送率) of a year, phase and kind of form, by district and by
主管部门: expected, submitted, on time, late, returned, approved, overdue.

A fixed number of queries whatever the number of forms: the districts in scope and
their windows, then one grouped query for what is expected (units, or projects
running that year) and one for the forms, both grouped by district and 主管部门 with
conditional counts; the district rows are sums of the 主管部门 rows. A unit without a
主管部门 counts under itself (it is one).

- 应报 expected: each unit files one overall form a year, one project form for each
  of its projects running that year (started or not);
- 已报 submitted: forms whose phase was submitted at least once (waiting, returned
  since, or approved); 按时 / 逾期提交: of these, first submitted by the end of the
  window's due day / after it (the grace period and extensions count as late);
- 已退回 returned now, 已审核 approved (the phase);
- 逾期未报 overdue: expected but never submitted, once the due day has passed.
"""

import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from openpyxl.styles import Alignment, Font

from .access import is_admin, units_for_user
from .kinds import FormKind
from .models import (
    District,
    Evaluation,
    FilingWindow,
    Reminder,
    ReviewEvent,
    Unit,
    truncate_percent,
)
from .numbers import TWO_PLACES_FORMAT
from .windows import (
    approved_in,
    day_starts_at,
    done_in,
    local_today,
    projects_running_in,
    returned_in,
    units_not_submitted,
)
from .xlsx import set_text, set_value

COUNTS = [
    ("expected", "应报"),
    ("submitted", "已报"),
    ("on_time", "按时提交"),
    ("late", "逾期提交"),
    ("returned", "已退回"),
    ("approved", "已审核"),
    ("overdue", "逾期未报"),
]
COUNT_NAMES = [name for name, _ in COUNTS]
# The most not-submitted units listed on the page (a district has ~350 units).
LATE_UNITS_SHOWN = 500


@dataclass
class RateRow:
    """One row of the table: a district or a 主管部门 (`parent_id`, None on a district)."""

    district_id: int
    label: str
    code: str = ""
    parent_id: int | None = None
    due_on: date | None = None
    expected: int = 0
    submitted: int = 0
    on_time: int = 0
    late: int = 0
    returned: int = 0
    approved: int = 0
    overdue: int = 0

    @property
    def rate(self) -> Decimal:
        """报送率: submitted of expected, in per cent, truncated like 执行率."""
        return truncate_percent(Decimal(self.submitted), Decimal(self.expected))

    @property
    def on_time_rate(self) -> Decimal:
        return truncate_percent(Decimal(self.on_time), Decimal(self.expected))

    def share(self, count: int) -> Decimal:
        """`count` as a per cent of the expected, for the chart's bars."""
        return truncate_percent(Decimal(count), Decimal(self.expected))

    @property
    def bars(self) -> list[tuple[str, str, Decimal]]:
        """The chart's stacked bar: (class, label, per cent) of on time, late, the rest."""
        other = max(self.submitted - self.on_time - self.late, 0)
        return [
            ("on-time", "按时提交", self.share(self.on_time)),
            ("late", "逾期提交", self.share(self.late)),
            ("other", "已报（无提交记录）", self.share(other)),
        ]

    def add(self, other: "RateRow") -> None:
        for name in COUNT_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def values(self) -> list[int]:
        return [getattr(self, name) for name in COUNT_NAMES]


@dataclass
class Report:
    year: int
    kind: str
    phase: str
    today: date
    districts: list[RateRow] = field(default_factory=list)
    parents: list[RateRow] = field(default_factory=list)
    total: RateRow | None = None
    windows: dict[int, FilingWindow] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return (
            f"{self.year}年度{FormKind(self.kind).label}"
            f"（{Evaluation.Phase(self.phase).label}）报送情况"
        )


def districts_for(user) -> QuerySet[District]:
    if is_admin(user):
        return District.objects.all()
    return District.objects.filter(reviewers=user)


def reporting_rate(user, year: int, kind: str, phase: str, today: date | None = None) -> Report:
    """The report for `user`'s districts (管理员: all): three queries."""
    today = today or local_today()
    report = Report(year=year, kind=kind, phase=phase, today=today)
    districts = list(districts_for(user).order_by("code"))
    report.windows = {
        window.district_id: window
        for window in FilingWindow.objects.filter(
            district__in=[district.pk for district in districts],
            year=year,
            phase=phase,
            kind=kind,
        )
    }
    units = units_for_user(user)
    groups: dict[tuple[int, int], RateRow] = {}

    def group_of(values: dict) -> RateRow:
        key = (values["district_key"], values["group_key"])
        if key not in groups:
            window = report.windows.get(values["district_key"])
            groups[key] = RateRow(
                district_id=values["district_key"],
                label=values["group_name"],
                code=values["group_code"],
                parent_id=values["group_key"],
                due_on=window.due_on if window else None,
            )
        return groups[key]

    for values in expected_by_group(units, year, kind):
        group_of(values).expected = values["count"]
    for values in forms_by_group(units, year, kind, phase, report.windows):
        row = group_of(values)
        for name in ("submitted", "on_time", "late", "returned", "approved"):
            setattr(row, name, values[name])
    for row in groups.values():
        if row.due_on is not None and today > row.due_on:
            row.overdue = max(row.expected - row.submitted, 0)

    by_district = {
        district.pk: RateRow(
            district_id=district.pk,
            label=district.name,
            code=district.code,
            due_on=report.windows[district.pk].due_on if district.pk in report.windows else None,
        )
        for district in districts
    }
    report.total = RateRow(district_id=0, label="合计")
    for row in sorted(groups.values(), key=lambda row: (row.district_id, row.code)):
        if row.district_id not in by_district:
            continue
        by_district[row.district_id].add(row)
        report.total.add(row)
        report.parents.append(row)
    report.districts = list(by_district.values())
    return report


def expected_by_group(units: QuerySet[Unit], year: int, kind: str):
    """(district, 主管部门) → how many forms are expected: one query."""
    if kind == FormKind.OVERALL:
        rows = Unit.objects.filter(pk__in=units.values("pk"))
        prefix = ""
    else:
        rows = projects_running_in(year).filter(unit__in=units.values("pk"))
        prefix = "unit__"
    return (
        rows.order_by()
        .values(
            district_key=F(f"{prefix}district_id"),
            group_key=Coalesce(f"{prefix}parent_id", f"{prefix}id"),
            group_name=Coalesce(f"{prefix}parent__name", f"{prefix}name"),
            group_code=Coalesce(f"{prefix}parent__code", f"{prefix}code"),
        )
        .annotate(count=Count("pk"))
    )


def forms_by_group(
    units: QuerySet[Unit], year: int, kind: str, phase: str, windows: dict[int, FilingWindow]
):
    """(district, 主管部门) → the counts of the forms: one query."""
    first_submitted = (
        ReviewEvent.objects.filter(
            evaluation=OuterRef("pk"), action=ReviewEvent.Action.SUBMIT, phase=phase
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )
    # The first moment after each district's due day, as a constant per district.
    deadline = Case(
        *[
            When(unit__district_id=district_id, then=Value(day_starts_at(window.due_on + DAY)))
            for district_id, window in windows.items()
        ],
        default=None,
        output_field=DateTimeField(),
    )
    forms = Evaluation.objects.filter(year=year, kind=kind, unit__in=units.values("pk")).annotate(
        first_submitted_at=Subquery(first_submitted), deadline_at=deadline
    )
    return (
        forms.order_by()
        .values(
            district_key=F("unit__district_id"),
            group_key=Coalesce("unit__parent_id", "unit_id"),
            group_name=Coalesce("unit__parent__name", "unit__name"),
            group_code=Coalesce("unit__parent__code", "unit__code"),
        )
        .annotate(
            submitted=Count("pk", filter=Q(first_submitted_at__isnull=False) | done_in(phase)),
            on_time=Count("pk", filter=Q(first_submitted_at__lt=F("deadline_at"))),
            late=Count("pk", filter=Q(first_submitted_at__gte=F("deadline_at"))),
            returned=Count("pk", filter=returned_in(phase)),
            approved=Count("pk", filter=approved_in(phase)),
        )
    )


DAY = timedelta(days=1)


def late_units(user, year: int, kind: str, phase: str) -> list[Unit]:
    """The units of the user's scope that have not submitted, with how many of their
    forms are missing (`missing`) and when they were last reminded: one query."""
    units = units_not_submitted(year, phase, kind, units_for_user(user))
    last_reminder = Reminder.objects.filter(
        unit=OuterRef("pk"), window__year=year, window__phase=phase, window__kind=kind
    ).order_by("-created_at")
    if kind == FormKind.PROJECT:
        done = Evaluation.objects.filter(year=year, kind=kind).filter(done_in(phase))
        missing = (
            projects_running_in(year)
            .filter(unit=OuterRef("pk"))
            .exclude(pk__in=done.values("project_id"))
            .order_by()
            .values("unit")
            .annotate(count=Count("pk"))
            .values("count")
        )
        units = units.annotate(missing=Subquery(missing[:1]))
    else:
        units = units.annotate(missing=Value(1))
    return list(
        units.select_related("parent", "district")
        .annotate(last_reminded_at=Subquery(last_reminder.values("created_at")[:1]))
        .order_by("district__code", "code")[:LATE_UNITS_SHOWN]
    )


def urge_log(user, year: int, kind: str, phase: str) -> list[Reminder]:
    """The last 50 催办 of this year, phase and kind in the user's districts: one query."""
    return list(
        Reminder.objects.filter(
            sent_by__isnull=False,
            window__year=year,
            window__phase=phase,
            window__kind=kind,
            window__district__in=districts_for(user),
        )
        .select_related("unit", "sent_by", "window")
        .order_by("-created_at", "-id")[:50]
    )


# ---------------------------------------------------------------- the workbook

XLSX_HEADS = [("区", 14), ("主管部门", 30), ("截止日期", 12)] + [(label, 10) for _, label in COUNTS]
XLSX_HEADS += [("报送率（%）", 12), ("按时报送率（%）", 14)]


def reporting_xlsx(report: Report) -> bytes:
    """Both tables of the page as one sheet each; numbers stay numbers."""
    workbook = openpyxl.Workbook()
    district_names = {row.district_id: row.label for row in report.districts}
    sheets = [
        ("按区", report.districts + [report.total], lambda row: (row.label, "")),
        ("按主管部门", report.parents, lambda row: (district_names[row.district_id], row.label)),
    ]
    for index, (title, rows, names) in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = title
        for column, (head, width) in enumerate(XLSX_HEADS, start=1):
            cell = sheet.cell(row=1, column=column)
            set_text(cell, head)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center")
            sheet.column_dimensions[cell.column_letter].width = width
        for row_number, row in enumerate(rows, start=2):
            values = [*names(row), row.due_on, *row.values(), row.rate, row.on_time_rate]
            for column, value in enumerate(values, start=1):
                if value is None or value == "":
                    continue
                cell = sheet.cell(row=row_number, column=column)
                set_value(cell, value)
                if isinstance(value, Decimal):
                    cell.number_format = TWO_PLACES_FORMAT
                elif isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
        sheet.freeze_panes = "C2"
    workbook.properties.title = report.title
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
