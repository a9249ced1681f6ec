"""The 项目支出绩效自评表 on the engine of the overall form: its tree, its score rule,
its checks and its workflow (docs/domain.md §6)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from evaluations import workflow
from evaluations.demo import load_demo
from evaluations.kinds import PROJECT, FormKind
from evaluations.models import BudgetLine, Evaluation, Project
from evaluations.table import build_table, execution_score
from indicators.models import Indicator

from .conftest import open_results
from .test_entry import entry_url, fields_of, preview_url


def table_of(evaluation: Evaluation):
    return build_table(Evaluation.objects.with_table().get(pk=evaluation.pk))


@pytest.mark.parametrize(
    ("points", "rate", "score"),
    [
        ("10", "86.18", "8.62"),  # domain.md §6
        ("10", "86.15", "8.62"),  # 8.615 half up
        ("10", "86.14", "8.61"),
        ("10", "100.00", "10.00"),
        ("10", "150.00", "10.00"),  # never above 分值
        ("10", "0.00", "0.00"),
        ("20", "99.99", "20.00"),
    ],
)
def test_the_execution_score_is_points_times_the_printed_rate_half_up(points, rate, score):
    assert execution_score(Decimal(points), Decimal(rate)) == Decimal(score)


def test_a_project_form_has_the_lines_of_its_block(project_form):
    assert [line.kind for line in build_table(project_form).budget_rows] == [
        "fiscal",
        "carryover",
        "other",
    ]
    assert table_of(project_form).title == "项目支出绩效自评表"


def test_the_total_is_the_indicators_and_the_execution_score(project_form):
    open_results(project_form)
    table = table_of(project_form)
    total = table.budget_total
    assert (total.initial_budget_amount, total.budget_amount, total.executed_amount) == (
        Decimal("600000.00"),
        Decimal("580000.00"),
        Decimal("499844.00"),
    )
    assert total.execution_rate == Decimal("86.18")
    assert total.score == Decimal("8.62")
    assert table.indicator_points == Decimal("90")
    assert table.indicator_score == Decimal("82.00")
    assert table.total_points == Decimal("100.00")
    assert table.total_score == Decimal("90.62")
    assert table.grade == "优"
    assert table.faults == []


def test_no_execution_score_before_the_results(project_form):
    table = table_of(project_form)
    assert table.budget_total.score is None
    assert table.total_points == Decimal("100.00")


def test_the_sum_of_the_lines_is_the_total_for_each_column(project_form):
    line = BudgetLine.objects.get(evaluation=project_form, kind="other")
    BudgetLine.objects.filter(pk=line.pk).update(
        initial_budget_amount=Decimal("0.01"), budget_amount=Decimal("20000.00")
    )
    total = table_of(project_form).budget_total
    assert total.initial_budget_amount == Decimal("600000.01")
    assert total.budget_amount == Decimal("600000.00")


def test_the_indicators_must_carry_the_share_the_budget_leaves(project_form):
    Indicator.objects.filter(category__group__evaluation=project_form, name="居民满意度").update(
        points=Decimal("12")
    )
    Evaluation.objects.filter(pk=project_form.pk).update(budget_points=Decimal("10"))
    messages = [fault.message for fault in table_of(project_form).faults]
    assert (
        "一级指标“满意度指标”：各指标分值合计 12，与指标库设定的一级指标分值 10 不一致。"
        in messages
    )


def test_the_group_shares_must_add_up_to_the_indicator_share(project_form):
    Evaluation.objects.filter(pk=project_form.pk).update(budget_points=Decimal("20"))
    messages = [fault.message for fault in table_of(project_form).faults]
    assert "各一级指标分值合计 90，应为 80（总分 100，其中年度资金总额 20）。" in messages


def test_spending_above_the_budget_is_a_fault_at_its_line(project_form):
    open_results(project_form)
    BudgetLine.objects.filter(evaluation=project_form, kind="fiscal").update(
        executed_amount=Decimal("600000.00")
    )
    table = table_of(project_form)
    fiscal = table.budget_rows[0]
    assert fiscal.faults == [
        "项目资金·财政拨款：全年执行数 600,000.00 超过全年预算数 580,000.00（执行率 103.44%），"
        "请核对或说明。"
    ]
    # Spending above budget earns no more than 分值.
    assert table.budget_total.score == Decimal("10.00")


def test_a_missing_result_names_the_project_forms_column(project_form):
    open_results(project_form)
    Indicator.objects.filter(category__group__evaluation=project_form, name="居民满意度").update(
        actual_number=None, actual_unit="", score=Decimal("9")
    )
    messages = [fault.message for fault in table_of(project_form).faults]
    assert "“居民满意度”：请填写实际完成值。" in messages
    assert "“居民满意度”：得分 9.00 低于分值 10.00，请填写偏差原因分析及改进措施。" in messages


def test_a_qualitative_score_outside_its_band_is_a_fault(project_form):
    open_results(project_form)
    Indicator.objects.filter(name="预警处置长效机制").update(score=Decimal("11.00"))
    messages = [fault.message for fault in table_of(project_form).faults]
    assert any(
        message.startswith("“预警处置长效机制”：实际完成值为“达成指标”，得分应在分值的80%–100%")
        for message in messages
    ), messages


def test_a_first_year_project_has_no_carryover(project_form):
    line = BudgetLine.objects.get(evaluation=project_form, kind="carryover")
    line.initial_budget_amount = Decimal("100.00")
    with pytest.raises(ValidationError) as refused:
        line.full_clean()
    assert "是项目实施的第一年，没有上年结转资金" in str(refused.value)


def test_a_continuing_project_may_carry_money_over(unit):
    from .conftest import make_project_form

    form = make_project_form(unit, which=1)
    line = BudgetLine.objects.get(evaluation=form, kind="carryover")
    assert line.initial_budget_amount == Decimal("50000.00")
    line.full_clean()


def test_one_form_per_project_and_year(project_form):
    with pytest.raises(IntegrityError), transaction.atomic():
        Evaluation.objects.create(
            kind=FormKind.PROJECT,
            project=project_form.project,
            unit=project_form.unit,
            year=2023,
            budget_points=Decimal("10"),
        )


def test_a_project_form_does_not_take_the_overall_forms_place(unit, project_form):
    overall = Evaluation.objects.create(unit=unit, year=2023)
    assert overall.kind == FormKind.OVERALL
    with pytest.raises(IntegrityError), transaction.atomic():
        Evaluation.objects.create(unit=unit, year=2023)


def test_a_project_form_belongs_to_its_projects_unit(project_form, other_unit):
    project_form.unit = other_unit
    with pytest.raises(ValidationError) as refused:
        project_form.clean()
    assert "项目不属于该单位" in str(refused.value)
    created = Evaluation.objects.create(
        kind=FormKind.PROJECT,
        project=project_form.project,
        unit=other_unit,
        year=2024,
        budget_points=Decimal("10"),
    )
    assert created.unit == project_form.project.unit


def test_kind_and_project_go_together(unit):
    with pytest.raises(IntegrityError), transaction.atomic():
        Evaluation.objects.create(unit=unit, year=2023, kind=FormKind.PROJECT)


def test_the_phases_open_the_project_forms_fields(project_form):
    assert project_form.editable_fields("budgetline") == ("initial_budget_amount",)
    assert "weight" in project_form.editable_fields("indicatorgroup")
    open_results(project_form)
    assert project_form.editable_fields("budgetline") == ("budget_amount", "executed_amount")
    line = BudgetLine.objects.get(evaluation=project_form, kind="fiscal")
    line.initial_budget_amount = Decimal("1.00")
    with pytest.raises(Exception, match="年初目标已审核"):
        line.save()


def test_a_project_form_walks_both_phases(project_form, staff, reviewer):
    workflow.submit(project_form, by=staff)
    workflow.approve(project_form, by=reviewer)
    project_form.refresh_from_db()
    assert project_form.state_display == "年末自评 · 草稿"
    workflow.submit(project_form, by=staff)
    workflow.return_for_revision(
        project_form, by=reviewer, reason="请补充试点整改计划。", comments={"budget-fiscal": "核对"}
    )
    workflow.submit(project_form, by=staff)
    workflow.approve(project_form, by=reviewer)
    project_form.refresh_from_db()
    assert project_form.is_final
    assert [event.action for event in project_form.review_events.order_by("pk")] == [
        "submit",
        "approve",
        "submit",
        "return",
        "submit",
        "approve",
    ]


def test_the_demo_has_two_project_forms_of_the_sample_unit(db):
    overall, _ = load_demo()
    forms = Evaluation.objects.filter(kind=FormKind.PROJECT).order_by("project__code")
    assert [(form.project.name, form.state_display) for form in forms] == [
        ("110非警务联动处置平台运维项目", "年末自评 · 草稿"),
        ("消防通道乱停车预警智能分析项目", "年末自评 · 已提交"),
    ]
    assert {form.unit_id for form in forms} == {overall.unit_id}
    # Within the overall form's 项目支出 line.
    spent = sum((build_table(form).budget_total.budget_amount for form in forms), Decimal("0"))
    project_line = overall.budget_lines.get(kind="project")
    assert spent <= project_line.budget_amount
    assert Project.objects.count() == 2
    # Loading again keeps what is there.
    load_demo()
    assert Evaluation.objects.filter(kind=FormKind.PROJECT).count() == 2
    assert PROJECT.scores_budget


# ------------------------------------------------------------------ the entry page


def test_the_entry_page_shows_the_project_forms_blocks(staff_client, project_form):
    page = staff_client.get(entry_url(project_form)).content.decode()
    for text in (
        "项目名称",
        "消防通道乱停车预警智能分析项目（PJ-2023-001）",
        "主管部门",
        "浦锦街道",
        "实施单位",
        "项目资金（元）",
        "年初预算数",
        "年度资金总额",
        "其中：当年财政拨款",
        "上年结转资金",
        "预期目标",
        "实际完成情况",
        "实际完成值",
        "偏差原因分析及改进措施",
        "自评等级",
    ):
        assert text in page, text
    assert "下属单位个数" not in page and "整体支出规模" not in page
    # The targets phase opens 年初预算数, not the year's 全年预算数.
    assert 'name="budget-fiscal-initial_budget_amount"' in page
    assert 'name="budget-fiscal-budget_amount"' not in page


def test_the_overall_entry_page_has_no_initial_budget(staff_client, sample):
    page = staff_client.get(entry_url(sample)).content.decode()
    assert "年初预算数" not in page and "年度资金总额" not in page
    assert "下属单位个数" in page


def test_targets_save_the_initial_budget(
    staff_client,
    project_form,
):
    fields = fields_of(staff_client, project_form)
    fields["budget-fiscal-initial_budget_amount"] = ["620,000.00"]
    fields["action"] = ["save"]
    response = staff_client.post(entry_url(project_form), fields)
    assert response.status_code == 302
    line = BudgetLine.objects.get(evaluation=project_form, kind="fiscal")
    assert line.initial_budget_amount == Decimal("620000.00")


def test_a_first_year_carryover_is_refused_at_its_field(
    staff_client,
    project_form,
):
    fields = fields_of(staff_client, project_form)
    fields["budget-carryover-initial_budget_amount"] = ["100.00"]
    fields["action"] = ["save"]
    response = staff_client.post(entry_url(project_form), fields)
    assert response.status_code == 400
    assert "没有上年结转资金" in response.content.decode()
    line = BudgetLine.objects.get(evaluation=project_form, kind="carryover")
    assert line.initial_budget_amount == Decimal("0.00")


def test_results_save_the_years_budget_and_the_score_follows(
    staff_client,
    project_form,
):
    open_results(project_form)
    fields = fields_of(staff_client, project_form)
    fields["budget-fiscal-executed_amount"] = ["580,000.00"]
    preview = staff_client.post(preview_url(project_form), fields).json()
    assert preview["budget_total"] == {
        "initial_budget_amount": "600,000.00",
        "budget_amount": "580,000.00",
        "executed_amount": "580,000.00",
        "rate": "100.00",
        "score": "10.00",
    }
    assert preview["total"]["score"] == "92"
    fields["action"] = ["save"]
    assert staff_client.post(entry_url(project_form), fields).status_code == 302
    assert table_of(project_form).total_score == Decimal("92.00")


def test_the_admin_shows_each_forms_own_budget_columns(admin_client, sample, project_form):
    from django.urls import reverse

    def page_of(evaluation):
        url = reverse("admin:evaluations_evaluation_change", args=[evaluation.pk])
        return admin_client.get(url).content.decode()

    project_page, overall_page = page_of(project_form), page_of(sample)
    assert "年初预算数" in project_page and "上年结转资金" in project_page
    assert "年初预算数" not in overall_page
    assert 'name="kind"' not in project_page and 'name="project"' not in project_page


def test_renaming_the_project_or_its_supervisor_shows_on_the_cached_page(
    staff_client, project_form
):
    from django.urls import reverse

    from evaluations.models import Unit

    url = reverse("evaluation_table", args=[project_form.pk])
    assert "消防通道乱停车预警智能分析项目" in staff_client.get(url).content.decode()
    Project.objects.filter(pk=project_form.project_id).update(name="消防通道预警项目（二期）")
    Unit.objects.filter(pk=project_form.unit.parent_id).update(name="浦锦街道办事处")
    page = staff_client.get(url).content.decode()
    assert "消防通道预警项目（二期）" in page and "浦锦街道办事处" in page


def test_the_pdf_download_tells_the_page_it_has_arrived(staff_client, project_form):
    from django.urls import reverse

    url = reverse("evaluation_pdf", args=[project_form.pk])
    response = staff_client.get(url, {"ready": "0123456789abcdef"})
    assert response.status_code == 200
    assert response.cookies["pdf-ready"].value == "0123456789abcdef"
    # A mark that is not one of the page's is not echoed back.
    response = staff_client.get(url, {"ready": "<script>"})
    assert "pdf-ready" not in response.cookies


def test_the_lists_show_the_project_forms_total_with_its_execution_score(
    client, project_form, staff, reviewer
):
    from django.urls import reverse

    workflow.submit(project_form, by=staff)
    workflow.approve(project_form, by=reviewer)
    workflow.submit(project_form, by=staff)
    client.force_login(reviewer)
    # 82 of the indicators and 8.62 of the execution: the 总分 the form prints.
    assert "90.62" in client.get(reverse("review_queue")).content.decode()
    assert "90.62" in client.get(reverse("todo")).content.decode()
