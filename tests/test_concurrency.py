"""Two people, one evaluation: the second save on a stale version is refused and
nothing of the first is lost."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from evaluations import workflow
from evaluations.models import District, Evaluation, StaleVersion
from indicators.models import Indicator

from .conftest import make_user

STALE = "该自评表已被他人修改，请刷新后重试（您的修改未保存）。"


def row(evaluation, name: str) -> Indicator:
    return Indicator.objects.get(category__group__evaluation=evaluation, name=name)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_two_reviewers_recheck_the_same_row(sample, reviewer, district):
    Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="submitted")
    second = make_user("reviewer2", "审核人", first_name="第二审核人")
    district.reviewers.add(second)
    first_client, second_client = Client(), Client()
    first_client.force_login(reviewer)
    second_client.force_login(second)
    table = reverse("evaluation_table", args=[sample.pk])
    # Both open the page and read the same version.
    versions = [
        client.get(table).context["evaluation"].version for client in (first_client, second_client)
    ]
    assert versions == [1, 1]
    accuracy = row(sample, "设备使用准确率")
    url = reverse("recheck_indicator", args=[sample.pk, accuracy.pk])

    first = first_client.post(
        url, {"review_score": "1.50", "review_opinion": "扣分偏多", "version": "1"}, follow=True
    )
    second = second_client.post(
        url, {"review_score": "0.50", "review_opinion": "扣分偏少", "version": "1"}, follow=True
    )

    assert messages_of(first) == ["复核得分和意见已保存。"]
    assert messages_of(second) == [STALE]
    accuracy.refresh_from_db()
    assert (accuracy.review_score, accuracy.review_opinion) == (Decimal("1.50"), "扣分偏多")
    assert sample.review_events.count() == 1
    # After a refresh the second reviewer saves on the new version.
    version = second_client.get(table).context["evaluation"].version
    assert version == 2
    again = second_client.post(
        url, {"review_score": "0.50", "review_opinion": "扣分偏少", "version": "2"}, follow=True
    )
    assert messages_of(again) == ["复核得分和意见已保存。"]


def test_two_tabs_of_the_unit_save_through_changing(sample, staff):
    first_tab = Evaluation.objects.get(pk=sample.pk)
    second_tab = Evaluation.objects.get(pk=sample.pk)

    def write_target(locked):
        locked.target_text = "<p>第一个标签页的目标</p>"
        locked.save()

    def write_points(locked):
        indicator = row(locked, "设备使用率")
        indicator.points = Decimal("3.00")
        indicator.save()
        locked.target_text = "<p>第二个标签页的目标</p>"
        locked.save()

    with workflow.changing(first_tab, by=staff, expected_version=first_tab.version) as locked:
        write_target(locked)
    assert first_tab.version == 2
    with (
        pytest.raises(StaleVersion),
        workflow.changing(second_tab, by=staff, expected_version=second_tab.version) as locked,
    ):
        write_points(locked)
    sample.refresh_from_db()
    assert sample.target_text == "<p>第一个标签页的目标</p>" and sample.version == 2
    assert row(sample, "设备使用率").points == Decimal("2.00")


def test_a_refusal_inside_changing_keeps_nothing(sample, staff):
    Evaluation.objects.filter(pk=sample.pk).update(phase="results")

    def half_allowed(locked):
        indicator = row(locked, "设备使用率")
        indicator.actual = "99.00(%)"  # a results field: open
        indicator.save()
        indicator.points = Decimal("3.00")  # a targets field: closed
        indicator.save()

    with (
        pytest.raises(Exception, match="年初目标已审核，“分值”不能再修改。"),
        workflow.changing(sample, by=staff, expected_version=1) as locked,
    ):
        half_allowed(locked)
    assert row(sample, "设备使用率").actual_number == Decimal("100.00")
    assert Evaluation.objects.get(pk=sample.pk).version == 1


def admin_form_data(response) -> dict:
    """What the browser would post back from an admin change page, unchanged."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[field.html_name] = "on"
                continue
            data[field.html_name] = value
    return data


def test_two_admins_save_the_same_evaluation(sample, manager, admin_user):
    url = reverse("admin:evaluations_evaluation_change", args=[sample.pk])
    first_client, second_client = Client(), Client()
    first_client.force_login(manager)
    second_client.force_login(admin_user)
    first_data = admin_form_data(first_client.get(url))
    second_data = admin_form_data(second_client.get(url))

    first_data["subordinate_unit_count"] = "3"
    assert first_client.post(url, first_data).status_code == 302
    second_data["subordinate_unit_count"] = "5"
    second = second_client.post(url, second_data)

    assert second.status_code == 200
    assert STALE in second.content.decode()
    sample.refresh_from_db()
    assert sample.subordinate_unit_count == 3 and sample.version == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
# serialized_rollback: the role groups of the data migration survive the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transition_waits_for_a_save_holding_the_row_lock():
    """A save holds the evaluation's row; an approval arriving meanwhile waits for it,
    then sees the saved version — it neither interleaves nor overwrites."""
    from django.db import connections

    from evaluations.models import Unit
    from evaluations.roles import ROLE_REVIEWER, ROLE_STAFF

    from .conftest import make_evaluation

    district = District.objects.create(code="310112", name="闵行区")
    unit = Unit.objects.create(code="U1", name="单位", district=district)
    evaluation = make_evaluation(unit)
    staff = make_user("lock_staff", ROLE_STAFF)
    reviewer = make_user("lock_reviewer", ROLE_REVIEWER)
    unit.staff.add(staff)
    district.reviewers.add(reviewer)

    inside, release, order = threading.Event(), threading.Event(), []

    def slow_save():
        try:

            def apply(locked):
                locked.target_text = "<p>慢慢保存</p>"
                locked.save()
                inside.set()
                release.wait(5)
                order.append("saved")

            with workflow.changing(
                Evaluation.objects.get(pk=evaluation.pk), by=staff, expected_version=1
            ) as locked:
                apply(locked)
        finally:
            connections.close_all()

    def submit():
        try:
            inside.wait(5)
            workflow.submit(Evaluation.objects.get(pk=evaluation.pk), by=staff)
            order.append("submitted")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=slow_save), threading.Thread(target=submit)]
    for thread in threads:
        thread.start()
    inside.wait(5)
    time.sleep(0.3)  # the submit is now waiting on the lock
    assert order == []
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["saved", "submitted"]
    evaluation.refresh_from_db()
    assert evaluation.target_text == "<p>慢慢保存</p>"
    assert (evaluation.status, evaluation.version) == ("submitted", 3)


@pytest.mark.parametrize("action", ["approve_evaluation", "return_evaluation"])
def test_a_reviewers_old_tab_cannot_decide_on_content_it_never_saw(sample, staff, reviewer, action):
    workflow.submit(sample, by=staff)
    seen_version = sample.version  # the reviewer opens the page here
    workflow.return_for_revision(sample, by=reviewer, reason="请补充说明")  # in another tab
    workflow.submit(sample, by=staff)  # the unit changes and resubmits
    client = Client()
    client.force_login(reviewer)
    response = client.post(
        reverse(action, args=[sample.pk]),
        {"version": seen_version, "reason": "旧页面上的决定"},
        follow=True,
    )
    assert messages_of(response) == [StaleVersion().message]
    sample.refresh_from_db()
    assert (sample.phase, sample.status) == ("targets", "submitted")
    assert sample.review_events.count() == 3
