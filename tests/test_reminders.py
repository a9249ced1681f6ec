"""Reminders: each point of the schedule exactly once to each unit that has not
submitted, `send_reminders` idempotent and its dry run storing nothing; 催办 of one
unit or a batch, logged with who and when. The clock is moved, never waited for."""

from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from evaluations import reminders
from evaluations.models import Evaluation, FilingWindow, Reminder, ReminderPoint
from evaluations.windows import grant_extension

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 8) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 30, tzinfo=SHANGHAI)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def window(district) -> FilingWindow:
    return FilingWindow.objects.create(
        district=district,
        year=2023,
        phase="targets",
        kind="overall",
        opens_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
        grace_days=2,
    )


def run(*options: str) -> str:
    out = StringIO()
    call_command("send_reminders", *options, stdout=out)
    return out.getvalue()


def test_the_schedule_is_data_from_the_migration(db):
    assert sorted(str(point) for point in ReminderPoint.objects.all()) == sorted(
        ["开始填报当天", "填报期过半", "截止前3天", "截止前1天", "截止后（逾期）1天"]
    )


def test_the_points_fall_on_their_days(window):
    days = {
        str(point): reminders.point_date(point, window) for point in ReminderPoint.objects.all()
    }
    assert days == {
        "开始填报当天": date(2024, 3, 1),
        "填报期过半": date(2024, 3, 16),
        "截止前3天": date(2024, 3, 28),
        "截止前1天": date(2024, 3, 30),
        "截止后（逾期）1天": date(2024, 4, 1),
    }


def test_each_point_reminds_exactly_once_whatever_the_runs(
    sample, staff, other_unit, other_staff, window, time_machine
):
    # The other unit has submitted: it is never reminded.
    Evaluation.objects.create(unit=other_unit, year=2023, status="submitted")
    sent_on = []
    day = date(2024, 2, 25)
    while day <= date(2024, 4, 20):
        time_machine.move_to(at(day), tick=False)
        before = len(mail.outbox)
        run()
        run()  # a second run the same day sends nothing more
        sent_on += [day] * (len(mail.outbox) - before)
        day += timedelta(days=1)
    assert [message.to for message in mail.outbox] == [["staff@example.org"]] * 5
    assert sent_on == [
        date(2024, 3, 1),
        date(2024, 3, 16),
        date(2024, 3, 28),
        date(2024, 3, 30),
        date(2024, 4, 1),
    ]
    first = mail.outbox[0]
    assert first.subject == "【绩效自评】填报提醒：2023年度年初目标尚未提交"
    assert "截止日期2024-03-31，距截止 30 天" in first.body
    assert "已逾期 1 天（宽限期至2024-04-02）" in mail.outbox[-1].body
    # Every unit not submitted has its row per point, e-mail or not (the street office
    # has no 填报人 with an address here); the submitted one has none.
    assert Reminder.objects.filter(unit=sample.unit).count() == 5
    assert Reminder.objects.filter(unit=sample.unit.parent).count() == 5
    assert not Reminder.objects.filter(unit=other_unit).exists()


def test_nothing_before_the_window_opens_and_nothing_once_submitted(
    sample, staff, window, time_machine
):
    time_machine.move_to(at(date(2024, 2, 29)), tick=False)
    assert "已发送 0 条提醒。" in run()
    time_machine.move_to(at(date(2024, 3, 1)), tick=False)
    run()
    assert len(mail.outbox) == 1
    Evaluation.objects.filter(pk=sample.pk).update(status="submitted")
    time_machine.move_to(at(date(2024, 3, 16)), tick=False)
    run()
    assert len(mail.outbox) == 1


def test_a_returned_form_is_reminded_again(sample, staff, window, time_machine):
    Evaluation.objects.filter(pk=sample.pk).update(status="returned")
    time_machine.move_to(at(date(2024, 3, 28)), tick=False)
    run()
    assert [message.to for message in mail.outbox] == [["staff@example.org"]]


def test_catching_up_sends_the_latest_point_only(sample, staff, window, time_machine):
    time_machine.move_to(at(date(2024, 3, 29)), tick=False)
    run()
    assert len(mail.outbox) == 1
    assert Reminder.objects.get(unit=sample.unit).point.days == 3
    # A point a week and more behind is not sent on catching up.
    time_machine.move_to(at(date(2024, 4, 20)), tick=False)
    run()
    assert len(mail.outbox) == 1


def test_a_dry_run_says_what_would_go_and_stores_nothing(sample, staff, window, time_machine):
    time_machine.move_to(at(date(2024, 3, 1)), tick=False)
    out = run("--dry-run")
    assert "上海市闵行区浦锦街道城市运行管理中心：staff@example.org" in out
    assert "将发送 2 条提醒。" in out  # the unit and its street office
    assert not mail.outbox and not Reminder.objects.exists()
    assert "已发送 2 条提醒。" in run()
    assert "已发送 0 条提醒。" in run()


