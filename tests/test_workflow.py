"""The review verbs: every transition, legal and illegal, and what each one leaves behind."""

from decimal import Decimal

import pytest
from django.core import mail

from evaluations import workflow
from evaluations.models import BudgetLine, Evaluation, EvaluationLocked, ReviewEvent
from evaluations.workflow import WorkflowError
from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from .conftest import open_results

Phase, Status, Action = Evaluation.Phase, Evaluation.Status, ReviewEvent.Action


def put(evaluation: Evaluation, phase: str, status: str) -> Evaluation:
    Evaluation.objects.filter(pk=evaluation.pk).update(phase=phase, status=status)
    evaluation.refresh_from_db()
    return evaluation


def row(evaluation: Evaluation, name: str) -> Indicator:
    return Indicator.objects.get(category__group__evaluation=evaluation, name=name)


def state(evaluation: Evaluation) -> tuple[str, str]:
    evaluation.refresh_from_db()
    return evaluation.phase, evaluation.status


def test_a_new_evaluation_is_a_draft_of_its_targets(sample):
    assert (sample.phase, sample.status, sample.version) == ("targets", "draft", 1)
    assert sample.state_display == "年初目标 · 草稿"


def test_submit_writes_an_event_and_mails_the_reviewers(
    sample, staff, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = workflow.submit(sample, by=staff)
    assert state(sample) == ("targets", "submitted")
    assert (event.action, event.phase, event.from_status, event.to_status, event.actor) == (
        "submit",
        "targets",
        "draft",
        "submitted",
        staff,
    )
    assert sample.version == 2
    [message] = mail.outbox
    assert message.to == ["rev@example.org"]
    assert message.subject == (
        "【绩效自评】上海市闵行区浦锦街道城市运行管理中心 2023年度年初目标已提交，请审核"
    )
    assert f"/evaluations/{sample.pk}/" in message.body


def test_no_mail_before_commit(sample, staff, reviewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        workflow.submit(sample, by=staff)
    assert len(callbacks) == 1 and mail.outbox == []


def test_submit_refuses_with_the_list_of_faults(sample, staff):
    group = IndicatorGroup.objects.get(evaluation=sample, name="产出指标")
    group.weight = Decimal("24")
    group.save()
    with pytest.raises(WorkflowError) as refused:
        workflow.submit(sample, by=staff)
    assert refused.value.message == "一致性检查发现 2 处问题，未提交。请修改后再提交。"
    assert [fault.message for fault in refused.value.faults] == [
        "一级指标“产出指标”：各指标分值合计 25，与权重 24 不一致。",
        "各一级指标权重合计 99，应为 100。",
    ]
    assert state(sample) == ("targets", "draft")
    assert not ReviewEvent.objects.exists()


def test_results_cannot_be_submitted_without_scores_and_actuals(sample, staff):
    open_results(sample)
    Indicator.objects.filter(category__group__evaluation=sample).update(
        score=None, actual_number=None, actual_unit="", actual_label=""
    )
    with pytest.raises(WorkflowError) as refused:
        workflow.submit(sample, by=staff)
    messages = [fault.message for fault in refused.value.faults]
    assert "“预算编审管理”：请填写得分。" in messages
    assert "“群众满意度”：请填写全年完成值。" in messages
    assert len(messages) == 7 + 2 * 17  # 投入管理 rows have no 年度指标值
    assert state(sample) == ("results", "draft")


def test_approving_the_targets_opens_the_results_and_closes_the_targets(
    sample, staff, reviewer, django_capture_on_commit_callbacks
):
    workflow.submit(sample, by=staff)
    with django_capture_on_commit_callbacks(execute=True):
        event = workflow.approve(sample, by=reviewer)
    assert (event.phase, event.from_status, event.to_status) == ("targets", "submitted", "approved")
    assert state(sample) == ("results", "draft")
    assert mail.outbox[-1].to == ["staff@example.org"]
    assert "年初目标已审核通过" in mail.outbox[-1].subject

    weight = IndicatorGroup.objects.get(evaluation=sample, name="产出指标")
    weight.weight = Decimal("26")
    with pytest.raises(EvaluationLocked, match="年初目标已审核，“权重”不能再修改。"):
        weight.save()
    target = row(sample, "设备使用率")
    target.target = "=90.00(%)"
    with pytest.raises(EvaluationLocked, match="“年度指标值数值”"):
        target.save()
    with pytest.raises(EvaluationLocked, match="不能再修改"):
        IndicatorCategory.objects.filter(group__evaluation=sample).first().delete()
    # The results are open.
    result = row(sample, "设备使用率")
    result.actual = "99.00(%)"
    result.save()
    assert row(sample, "设备使用率").actual_number == Decimal("99.00")


def test_the_whole_year_through_both_phases(sample, staff, reviewer):
    workflow.submit(sample, by=staff)
    workflow.approve(sample, by=reviewer)
    workflow.submit(sample, by=staff)
    assert state(sample) == ("results", "submitted")
    workflow.return_for_revision(sample, by=reviewer, reason="请补充原因")
    assert state(sample) == ("results", "returned")
    workflow.submit(sample, by=staff)
    workflow.approve(sample, by=reviewer)
    assert state(sample) == ("results", "approved") and sample.is_final
    assert list(ReviewEvent.objects.values_list("action", "phase", "from_status", "to_status")) == [
        ("submit", "targets", "draft", "submitted"),
        ("approve", "targets", "submitted", "approved"),
        ("submit", "results", "draft", "submitted"),
        ("return", "results", "submitted", "returned"),
        ("submit", "results", "returned", "submitted"),
        ("approve", "results", "submitted", "approved"),
    ]


def test_approved_means_final_on_every_save_path(sample):
    put(sample, Phase.RESULTS, Status.APPROVED)
    stale_tab = Evaluation.objects.get(pk=sample.pk)
    stale_tab.result_text = "改过了"
    with pytest.raises(EvaluationLocked, match="该自评表已审核"):
        stale_tab.save()
    indicator = row(sample, "设备使用准确率")
    indicator.score = Decimal("2.00")
    with pytest.raises(EvaluationLocked, match="该自评表已审核"):
        indicator.save()
    line = BudgetLine.objects.get(evaluation=sample, kind="fiscal")
    line.executed_amount = Decimal("1")
    with pytest.raises(EvaluationLocked):
        line.save()
    with pytest.raises(EvaluationLocked):
        line.delete()
    with pytest.raises(EvaluationLocked):
        IndicatorGroup.objects.create(evaluation=sample, name="新指标", weight=Decimal("1"))
    with pytest.raises(EvaluationLocked):
        sample.delete()
    assert row(sample, "设备使用准确率").score == Decimal("1.00")
    assert BudgetLine.objects.filter(evaluation=sample).count() == 4


def test_a_stale_copy_cannot_undo_a_transition(sample, staff):
    second_tab = Evaluation.objects.get(pk=sample.pk)
    workflow.submit(sample, by=staff)
    second_tab.target_text = "<p>另一个标签页</p>"
    with pytest.raises(EvaluationLocked):
        second_tab.save()
    assert state(sample) == ("targets", "submitted")


def test_a_save_cannot_move_the_status(sample):
    sample.status = Status.APPROVED
    with pytest.raises(EvaluationLocked, match="只能通过提交、退回、审核或重新打开改变"):
        sample.save()


def test_return_needs_a_reason_and_pins_comments_on_rows(
    sample, staff, reviewer, django_capture_on_commit_callbacks
):
    workflow.submit(sample, by=staff)
    target = row(sample, "设备使用率")
    with pytest.raises(WorkflowError, match="请填写退回理由"):
        workflow.return_for_revision(sample, by=reviewer, reason="  ")
    with pytest.raises(WorkflowError, match="逐行意见指向的行不存在"):
        workflow.return_for_revision(
            sample, by=reviewer, reason="理由", comments={"indicator-999999": "x"}
        )
    assert state(sample) == ("targets", "submitted")
    with django_capture_on_commit_callbacks(execute=True):
        event = workflow.return_for_revision(
            sample,
            by=reviewer,
            reason="分值设置需调整",
            comments={
                target.anchor: "目标值偏低",
                "budget-fiscal": "与预算批复不一致",
                "budget-other": " ",
            },
        )
    assert state(sample) == ("targets", "returned")
    assert sorted((comment.row_label, comment.text) for comment in event.comments.all()) == [
        ("整体支出规模·财政拨款", "与预算批复不一致"),
        ("设备使用率", "目标值偏低"),
    ]
    assert "理由：分值设置需调整" in mail.outbox[-1].body


def test_a_comment_cannot_point_at_another_evaluations_row(sample, staff, reviewer, other_unit):
    from .conftest import make_evaluation

    other = make_evaluation(other_unit)
    workflow.submit(sample, by=staff)
    with pytest.raises(WorkflowError, match="逐行意见指向的行不存在"):
        workflow.return_for_revision(
            sample, by=reviewer, reason="理由", comments={row(other, "设备使用率").anchor: "x"}
        )
    assert state(sample) == ("targets", "submitted")


def test_reopen_is_for_admins_with_a_reason(sample, reviewer, manager, admin_user):
    put(sample, Phase.RESULTS, Status.APPROVED)
    with pytest.raises(WorkflowError, match="只有管理员"):
        workflow.reopen(sample, by=reviewer, reason="要改")
    with pytest.raises(WorkflowError, match="请填写重新打开的理由"):
        workflow.reopen(sample, by=manager, reason="")
    event = workflow.reopen(sample, by=manager, reason="决算调整")
    assert (event.phase, event.from_status, event.to_status) == ("results", "approved", "returned")
    assert state(sample) == ("results", "returned")
    # Once more: the approved targets open again.
    event = workflow.reopen(sample, by=admin_user, reason="预算调整")
    assert (event.phase, event.from_status, event.to_status) == ("targets", "approved", "returned")
    assert state(sample) == ("targets", "returned")
    with pytest.raises(WorkflowError, match="尚无已审核的阶段"):
        workflow.reopen(sample, by=admin_user, reason="再来")


def test_one_form_rechecks_every_row_and_stays_open(client, sample, reviewer):
    from django.urls import reverse

    put(sample, Phase.RESULTS, Status.SUBMITTED)
    client.force_login(reviewer)
    table = reverse("evaluation_table", args=[sample.pk])
    page = client.get(table).content.decode()
    # The 投入管理 rows, which have no 三级 name, go by their 二级.
    assert "投入管理指标 · 预算编审管理</th>" in page
    assert (
        page.count('name="review_score-')
        == Indicator.objects.filter(category__group__evaluation=sample).count()
    )
    accuracy, budgeting = (
        row(sample, "设备使用准确率"),
        Indicator.objects.get(category__group__evaluation=sample, category__name="预算编审管理"),
    )
    fields = {"version": sample.version}
    for indicator in Indicator.objects.filter(category__group__evaluation=sample):
        fields[f"review_score-{indicator.pk}"] = ""
        fields[f"review_opinion-{indicator.pk}"] = ""
    fields[f"review_score-{accuracy.pk}"] = "1.5"
    fields[f"review_opinion-{budgeting.pk}"] = "编审规范"
    url = reverse("recheck_indicators", args=[sample.pk])
    response = client.post(url, fields)
    assert response["Location"] == table + "#recheck"
    accuracy.refresh_from_db()
    budgeting.refresh_from_db()
    assert accuracy.review_score == Decimal("1.50")
    assert budgeting.review_opinion == "编审规范"
    assert ReviewEvent.objects.filter(evaluation=sample, action="recheck").count() == 2
    page = client.get(table).content.decode()
    assert "已保存 2 行的复核得分和意见。" in page
    assert '<details class="recheck-forms" id="recheck">' in page  # opened by table.js

    # A wrong score on one row: the error names it and no row is saved.
    sample.refresh_from_db()
    fields.update(
        {
            "version": sample.version,
            f"review_score-{accuracy.pk}": "1",
            f"review_score-{budgeting.pk}": "9",
        }
    )
    client.post(url, fields)
    page = client.get(table).content.decode()
    assert "“预算编审管理”：复核得分不能超过分值 7.50。未保存任何一行。" in page
    accuracy.refresh_from_db()
    assert accuracy.review_score == Decimal("1.50")


def test_recheck_keeps_the_reviewers_score_beside_the_units(sample, reviewer):
    put(sample, Phase.RESULTS, Status.SUBMITTED)
    indicator = row(sample, "设备使用准确率")
    event = workflow.recheck(
        sample,
        indicator.pk,
        by=reviewer,
        review_score="1.5",
        review_opinion="平台模块停用属实，扣分偏多",
        expected_version=sample.version,
    )
    indicator.refresh_from_db()
    assert (indicator.score, indicator.review_score) == (Decimal("1.00"), Decimal("1.50"))
    assert event.action == "recheck" and event.from_status == event.to_status == "submitted"
    assert event.reason == (
        "“设备使用准确率”：复核得分 1.50（单位自评 1.00）；意见：平台模块停用属实，扣分偏多"
    )
    assert state(sample) == ("results", "submitted")
    for bad_score, message in [
        ("2.01", "不能超过分值"),
        ("abc", "须为数字"),
        ("-1", "不能为负数"),
        ("1e30", "不是有效的数字"),
        ("100", "不能超过"),
    ]:
        with pytest.raises(WorkflowError, match=message):
            workflow.recheck(
                sample,
                indicator.pk,
                by=reviewer,
                review_score=bad_score,
                review_opinion="",
                expected_version=sample.version,
            )
    indicator.refresh_from_db()
    assert indicator.review_score == Decimal("1.50")


def test_recheck_only_on_submitted_results(sample, reviewer):
    indicator = row(sample, "设备使用准确率")
    for phase, status in [("targets", "submitted"), ("results", "draft"), ("results", "approved")]:
        put(sample, phase, status)
        with pytest.raises(WorkflowError):
            workflow.recheck(
                sample,
                indicator.pk,
                by=reviewer,
                review_score="1",
                review_opinion="",
                expected_version=sample.version,
            )
    # The unit cannot write the reviewer's fields either.
    put(sample, Phase.RESULTS, Status.DRAFT)
    indicator.review_score = Decimal("2")
    with pytest.raises(EvaluationLocked, match="复核得分"):
        indicator.save()


STATES = [
    ("targets", "draft"),
    ("targets", "submitted"),
    ("targets", "returned"),
    ("results", "draft"),
    ("results", "submitted"),
    ("results", "returned"),
    ("results", "approved"),
]
# (verb, who may, states where it is legal)
LEGAL = {
    "submit": ("staff", {("targets", "draft"), ("targets", "returned"), ("results", "draft"), ("results", "returned")}),
    "return": ("reviewer", {("targets", "submitted"), ("results", "submitted")}),
    "approve": ("reviewer", {("targets", "submitted"), ("results", "submitted")}),
    "reopen": ("manager", {("results", "draft"), ("results", "returned"), ("results", "approved")}),
}  # fmt: skip


def run(verb: str, evaluation: Evaluation, user):
    if verb == "submit":
        return workflow.submit(evaluation, by=user)
    if verb == "return":
        return workflow.return_for_revision(evaluation, by=user, reason="理由")
    if verb == "approve":
        return workflow.approve(evaluation, by=user)
    return workflow.reopen(evaluation, by=user, reason="理由")


class TestEveryVerb:
    """Every verb in every state by every role, on one sample (see `shared_sample_and_cast`)."""

    @pytest.mark.parametrize("verb", sorted(LEGAL))
    @pytest.mark.parametrize("phase,status", STATES)
    def test_every_verb_in_every_state_by_every_role(
        self, shared_sample_and_cast, db, verb, phase, status
    ):
        sample, cast = shared_sample_and_cast
        allowed_role, legal_states = LEGAL[verb]
        legal_runs = 0
        for name, user in cast.items():
            put(sample, phase, status)
            legal = (phase, status) in legal_states and (
                name == allowed_role or (allowed_role == "manager" and name == "admin")
            )
            if legal:
                legal_runs += 1
                run(verb, sample, user)
                assert state(sample) != (phase, status), (verb, name)
            else:
                with pytest.raises(WorkflowError):
                    run(verb, sample, user)
                assert state(sample) == (phase, status), (verb, name)
        assert ReviewEvent.objects.count() == legal_runs
        assert legal_runs == (
            0 if (phase, status) not in legal_states else 2 if verb == "reopen" else 1
        )
