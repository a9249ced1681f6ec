"""Filing windows: the countdown, the refusal of a late submission, and 延期.

The clock is moved (time-machine), never waited for."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from evaluations import windows, workflow
from evaluations.models import Evaluation, Extension, FilingWindow, ReviewEvent
from evaluations.windows import Deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_window(district, phase="targets", kind="overall", **dates) -> FilingWindow:
    return FilingWindow.objects.create(
        district=district,
        year=2023,
        phase=phase,
        kind=kind,
        opens_on=dates.get("opens_on", date(2024, 3, 1)),
        due_on=dates.get("due_on", date(2024, 3, 31)),
        grace_days=dates.get("grace_days", 2),
    )


# --- the countdown, without a database

DEADLINE = Deadline(date(2024, 3, 1), date(2024, 3, 31), 2)


@pytest.mark.parametrize(
    "today, text",
    [
        (date(2024, 2, 20), "2024-03-01开始填报，距截止 40 天"),
        (date(2024, 3, 1), "距截止 30 天"),
        (date(2024, 3, 30), "距截止 1 天"),
        (date(2024, 3, 31), "今天截止"),
        (date(2024, 4, 1), "已逾期 1 天（宽限期至2024-04-02）"),
        (date(2024, 4, 2), "已逾期 2 天（宽限期至2024-04-02）"),
        (date(2024, 4, 3), "已逾期 3 天（已截止，须经区财政局办理延期方可提交）"),
    ],
)
def test_the_countdown_counts_days_to_the_due_date(today, text):
    assert DEADLINE.countdown(today) == text


def test_the_window_closes_after_the_grace_days_and_an_extension_moves_it():
    assert DEADLINE.closes_on == date(2024, 4, 2)
    assert not DEADLINE.is_closed(date(2024, 4, 2))
    assert DEADLINE.is_closed(date(2024, 4, 3))
    extended = Deadline(date(2024, 3, 1), date(2024, 3, 31), 2, date(2024, 4, 10))
    assert not extended.is_closed(date(2024, 4, 10))
    assert extended.is_closed(date(2024, 4, 11))
    assert extended.countdown(date(2024, 4, 5)) == "已逾期 5 天（已延期至2024-04-10）"
    # An extension that ends before the grace period changes nothing.
    short = Deadline(date(2024, 3, 1), date(2024, 3, 31), 2, date(2024, 4, 1))
    assert short.last_day == date(2024, 4, 2)


# --- on the pages


def test_the_entry_and_table_pages_the_to_do_and_home_rows_show_the_countdown(
    sample, staff, time_machine
):
    make_window(sample.unit.district)
    client = client_of(staff)
    time_machine.move_to(at("2024-03-21"), tick=False)
    entry = client.get(reverse("evaluation_entry", args=[sample.pk])).content.decode()
    assert '<span class="deadline" id="entry-deadline">距截止 10 天</span>' in entry
    table = client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert '<p class="deadline" id="deadline">年初目标：距截止 10 天</p>' in table
    todo = client.get(reverse("todo")).content.decode()
    assert '<td class="deadline">距截止 10 天</td>' in todo
    home = client.get(reverse("home")).content.decode()
    assert '<span class="deadline">距截止 10 天</span>' in home
    time_machine.move_to(at("2024-04-05"), tick=False)
    todo = client.get(reverse("todo")).content.decode()
    assert '<td class="deadline">已逾期 5 天（已截止，须经区财政局办理延期方可提交）</td>' in todo


def test_a_form_without_a_window_or_already_submitted_shows_no_countdown(sample, staff):
    client = client_of(staff)
    assert (
        'id="deadline"'
        not in client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    )
    make_window(sample.unit.district, phase="results")  # another phase's window
    assert (
        'id="deadline"'
        not in client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    )
    assert windows.countdown_of(sample, date(2024, 3, 21)) == ""


def test_another_districts_window_does_not_apply(sample, staff, other_district, time_machine):
    make_window(other_district)
    time_machine.move_to(at("2024-05-01"), tick=False)
    assert windows.submission_refusal(sample) == ""


# --- the refusal and the extension


def submit(client, evaluation):
    return client.post(reverse("submit_evaluation", args=[evaluation.pk]), follow=True)


def test_a_late_submission_is_refused_in_chinese_and_changes_nothing(sample, staff, time_machine):
    make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-03"), tick=False)
    response = submit(client_of(staff), sample)
    assert (
        "2023年度年初目标的填报已于2024-03-31截止，宽限期至2024-04-02，不能提交。"
        "如确需提交，请联系区财政局为本单位办理延期。" in response.content.decode()
    )
    sample.refresh_from_db()
    assert (sample.phase, sample.status) == ("targets", "draft")
    assert not ReviewEvent.objects.exists()
    # The page offers no 提交 button either.
    assert reverse("submit_evaluation", args=[sample.pk]) not in response.content.decode()


def test_a_submission_within_the_grace_days_goes_through(sample, staff, time_machine):
    make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-02", hour=23), tick=False)
    submit(client_of(staff), sample)
    sample.refresh_from_db()
    assert sample.status == "submitted"


def test_an_extension_lets_the_unit_submit_until_its_day(sample, staff, reviewer, time_machine):
    window = make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-05"), tick=False)
    response = client_of(reviewer).post(
        reverse("extensions"),
        {
            "window": window.pk,
            "unit": sample.unit.code,
            "until": "2024-04-10",
            "reason": "系统故障",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "已为上海市闵行区浦锦街道城市运行管理中心办理延期至2024-04-10。" in page
    extension = Extension.objects.get()
    assert (extension.unit, extension.until, extension.reason) == (
        sample.unit,
        date(2024, 4, 10),
        "系统故障",
    )
    assert extension.granted_by == reviewer
    assert "系统故障" in page and "闵行审核人" in page  # the log
    assert windows.countdown_of(sample) == "已逾期 5 天（已延期至2024-04-10）"
    submit(client_of(staff), sample)
    sample.refresh_from_db()
    assert sample.status == "submitted"


def test_an_expired_extension_is_refused_by_name(sample, staff, reviewer, time_machine):
    window = make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-05"), tick=False)
    windows.grant_extension(
        window, sample.unit, until=date(2024, 4, 10), reason="理由", by=reviewer
    )
    time_machine.move_to(at("2024-04-11"), tick=False)
    with pytest.raises(workflow.WorkflowError, match="本单位年初目标的延期已于2024-04-10到期"):
        workflow.submit(sample, by=staff)
    sample.refresh_from_db()
    assert sample.status == "draft"


def test_an_extension_only_applies_to_its_unit(sample, staff, other_unit, reviewer, time_machine):
    window = make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-05"), tick=False)
    windows.grant_extension(window, other_unit, until=date(2024, 4, 10), reason="理由", by=reviewer)
    assert "不能提交" in windows.submission_refusal(sample)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"until": "2024-04-02"}, "延期至的日期须晚于截止日期及宽限期（2024-04-02）。"),
        ({"until": "2024-03-30"}, "延期至的日期不能早于今天。"),
        ({"until": "2024/04/10"}, "请按“2024-03-31”的格式填写延期至的日期。"),
        ({"reason": "  "}, "请填写延期理由。"),
        ({"unit": "NOPE"}, "没有这个单位编码，或该单位不属于此填报期限所在的区。"),
        ({"window": "999999"}, "请选择填报期限。"),
        ({"window": "x"}, "请选择填报期限。"),
    ],
)
def test_a_bad_extension_is_refused_in_chinese_and_stores_nothing(
    sample, reviewer, time_machine, fields, message
):
    window = make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-01"), tick=False)
    data = {"window": window.pk, "unit": sample.unit.code, "until": "2024-04-10", "reason": "理由"}
    response = client_of(reviewer).post(reverse("extensions"), data | fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Extension.objects.exists()


def test_a_reviewer_grants_extensions_for_their_own_district_only(
    sample, other_reviewer, manager, time_machine
):
    window = make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-05"), tick=False)
    data = {"window": window.pk, "unit": sample.unit.code, "until": "2024-04-10", "reason": "理由"}
    # The other district's reviewer is not offered the window, nor may post it.
    page = client_of(other_reviewer).get(reverse("extensions")).content.decode()
    assert f'value="{window.pk}"' not in page
    assert client_of(other_reviewer).post(reverse("extensions"), data).status_code == 400
    with pytest.raises(windows.WindowError, match="只有本区的审核人或管理员可以办理延期"):
        windows.grant_extension(
            window, sample.unit, until=date(2024, 4, 10), reason="理由", by=other_reviewer
        )
    assert not Extension.objects.exists()
    # 管理员 act on every district.
    assert client_of(manager).post(reverse("extensions"), data).status_code == 302
    assert Extension.objects.get().granted_by == manager


def test_staff_may_not_open_the_extensions_page(staff, client):
    client.force_login(staff)
    assert client.get(reverse("extensions")).status_code == 403
    assert client.post(reverse("extensions"), {}).status_code == 403


def test_the_workflow_verb_itself_refuses_late(sample, staff, time_machine):
    """Not just the page: any path that submits goes through the guard."""
    make_window(sample.unit.district)
    time_machine.move_to(at("2024-04-03"), tick=False)
    with pytest.raises(workflow.WorkflowError, match="不能提交"):
        workflow.submit(Evaluation.objects.get(pk=sample.pk), by=staff)
