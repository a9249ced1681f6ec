"""Filing windows: when a phase of a form is due, how many days are left, and whether a
late submission is still accepted.

A district keeps one `FilingWindow` per year, phase and kind of form: it opens on
`opens_on`, is due on `due_on` and accepts submissions `grace_days` longer. After
that only a unit granted an `Extension` may submit, until the extension's day. A
form whose district set no window for it has no deadline and is never refused.

Dates are days in the site's time zone (`timezone.localdate()`, Asia/Shanghai); the
functions take `today` so that they are tested without a clock, and default to it.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from .access import is_admin, is_reviewer
from .models import (
    District,
    Evaluation,
    EvaluationError,
    Extension,
    FilingWindow,
    Project,
    Unit,
)
from .text import REASON_MAX_LENGTH, TextError, check_text

Phase, Status = Evaluation.Phase, Evaluation.Status


class WindowError(EvaluationError):
    """A refused grant of an extension; `message` is shown as it is."""


def local_today() -> date:
    return timezone.localdate()


def day_starts_at(day: date) -> datetime:
    """The first moment of `day` in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class Deadline:
    """A window as it applies to one unit: its dates and the unit's extension, if any."""

    opens_on: date
    due_on: date
    grace_days: int
    extended_until: date | None = None

    @property
    def closes_on(self) -> date:
        """The last day a submission is accepted without an extension."""
        return self.due_on + timedelta(days=self.grace_days)

    @property
    def last_day(self) -> date:
        if self.extended_until and self.extended_until > self.closes_on:
            return self.extended_until
        return self.closes_on

    def is_closed(self, today: date) -> bool:
        return today > self.last_day

    def countdown(self, today: date) -> str:
        """距截止 N 天 / 今天截止 / 已逾期 N 天, with what still lets the unit submit."""
        left = (self.due_on - today).days
        if today < self.opens_on:
            return f"{self.opens_on:%Y-%m-%d}开始填报，距截止 {left} 天"
        if left > 0:
            return f"距截止 {left} 天"
        if left == 0:
            return "今天截止"
        text = f"已逾期 {-left} 天"
        if self.extended_until and today <= self.extended_until:
            return f"{text}（已延期至{self.extended_until:%Y-%m-%d}）"
        if today <= self.closes_on:
            return f"{text}（宽限期至{self.closes_on:%Y-%m-%d}）"
        return f"{text}（已截止，须经区财政局办理延期方可提交）"


def phase_window(district_id: int, year: int, phase: str, kind: str) -> FilingWindow | None:
    return FilingWindow.objects.filter(
        district_id=district_id, year=year, phase=phase, kind=kind
    ).first()


def extended_until(window: FilingWindow, unit_id: int) -> date | None:
    """The latest day of the unit's extensions of `window`, or None."""
    return (
        Extension.objects.filter(window=window, unit_id=unit_id)
        .order_by("-until")
        .values_list("until", flat=True)
        .first()
    )


