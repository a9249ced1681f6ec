"""The review in two levels: 填报 → 主管部门初审 → 区财政审核, for both phases and both
kinds of form; every refusal changes nothing and writes no 审核记录."""

import io
import threading
from decimal import Decimal

import pypdf
import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from evaluations import workflow
from evaluations.models import (
    District,
    Evaluation,
    EvaluationError,
    ReviewEvent,
    StaleVersion,
    Unit,
)
from evaluations.roles import ROLE_PARENT_REVIEWER, ROLE_REVIEWER, ROLE_STAFF
from evaluations.workflow import WorkflowError
from indicators.models import Indicator

from .conftest import make_evaluation, make_user, open_results

Level = Evaluation.Level


def where(evaluation: Evaluation) -> tuple[str, str, str]:
    evaluation.refresh_from_db()
    return evaluation.phase, evaluation.status, evaluation.held_by


def steps(evaluation: Evaluation) -> list[tuple[str, str, str, str]]:
    return list(
        ReviewEvent.objects.filter(evaluation=evaluation).values_list(
            "action", "phase", "level", "to_level"
        )
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_whole_chain_of_both_phases(
    sample, staff, parent_reviewer, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        workflow.submit(sample, by=staff)
    assert where(sample) == ("targets", "submitted", "parent")
    assert mail.outbox[-1].to == ["pj@example.org"]
    assert mail.outbox[-1].subject.endswith("年初目标已提交，请主管部门初审")

    with django_capture_on_commit_callbacks(execute=True):
        workflow.approve_first(sample, by=parent_reviewer, opinion="目标合理")
    assert where(sample) == ("targets", "submitted", "district")
    assert mail.outbox[-1].to == ["rev@example.org"]
    assert mail.outbox[-1].subject.endswith("年初目标已通过主管部门初审，请区财政审核")

    with django_capture_on_commit_callbacks(execute=True):
        workflow.approve(sample, by=reviewer)
    assert where(sample) == ("results", "draft", "unit")
    assert mail.outbox[-1].to == ["staff@example.org"]

    workflow.submit(sample, by=staff)
    workflow.approve_first(sample, by=parent_reviewer)
    workflow.approve(sample, by=reviewer)
    assert where(sample) == ("results", "approved", "")
    assert steps(sample) == [
        ("submit", "targets", "unit", "parent"),
        ("approve", "targets", "parent", "district"),
        ("approve", "targets", "district", "unit"),
        ("submit", "results", "unit", "parent"),
        ("approve", "results", "parent", "district"),
        ("approve", "results", "district", ""),
    ]
    assert ReviewEvent.objects.filter(level="parent").first().reason == "目标合理"


def test_returns_at_both_levels(
    sample, staff, parent_reviewer, reviewer, django_capture_on_commit_callbacks
):
    first = Indicator.objects.filter(category__group__evaluation=sample).first()
    workflow.submit(sample, by=staff)
    workflow.approve_first(sample, by=parent_reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        event = workflow.return_for_revision(
            sample, by=reviewer, reason="请主管部门复核分值", to=Level.PARENT
        )
    # Back at the 主管部门: still submitted, the unit cannot change it.
    assert where(sample) == ("targets", "submitted", "parent")
    assert (event.level, event.to_level, event.to_status) == ("district", "parent", "submitted")
    assert mail.outbox[-1].to == ["pj@example.org"]
    assert "已被区财政退回主管部门，请重新初审" in mail.outbox[-1].subject

    with django_capture_on_commit_callbacks(execute=True):
        workflow.return_first(
            sample, by=parent_reviewer, reason="分值偏高", comments={first.anchor: "请核对"}
        )
    assert where(sample) == ("targets", "returned", "unit")
    assert mail.outbox[-1].to == ["staff@example.org"]
    assert "已被主管部门退回，请修改" in mail.outbox[-1].subject
    last = ReviewEvent.objects.order_by("-id").first()
    assert [comment.text for comment in last.comments.all()] == ["请核对"]

    workflow.submit(sample, by=staff)
    workflow.approve_first(sample, by=parent_reviewer)
    workflow.return_for_revision(sample, by=reviewer, reason="直接退回单位")
    assert where(sample) == ("targets", "returned", "unit")


def test_no_first_level_without_a_parent_a_holder_or_the_district_flag(
    sample, staff, reviewer, parent_reviewer, other_unit, other_staff
):
    # A unit without a 主管部门 goes straight to the district.
    other = make_evaluation(other_unit)
    workflow.submit(other, by=other_staff)
    assert where(other) == ("targets", "submitted", "district")
    with pytest.raises(WorkflowError, match="只能退回填报单位"):
        workflow.return_for_revision(other, by=reviewer, reason="x", to=Level.PARENT)
    # A district that does not use the first level.
    District.objects.filter(pk=sample.unit.district_id).update(parent_review=False)
    workflow.submit(sample, by=staff)
    assert where(sample) == ("targets", "submitted", "district")
    workflow.return_for_revision(sample, by=reviewer, reason="改")
    # A 主管部门 whose reviewer left sends its units' forms on.
    District.objects.filter(pk=sample.unit.district_id).update(parent_review=True)
    parent_reviewer.is_active = False
    parent_reviewer.save()
    workflow.submit(sample, by=staff)
    assert where(sample) == ("targets", "submitted", "district")


@pytest.mark.parametrize(
    "who,verb,at,message",
    [
        ("reviewer", "approve", "parent", "正在主管部门初审，尚未送区财政审核"),
        ("reviewer", "return", "parent", "正在主管部门初审，尚未送区财政审核"),
        ("parent_reviewer", "approve_first", "district", "不在主管部门初审环节"),
        ("parent_reviewer", "return_first", "district", "不在主管部门初审环节"),
        ("parent_reviewer", "approve", "district", "只有本区的审核人"),
        ("reviewer", "approve_first", "parent", "只有该单位主管部门的主管部门审核人"),
        ("other_parent_reviewer", "approve_first", "parent", "只有该单位主管部门的主管部门审核人"),
        ("other_parent_reviewer", "return_first", "parent", "只有该单位主管部门的主管部门审核人"),
        ("staff", "approve_first", "parent", "只有该单位主管部门的主管部门审核人"),
    ],
)
def test_the_wrong_level_or_role_is_refused_and_changes_nothing(
    sample, staff, parent_reviewer, other_parent_reviewer, reviewer, who, verb, at, message
):
    users = {
        "staff": staff,
        "reviewer": reviewer,
        "parent_reviewer": parent_reviewer,
        "other_parent_reviewer": other_parent_reviewer,
    }
    Evaluation.objects.filter(pk=sample.pk).update(status="submitted", review_level=at)
    sample.refresh_from_db()
    step = {
        "approve": lambda user: workflow.approve(sample, by=user, expected_version=1),
        "return": lambda user: workflow.return_for_revision(
            sample, by=user, reason="x", expected_version=1
        ),
        "approve_first": lambda user: workflow.approve_first(sample, by=user, expected_version=1),
        "return_first": lambda user: workflow.return_first(
            sample, by=user, reason="x", expected_version=1
        ),
    }[verb]
    with pytest.raises(WorkflowError, match=message):
        step(users[who])
    assert where(sample) == ("targets", "submitted", at)
    assert sample.version == 1
    assert not ReviewEvent.objects.exists()


def test_a_return_needs_a_reason_and_a_known_target(sample, staff, parent_reviewer, reviewer):
    workflow.submit(sample, by=staff)
    with pytest.raises(WorkflowError, match="请填写退回理由。"):
        workflow.return_first(sample, by=parent_reviewer, reason="  ")
    workflow.approve_first(sample, by=parent_reviewer)
    with pytest.raises(WorkflowError, match="请选择退回给填报单位或主管部门。"):
        workflow.return_for_revision(sample, by=reviewer, reason="x", to="admin")
    assert where(sample) == ("targets", "submitted", "district")
    assert ReviewEvent.objects.count() == 2


def test_a_stale_version_is_refused(sample, staff, parent_reviewer):
    workflow.submit(sample, by=staff)
    with pytest.raises(StaleVersion):
        workflow.approve_first(sample, by=parent_reviewer, expected_version=1)
    assert where(sample) == ("targets", "submitted", "parent")
    assert ReviewEvent.objects.count() == 1


def test_the_district_rechecks_only_what_it_holds(sample, staff, parent_reviewer, reviewer):
    open_results(sample)
    workflow.submit(sample, by=staff)
    first = Indicator.objects.filter(category__group__evaluation=sample).first()
    with pytest.raises(WorkflowError, match="正在主管部门初审"):
        workflow.recheck(
            sample, first.pk, by=reviewer, review_score="1", review_opinion="", expected_version=2
        )
    first.refresh_from_db()
    assert first.review_score is None


def test_the_project_form_goes_through_the_same_chain(
    project_form, staff, parent_reviewer, reviewer
):
    workflow.submit(project_form, by=staff)
    assert where(project_form) == ("targets", "submitted", "parent")
    workflow.approve_first(project_form, by=parent_reviewer)
    workflow.approve(project_form, by=reviewer)
    assert where(project_form) == ("results", "draft", "unit")


# --- through the pages


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_table_page_shows_the_chain_and_the_holder(sample, staff, parent_reviewer, reviewer):
    url = reverse("evaluation_table", args=[sample.pk])
    page = client_of(staff).get(url).content.decode()
    assert page.count('class="step ') == 6
    assert (
        '<li class="step step-current" aria-current="step"><span class="step-phase">年初目标</span> <span class="step-level">单位填报</span>'
        in page
    )
    workflow.submit(sample, by=staff)
    page = client_of(staff).get(url).content.decode()
    assert (
        '<span class="step-level">主管部门初审</span> <span class="step-state">当前</span>' in page
    )
    assert "当前环节：<strong>主管部门初审</strong>（浦锦街道）" in page
    assert '浦锦街道初审人（<a href="mailto:pj@example.org">pj@example.org</a>）' in page
    # Only the holder is offered the first level's buttons.
    first = reverse("first_approve_evaluation", args=[sample.pk])
    assert first not in page
    assert first in client_of(parent_reviewer).get(url).content.decode()
    assert (
        reverse("approve_evaluation", args=[sample.pk])
        not in client_of(reviewer).get(url).content.decode()
    )

    response = client_of(parent_reviewer).post(
        first, {"version": sample.version, "opinion": "同意送审"}
    )
    assert response.status_code == 302
    page = client_of(reviewer).get(url).content.decode()
    assert "当前环节：<strong>区财政审核</strong>（闵行区财政局）" in page
    assert '闵行审核人（<a href="mailto:rev@example.org">rev@example.org</a>）' in page
    assert "<td>主管部门初审</td><td>通过</td><td>同意送审</td><td>浦锦街道初审人</td>" in page
    assert 'name="to" value="parent"' in page  # the district may send it back to the 主管部门


def test_pages_refuse_in_chinese_and_change_nothing(sample, staff, parent_reviewer, reviewer):
    workflow.submit(sample, by=staff)
    url = reverse("approve_evaluation", args=[sample.pk])
    response = client_of(reviewer).post(url, {"version": sample.version}, follow=True)
    assert "该自评表正在主管部门初审，尚未送区财政审核，不能审核。" in messages_of(response)
    response = client_of(parent_reviewer).post(
        reverse("first_return_evaluation", args=[sample.pk]),
        {"version": sample.version, "reason": ""},
        follow=True,
    )
    assert "请填写退回理由。" in messages_of(response)
    response = client_of(parent_reviewer).post(
        reverse("first_approve_evaluation", args=[sample.pk]), {"version": "abc"}, follow=True
    )
    assert "页面已过期，请刷新后重试。" in messages_of(response)
    response = client_of(parent_reviewer).post(
        reverse("first_return_evaluation", args=[sample.pk]),
        {"version": sample.version, "reason": "x", "comment-indicator-999999": "y"},
        follow=True,
    )
    assert "逐行意见指向的行不存在，未退回。" in messages_of(response)
    assert where(sample) == ("targets", "submitted", "parent")
    assert ReviewEvent.objects.count() == 1


def test_the_district_chooses_where_a_return_goes(sample, staff, parent_reviewer, reviewer):
    workflow.submit(sample, by=staff)
    workflow.approve_first(sample, by=parent_reviewer)
    response = client_of(reviewer).post(
        reverse("return_evaluation", args=[sample.pk]),
        {"version": sample.version, "reason": "请主管部门再看", "to": "parent"},
        follow=True,
    )
    assert "年初目标已退回主管部门重新初审。" in messages_of(response)
    assert where(sample) == ("targets", "submitted", "parent")


# --- 再复核 that counts


def recheck(sample, reviewer, name: str, score: str) -> None:
    indicator = Indicator.objects.get(category__group__evaluation=sample, name=name)
    sample.refresh_from_db()
    workflow.recheck(
        sample,
        indicator.pk,
        by=reviewer,
        review_score=score,
        review_opinion="",
        expected_version=sample.version,
    )


def test_the_recheck_total_shows_beside_the_self_score(sample, staff, reviewer):
    open_results(sample)
    workflow.submit(sample, by=staff)
    # 设备使用率 is scored 8 by the unit; the district gives it 1.50.
    indicator = Indicator.objects.get(category__group__evaluation=sample, name="设备使用率")
    unit_score = indicator.score
    recheck(sample, reviewer, "设备使用率", "1.50")
    page = client_of(reviewer).get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    difference = Decimal("1.50") - unit_score
    assert "复核 1.50" in page
    assert "复核总分 <strong>" in page and f"差额 {difference:+.2f}".replace("-", "−") in page

    queue = client_of(reviewer).get(reverse("review_queue")).content.decode()
    assert f"（{difference:+.2f}）".replace("-", "−") in queue
    overview = client_of(reviewer).get(reverse("overview") + "?year=2023").content.decode()
    assert f"（{difference:+.2f}）".replace("-", "−") in overview
    todo = client_of(reviewer).get(reverse("todo")).content.decode()
    assert f"（{difference:+.2f}）".replace("-", "−") in todo


def test_the_pdf_keeps_the_units_scores(sample, staff, reviewer, settings, tmp_path):
    from evaluations.pdf import render_pdf

    open_results(sample)
    workflow.submit(sample, by=staff)
    recheck(sample, reviewer, "设备使用率", "1.50")

    pdf = render_pdf(Evaluation.objects.with_table().get(pk=sample.pk))
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "复核" not in text and "合计 100 96" in text


# --- 待办 / 已办


def test_each_role_has_its_to_do(sample, staff, parent_reviewer, reviewer, other_parent_reviewer):
    def pending(user) -> list[int]:
        response = client_of(user).get(reverse("todo"))
        return [evaluation.pk for evaluation in response.context["pending"]]

    def handled(user) -> list[int]:
        return [
            evaluation.pk for evaluation in client_of(user).get(reverse("todo")).context["handled"]
        ]

    assert (pending(staff), pending(parent_reviewer), pending(reviewer)) == ([sample.pk], [], [])
    workflow.submit(sample, by=staff)
    assert (pending(staff), pending(parent_reviewer), pending(reviewer)) == ([], [sample.pk], [])
    assert handled(staff) == [sample.pk]
    assert pending(other_parent_reviewer) == []
    workflow.approve_first(sample, by=parent_reviewer)
    assert (pending(parent_reviewer), pending(reviewer)) == ([], [sample.pk])
    assert handled(parent_reviewer) == [sample.pk]
    workflow.return_for_revision(sample, by=reviewer, reason="预算数有误")
    page = client_of(staff).get(reverse("todo")).content.decode()
    assert f'id="todo-{sample.pk}"' in page and "退回理由：预算数有误" in page
    home = client_of(staff).get(reverse("home")).content.decode()
    assert '待办 <strong class="todo-pending">1</strong> 份' in home
    assert '<span class="badge" id="todo-count">1</span>' in home


def test_the_to_do_filters(sample, project_form, staff):
    def pending(query: str) -> list[int]:
        response = client_of(staff).get(reverse("todo") + query)
        assert response.status_code == 200
        return sorted(evaluation.pk for evaluation in response.context["pending"])

    assert pending("") == sorted([sample.pk, project_form.pk])
    assert pending("?kind=project") == [project_form.pk]
    assert pending("?kind=overall&phase=targets&status=draft") == [sample.pk]
    assert pending("?status=returned") == []
    assert pending(f"?parent={sample.unit.parent_id}") == sorted([sample.pk, project_form.pk])
    # Unknown values are ignored, never an error.
    assert pending("?kind=x&phase=%00&status=' OR 1&parent=99999999999") == sorted(
        [sample.pk, project_form.pk]
    )


def many_forms(count: int, district: District, parent: Unit, staff, reviewer) -> None:
    units = Unit.objects.bulk_create(
        Unit(code=f"T{index:04}", name=f"单位{index}", district=district, parent=parent)
        for index in range(count)
    )
    Unit.staff.through.objects.bulk_create(
        Unit.staff.through(unit_id=unit.pk, user_id=staff.pk) for unit in units
    )
    Evaluation.objects.bulk_create(
        Evaluation(
            unit=unit,
            year=2023,
            status="submitted" if index % 2 else "returned",
            review_level="parent" if index % 4 == 1 else "district",
            subordinate_unit_count=0,
        )
        for index, unit in enumerate(units)
    )
    events = [
        ReviewEvent(
            evaluation=evaluation,
            action="return" if evaluation.status == "returned" else "submit",
            phase="targets",
            from_status="submitted",
            to_status=evaluation.status,
            level="district",
            to_level="unit",
            actor=reviewer,
            reason="请修改",
        )
        for evaluation in Evaluation.objects.filter(unit__in=units)
    ]
    ReviewEvent.objects.bulk_create(events)


@pytest.mark.parametrize("count", [10, 1000])
@pytest.mark.parametrize("who", ["staff", "parent_reviewer", "reviewer"])
def test_the_to_do_and_home_pages_run_a_fixed_number_of_queries(
    district, street_office, staff, parent_reviewer, reviewer, count, who, django_assert_num_queries
):
    many_forms(count, district, street_office, staff, reviewer)
    user = {"staff": staff, "parent_reviewer": parent_reviewer, "reviewer": reviewer}[who]
    client = client_of(user)
    client.get(reverse("home"))
    # Session, user, roles; the pending list (with its filing windows), the returns'
    # notes (when some are returned: the 填报人's), the handled list, the 主管部门 of the
    # filter, the reminders to the user's units (a 填报人's), the top bar's count. (The
    # session is written at most once a minute.)
    with django_assert_num_queries(9 if who == "staff" else 7):
        response = client.get(reverse("todo"))
    # Even forms are returned (the unit's), odd ones submitted: 1, 5, 9 … at the 主管部门.
    remainders = {"staff": (0, 2), "parent_reviewer": (1,), "reviewer": (3,)}[who]
    expected = sum(1 for index in range(count) if index % 4 in remainders)
    assert len(response.context["pending"]) == expected
    # Session, user, roles, the list, its counts, its years, units to start and to add
    # projects to (a 填报人's), 指标库 years, the to-do counts, the top bar's count.
    with django_assert_num_queries(11 if who == "staff" else 9):
        response = client.get(reverse("home"))
    assert response.context["todo_counts"]["pending"] == expected


# --- races


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
# serialized_rollback: the role groups of the data migration survive the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("verb", ["approve_first", "return_first", "approve", "return"])
def test_two_of_the_same_step_at_once_make_one_event(verb):
    from django.db import connections

    district = District.objects.create(code="310112", name="闵行区")
    parent = Unit.objects.create(code="P1", name="街道", district=district)
    unit = Unit.objects.create(code="U1", name="单位", district=district, parent=parent)
    evaluation = make_evaluation(unit)
    staff = make_user("race_staff", ROLE_STAFF)
    unit.staff.add(staff)
    first = [make_user(f"race_parent{index}", ROLE_PARENT_REVIEWER) for index in range(2)]
    second = [make_user(f"race_reviewer{index}", ROLE_REVIEWER) for index in range(2)]
    parent.staff.add(*first)
    district.reviewers.add(*second)
    workflow.submit(evaluation, by=staff)
    if verb in ("approve", "return"):
        workflow.approve_first(evaluation, by=first[0])
    evaluation.refresh_from_db()
    version, before = evaluation.version, ReviewEvent.objects.count()
    users = first if verb.endswith("_first") else second
    barrier, outcomes = threading.Barrier(2), []

    def take(user):
        try:
            copy = Evaluation.objects.get(pk=evaluation.pk)
            barrier.wait(5)
            kwargs = {"by": user, "expected_version": version}
            if verb.startswith("return"):
                kwargs["reason"] = "同时退回"
            getattr(workflow, {"return": "return_for_revision"}.get(verb, verb))(copy, **kwargs)
            outcomes.append("done")
        except EvaluationError as error:
            outcomes.append(error.message)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take, args=[user]) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["done", "该自评表已被他人修改，请刷新后重试（您的修改未保存）。"]
    assert ReviewEvent.objects.count() == before + 1
    evaluation.refresh_from_db()
    assert evaluation.version == version + 1


@pytest.mark.parametrize(
    "url_name,data,label",
    [
        ("first_approve_evaluation", {"opinion": "同意{}"}, "初审意见"),
        ("first_return_evaluation", {"reason": "退回{}"}, "退回理由"),
    ],
)
def test_the_first_level_refuses_control_characters_and_overlong_text(
    sample, staff, parent_reviewer, url_name, data, label
):
    workflow.submit(sample, by=staff)
    client = client_of(parent_reviewer)
    for typed, shown in [("\x00", "含有不允许的控制字符 U+0000"), ("长" * 2001, "最多 2,000 个字")]:
        form = {key: value.format(typed) for key, value in data.items()}
        response = client.post(
            reverse(url_name, args=[sample.pk]), form | {"version": sample.version}, follow=True
        )
        assert response.status_code == 200
        assert any(
            message.startswith(label) and shown in message for message in messages_of(response)
        )
    assert where(sample) == ("targets", "submitted", "parent")
    assert ReviewEvent.objects.count() == 1
