"""Reminders to units that have not submitted a window's forms: on the schedule
(`ReminderPoint`, data: when the window opens, half-way, 3 and 1 days before it is
due, the day after) by `manage.py send_reminders`, and 催办 by a reviewer, for one
unit or a filtered batch.

Each reminder is a `Reminder` row, written in the same transaction as its e-mail is
sent: a scheduled one at most once per window, unit and point (a unique constraint),
so the command may run as often as the server likes and nobody is reminded twice.
The unit's 填报人 see the reminders on their to-do page, e-mail or not.

When the command has not run for a while, only the latest point passed in the last
`CATCH_UP_DAYS` is sent: a unit gets one reminder on catching up, not a pile.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse

from .kinds import LAYOUTS
from .models import FilingWindow, Reminder, ReminderPoint, Unit
from .roles import ROLE_STAFF, roles_of
from .windows import (
    Deadline,
    WindowError,
    extended_until,
    local_today,
    units_not_submitted,
    windows_for_user,
)

logger = logging.getLogger(__name__)
Anchor = ReminderPoint.Anchor
CATCH_UP_DAYS = 7


def point_date(point: ReminderPoint, window: FilingWindow) -> date:
    if point.anchor == Anchor.OPENS:
        return window.opens_on + timedelta(days=point.days)
    if point.anchor == Anchor.HALFWAY:
        return window.opens_on + timedelta(days=(window.due_on - window.opens_on).days // 2)
    if point.anchor == Anchor.BEFORE_DUE:
        return window.due_on - timedelta(days=point.days)
    return window.due_on + timedelta(days=point.days)


def due_point(
    window: FilingWindow, points: list[ReminderPoint], today: date
) -> ReminderPoint | None:
    """The schedule's latest point of `window` reached by `today` (within the catch-up
    days), or None. Points before the window opens are not sent."""
    reached = [
        (point_date(point, window), point.pk, point)
        for point in points
        if window.opens_on <= point_date(point, window) <= today
        and (today - point_date(point, window)).days < CATCH_UP_DAYS
    ]
    return max(reached, key=lambda found: found[:2])[2] if reached else None


def recipients_of(unit: Unit) -> list[str]:
    """The e-mail addresses of the unit's active 填报人."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, units=unit, groups__name=ROLE_STAFF)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def message_for(window: FilingWindow, unit: Unit, today: date, *, urged_by=None) -> str:
    title = f"《{LAYOUTS[window.kind].title}》"
    deadline = Deadline(
        window.opens_on, window.due_on, window.grace_days, extended_until(window, unit.pk)
    )
    lines = [
        f"{unit.name}：",
        f"{window.year}年度{title}（{window.get_phase_display()}）尚未提交，"
        f"截止日期{window.due_on:%Y-%m-%d}，{deadline.countdown(today)}。",
    ]
    if window.grace_days:
        lines.append(f"宽限期至{deadline.closes_on:%Y-%m-%d}，过后须经区财政局办理延期方可提交。")
    if urged_by is not None:
        lines.append(f"催办人：{urged_by.get_full_name() or urged_by.username}")
    lines.append(settings.SITE_URL + reverse("todo"))
    return "\n".join(lines)


def subject_for(window: FilingWindow, urged: bool) -> str:
    what = "催办" if urged else "填报提醒"
    return f"【绩效自评】{what}：{window.year}年度{window.get_phase_display()}尚未提交"


def deliver(reminder: Reminder, subject: str) -> None:
    """Sends the reminder's e-mail; called inside the transaction that writes the row,
    so a failed send leaves no row and the next run tries again."""
    addresses = [address for address in reminder.recipients.split("\n") if address]
    if addresses:
        EmailMessage(subject, reminder.message, to=addresses).send()


@dataclass
class Planned:
    window: FilingWindow
    point: ReminderPoint
    unit: Unit
    recipients: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        to = "、".join(self.recipients) or "（无邮箱，仅待办页）"
        return f"{self.window} · {self.point} → {self.unit.code} {self.unit.name}：{to}"


def planned(today: date) -> list[Planned]:
    """What the schedule sends today: per window with a point due, each unit that has
    not submitted and has not had that point yet."""
    points = list(ReminderPoint.objects.all())
    found = []
    windows = FilingWindow.objects.select_related("district").filter(opens_on__lte=today)
    for window in windows.order_by("district__code", "year", "kind", "phase"):
        point = due_point(window, points, today)
        if point is None:
            continue
        units = (
            units_not_submitted(
                window.year,
                window.phase,
                window.kind,
                Unit.objects.filter(district_id=window.district_id),
            )
            .exclude(reminders__window=window, reminders__point=point)
            .order_by("code")
        )
        found += [Planned(window, point, unit, recipients_of(unit)) for unit in units]
    return found


def send_due(today: date | None = None, *, dry_run: bool = False) -> list[Planned]:
    """Sends the reminders due `today` (the site's date by default) and returns them;
    `dry_run` sends and stores nothing."""
    today = today or local_today()
    reminders = planned(today)
    if dry_run:
        return reminders
    sent = []
    for each in reminders:
        try:
            with transaction.atomic():
                reminder = Reminder.objects.create(
                    window=each.window,
                    unit=each.unit,
                    point=each.point,
                    message=message_for(each.window, each.unit, today),
                    recipients="\n".join(each.recipients),
                )
                deliver(reminder, subject_for(each.window, urged=False))
        except IntegrityError:
            # Another run sent this one meanwhile.
            continue
        sent.append(each)
        logger.info("reminder %s sent to %d addresses", reminder.pk, len(each.recipients))
    return sent


# ---------------------------------------------------------------- 催办


def urge_refusal(user, window: FilingWindow) -> str:
    if not windows_for_user(user).filter(pk=window.pk).exists():
        return "只有本区的审核人或管理员可以催办。"
    return ""


def urge(
    window: FilingWindow,
    *,
    by,
    units: QuerySet[Unit] | None = None,
    today: date | None = None,
) -> list[Reminder]:
    """催办: reminds the units of `units` (every unit of the window's district by
    default) that have not submitted, now, and logs who did it and when. Units that
    have submitted are left out; none left is refused."""
    today = today or local_today()
    if refusal := urge_refusal(by, window):
        raise WindowError(refusal)
    district_units = Unit.objects.filter(district_id=window.district_id)
    if units is not None:
        district_units = district_units.filter(pk__in=units.values("pk"))
    late = list(
        units_not_submitted(window.year, window.phase, window.kind, district_units).order_by("code")
    )
    if not late:
        raise WindowError("所选单位均已提交，无需催办。")
    sent = []
    for unit in late:
        with transaction.atomic():
            reminder = Reminder.objects.create(
                window=window,
                unit=unit,
                sent_by=by,
                message=message_for(window, unit, today, urged_by=by),
                recipients="\n".join(recipients_of(unit)),
            )
            deliver(reminder, subject_for(window, urged=True))
        sent.append(reminder)
    return sent


def recent_for(user, days: int = 30) -> QuerySet[Reminder]:
    """The reminders of the last `days` to the units `user` fills in for, for their
    to-do page: one query."""
    if ROLE_STAFF not in roles_of(user):
        return Reminder.objects.none()
    since = local_today() - timedelta(days=days)
    return (
        Reminder.objects.filter(unit__staff=user, created_at__date__gte=since)
        .select_related("window", "unit", "sent_by", "point")
        .order_by("-created_at", "-id")[:10]
    )