def with_deadlines(evaluations: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Annotated with the window of each form's current phase and its unit's latest
    extension (subqueries: no query per row), which `deadline_of` then reads."""
    windows = FilingWindow.objects.filter(
        district_id=OuterRef("unit__district_id"),
        year=OuterRef("year"),
        phase=OuterRef("phase"),
        kind=OuterRef("kind"),
    )
    extensions = Extension.objects.filter(
        window__district_id=OuterRef("unit__district_id"),
        window__year=OuterRef("year"),
        window__phase=OuterRef("phase"),
        window__kind=OuterRef("kind"),
        unit_id=OuterRef("unit_id"),
    ).order_by("-until")
    return evaluations.annotate(
        deadline_read=Value(True),
        window_opens_on=Subquery(windows.values("opens_on")[:1]),
        window_due_on=Subquery(windows.values("due_on")[:1]),
        window_grace_days=Subquery(windows.values("grace_days")[:1]),
        window_extended_until=Subquery(extensions.values("until")[:1]),
    )


def deadline_of(evaluation: Evaluation) -> Deadline | None:
    """The deadline of the form's current phase for its unit, or None without a window.
    Reads the annotations of `with_deadlines` when present (no query), else one query."""
    if getattr(evaluation, "deadline_read", False):
        if evaluation.window_due_on is None:
            return None
        return Deadline(
            evaluation.window_opens_on,
            evaluation.window_due_on,
            evaluation.window_grace_days,
            evaluation.window_extended_until,
        )
    # One form alone (its table page): one query, kept on the form for the countdown
    # and the submit guard, cheaper than compiling the four subqueries for one row.
    if "_deadline" not in evaluation.__dict__:
        window = (
            FilingWindow.objects.filter(
                district_id=evaluation.unit.district_id,
                year=evaluation.year,
                phase=evaluation.phase,
                kind=evaluation.kind,
            )
            .annotate(
                extended_until=Subquery(
                    Extension.objects.filter(window=OuterRef("pk"), unit_id=evaluation.unit_id)
                    .order_by("-until")
                    .values("until")[:1]
                )
            )
            .first()
        )
        evaluation._deadline = (
            None
            if window is None
            else Deadline(window.opens_on, window.due_on, window.grace_days, window.extended_until)
        )
    return evaluation._deadline


def countdown_of(evaluation: Evaluation, today: date | None = None) -> str:
    """What a form's row says of its deadline while the unit still has to submit; ""
    once submitted or without a window."""
    if evaluation.status not in Evaluation.EDITABLE_STATUSES:
        return ""
    deadline = deadline_of(evaluation)
    if deadline is None:
        return ""
    return deadline.countdown(today or local_today())


def submission_refusal(evaluation: Evaluation, today: date | None = None) -> str:
    """Why the unit may no longer submit the form's current phase, or ""."""
    deadline = deadline_of(evaluation)
    today = today or local_today()
    if deadline is None or not deadline.is_closed(today):
        return ""
    phase = evaluation.get_phase_display()
    if deadline.extended_until and deadline.extended_until > deadline.closes_on:
        return (
            f"本单位{phase}的延期已于{deadline.extended_until:%Y-%m-%d}到期，不能提交。"
            "如确需提交，请联系区财政局再次办理延期。"
        )
    grace = f"，宽限期至{deadline.closes_on:%Y-%m-%d}" if deadline.grace_days else ""
    return (
        f"{evaluation.year}年度{phase}的填报已于{deadline.due_on:%Y-%m-%d}截止{grace}，不能提交。"
        "如确需提交，请联系区财政局为本单位办理延期。"
    )


# ---------------------------------------------------------------- who has submitted


def done_in(phase: str) -> Q:
    """The forms whose `phase` is submitted and not sent back: waiting for review or
    approved (the targets are approved once the results phase is open)."""
    if phase == Phase.TARGETS:
        return Q(phase=Phase.RESULTS) | Q(phase=Phase.TARGETS, status=Status.SUBMITTED)
    return Q(phase=Phase.RESULTS, status__in=[Status.SUBMITTED, Status.APPROVED])


def approved_in(phase: str) -> Q:
    if phase == Phase.TARGETS:
        return Q(phase=Phase.RESULTS)
    return Q(phase=Phase.RESULTS, status=Status.APPROVED)


def returned_in(phase: str) -> Q:
    return Q(phase=phase, status=Status.RETURNED)


def projects_running_in(year: int) -> QuerySet[Project]:
    return Project.objects.filter(first_year__lte=year).filter(
        Q(last_year__isnull=True) | Q(last_year__gte=year)
    )


def units_not_submitted(
    year: int, phase: str, kind: str, units: QuerySet[Unit] | None = None
) -> QuerySet[Unit]:
    """The units (of `units`, all by default) with a form of `kind` expected for `year`
    whose `phase` is not submitted: not started, a draft or returned. A unit files one
    overall form, and one project form for each of its projects running that year."""
    units = Unit.objects.all() if units is None else units
    done = Evaluation.objects.filter(year=year, kind=kind).filter(done_in(phase))
    if kind == Evaluation.Kind.OVERALL:
        return units.exclude(pk__in=done.values("unit_id"))
    missing = projects_running_in(year).exclude(pk__in=done.values("project_id"))
    return units.filter(pk__in=missing.values("unit_id"))


# ---------------------------------------------------------------- extensions


def windows_for_user(user) -> QuerySet[FilingWindow]:
    """The windows a user may act on: a 审核人's districts', every one for 管理员."""
    windows = FilingWindow.objects.select_related("district")
    if is_admin(user):
        return windows
    if is_reviewer(user):
        return windows.filter(district__in=District.objects.filter(reviewers=user))
    return windows.none()


def grant_extension_refusal(user, window: FilingWindow) -> str:
    if not windows_for_user(user).filter(pk=window.pk).exists():
        return "只有本区的审核人或管理员可以办理延期。"
    return ""


def grant_extension(
    window: FilingWindow, unit: Unit, *, until: date, reason: str, by, today: date | None = None
) -> Extension:
    """延期: lets `unit` submit `window`'s forms until `until`. Each grant is kept with
    who, when and why; nothing is changed by a refused one."""
    today = today or local_today()
    if refusal := grant_extension_refusal(by, window):
        raise WindowError(refusal)
    if unit.district_id != window.district_id:
        raise WindowError("该单位不属于此填报期限所在的区，不能办理延期。")
    reason = (reason or "").strip()
    if not reason:
        raise WindowError("请填写延期理由。")
    try:
        check_text(reason, "延期理由", max_length=REASON_MAX_LENGTH, multiline=True)
    except TextError as error:
        raise WindowError(str(error)) from None
    if until < today:
        raise WindowError("延期至的日期不能早于今天。")
    if until <= window.due_on + timedelta(days=window.grace_days):
        raise WindowError(
            f"延期至的日期须晚于截止日期及宽限期（{window.due_on + timedelta(days=window.grace_days):%Y-%m-%d}）。"
        )
    with transaction.atomic():
        return Extension.objects.create(
            window=window, unit=unit, until=until, reason=reason, granted_by=by
        )