def test_a_failed_send_stores_no_row_so_the_next_run_tries_again(
    sample, staff, window, time_machine, monkeypatch
):
    time_machine.move_to(at(date(2024, 3, 1)), tick=False)

    def refuse(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(OSError):
        reminders.send_due()
    # (The street office before it has no address: nothing was sent, its row stays.)
    assert not Reminder.objects.filter(unit=sample.unit).exists()
    monkeypatch.undo()
    reminders.send_due()
    assert Reminder.objects.filter(unit=sample.unit).count() == 1


def test_project_forms_remind_units_with_a_project_not_submitted(
    project_form, staff, district, time_machine
):
    FilingWindow.objects.create(
        district=district,
        year=2023,
        phase="targets",
        kind="project",
        opens_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
    )
    time_machine.move_to(at(date(2024, 3, 1)), tick=False)
    reminders.send_due()
    assert list(Reminder.objects.values_list("unit__code", flat=True)) == [project_form.unit.code]
    Evaluation.objects.filter(pk=project_form.pk).update(status="submitted")
    time_machine.move_to(at(date(2024, 3, 16)), tick=False)
    assert reminders.send_due() == []


def test_the_to_do_page_shows_the_units_reminders(sample, staff, window, time_machine):
    time_machine.move_to(at(date(2024, 3, 1)), tick=False)
    reminders.send_due()
    page = client_of(staff).get(reverse("todo")).content.decode()
    assert (
        "提醒（开始填报当天）：上海市闵行区浦锦街道城市运行管理中心 2023年度部门（单位）整体支出（年初目标）尚未提交"
        in page
    )


# --- 催办


def urge(user, window, **fields):
    data = {"year": "2023", "kind": "overall", "phase": "targets", "district": window.district_id}
    return client_of(user).post(reverse("urge_units"), data | fields, follow=True)


def test_a_reviewer_urges_one_unit_and_it_is_logged(sample, staff, reviewer, window, time_machine):
    time_machine.move_to(at(date(2024, 3, 20), hour=15), tick=False)
    response = urge(reviewer, window, unit=sample.unit_id)
    assert "已向 1 个尚未提交的单位发出催办。" in response.content.decode()
    reminder = Reminder.objects.get()
    assert (reminder.unit, reminder.sent_by, reminder.point) == (sample.unit, reviewer, None)
    assert reminder.created_at == at(date(2024, 3, 20), hour=15).replace(minute=30)
    [message] = mail.outbox
    assert message.subject == "【绩效自评】催办：2023年度年初目标尚未提交"
    assert message.to == ["staff@example.org"] and "催办人：闵行审核人" in message.body
    # The log on the reporting page: when, whom, who.
    page = response.content.decode()
    assert (
        "<td>2024-03-20 15:30</td><td>上海市闵行区浦锦街道城市运行管理中心</td><td>闵行审核人</td>"
        in page
    )
    # 催办 is no scheduled reminder: the schedule still sends its own.
    time_machine.move_to(at(date(2024, 3, 28)), tick=False)
    reminders.send_due()
    assert Reminder.objects.filter(point__isnull=False, unit=sample.unit).count() == 1


def test_a_batch_urges_the_units_under_a_parent_that_have_not_submitted(
    sample, staff, parent_staff, other_unit, other_staff, reviewer, window, time_machine
):
    time_machine.move_to(at(date(2024, 3, 20)), tick=False)
    urge(reviewer, window, parent=sample.unit.parent_id)
    # The street office and its unit; the other unit has no 主管部门 there.
    assert sorted(Reminder.objects.values_list("unit__code", flat=True)) == [
        "310112-PJ",
        "310112-PJ-CSYX",
    ]
    assert sorted(address for message in mail.outbox for address in message.to) == [
        "parent@example.org",
        "staff@example.org",
    ]
    # The whole district, but the unit that submitted.
    Evaluation.objects.filter(pk=sample.pk).update(status="submitted")
    Reminder.objects.all().delete()
    urge(reviewer, window)
    assert sorted(Reminder.objects.values_list("unit__code", flat=True)) == [
        "310112-PJ",
        "310112-XH",
    ]


def test_urging_a_unit_that_submitted_is_refused_and_logs_nothing(sample, staff, reviewer, window):
    Evaluation.objects.filter(pk=sample.pk).update(status="submitted")
    response = urge(reviewer, window, unit=sample.unit_id)
    assert "所选单位均已提交，无需催办。" in response.content.decode()
    assert not Reminder.objects.exists() and not mail.outbox


def test_urging_is_for_the_districts_reviewers_and_admins(
    sample, staff, other_reviewer, manager, window
):
    assert urge(other_reviewer, window, unit=sample.unit_id).status_code == 404
    assert urge(staff, window, unit=sample.unit_id).status_code == 403
    assert not Reminder.objects.exists()
    assert urge(manager, window, unit=sample.unit_id).status_code == 200
    assert Reminder.objects.get().sent_by == manager


@pytest.mark.parametrize(
    "fields",
    [{"district": "x"}, {"district": "999999"}, {"year": "2099"}, {"unit": "999999"}],
)
def test_urging_something_that_is_not_there_is_404(sample, reviewer, window, fields):
    assert urge(reviewer, window, **fields).status_code == 404
    assert not Reminder.objects.exists()


def test_urging_takes_post_only(reviewer, window):
    assert client_of(reviewer).get(reverse("urge_units")).status_code == 405


def test_the_overdue_reminder_names_the_units_extension(
    sample, staff, reviewer, window, time_machine
):
    time_machine.move_to(at(date(2024, 3, 31)), tick=False)
    grant_extension(window, sample.unit, until=date(2024, 4, 15), reason="系统故障", by=reviewer)
    time_machine.move_to(at(date(2024, 4, 1)), tick=False)
    reminders.send_due()
    [message] = [message for message in mail.outbox if message.to == ["staff@example.org"]]
    assert "已逾期 1 天（已延期至2024-04-15）" in message.body
