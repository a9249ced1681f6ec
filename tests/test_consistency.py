"""The consistency check on the sample changed in the three ways people get it wrong."""

from decimal import Decimal

from evaluations.models import BudgetLine, Evaluation
from evaluations.table import build_table
from indicators.models import Indicator, IndicatorGroup

from .conftest import open_results


def faults_of(evaluation):
    return build_table(Evaluation.objects.with_table().get(pk=evaluation.pk)).faults


def test_the_sample_is_consistent(sample):
    assert faults_of(sample) == []


def test_a_weight_off_by_one(sample):
    output = IndicatorGroup.objects.get(evaluation=sample, name="产出指标")
    output.weight = Decimal("26")
    output.save()
    faults = faults_of(sample)
    assert [(fault.anchor, fault.message) for fault in faults] == [
        (f"group-{output.pk}", "一级指标“产出指标”：各指标分值合计 25，与权重 26 不一致。"),
        ("indicator-total", "各一级指标权重合计 101，应为 100。"),
    ]


def test_a_budget_line_that_breaks_sources_equals_structure(sample):
    BudgetLine.objects.filter(evaluation=sample, kind="basic").update(
        executed_amount=Decimal("3441760.73")
    )
    faults = faults_of(sample)
    assert len(faults) == 1
    assert faults[0].anchor == "budget"
    assert faults[0].message == (
        "整体支出规模·全年执行数：资金来源合计（财政拨款+其他资金）8,275,824.74"
        " 与资金结构合计（基本支出+项目支出）8,275,824.75 不一致，相差 0.01。"
    )


def test_a_lowered_score_without_explanation(sample):
    open_results(sample)
    indicator = Indicator.objects.get(category__group__evaluation=sample, name="群众满意度")
    indicator.score = Decimal("9.00")
    indicator.save()
    faults = faults_of(sample)
    assert [(fault.anchor, fault.message) for fault in faults] == [
        (
            f"indicator-{indicator.pk}",
            "“群众满意度”：得分 9.00 低于分值 10.00，请填写偏差及原因分析。",
        )
    ]
    indicator.deviation_reason = "满意度调查样本不足。"
    indicator.save()
    assert faults_of(sample) == []


def test_a_score_above_its_points_is_a_fault_where_the_database_cannot_stop_it():
    # The database refuses 得分 > 分值 (see test_models); the check still names it for
    # unsaved rows, e.g. a form being previewed.
    from evaluations.consistency import _row_faults
    from evaluations.kinds import OVERALL
    from indicators.models import IndicatorCategory

    indicator = Indicator(
        pk=7,
        category=IndicatorCategory(name="数量指标"),
        name="设备使用率",
        points=Decimal("2.00"),
        score=Decimal("2.50"),
    )
    assert (
        _row_faults(indicator, "targets", OVERALL)[0].message
        == "“设备使用率”：得分 2.50 超过分值 2.00。"
    )


def test_the_results_phase_needs_every_score_and_actual(sample):
    open_results(sample)
    assert faults_of(sample) == []
    rows = Indicator.objects.filter(category__group__evaluation=sample)
    satisfaction = rows.get(name="群众满意度")
    budgeting = rows.get(category__name="预算编审管理")
    Indicator.objects.filter(pk__in=[satisfaction.pk, budgeting.pk]).update(
        score=None, actual_number=None, actual_unit="", actual_label=""
    )
    assert [(fault.anchor, fault.message) for fault in faults_of(sample)] == [
        (f"indicator-{budgeting.pk}", "“预算编审管理”：请填写得分。"),
        (f"indicator-{satisfaction.pk}", "“群众满意度”：请填写全年完成值。"),
        (f"indicator-{satisfaction.pk}", "“群众满意度”：请填写得分。"),
    ]


def test_the_targets_phase_expects_no_scores_yet(sample):
    Indicator.objects.filter(category__group__evaluation=sample).update(
        score=None, actual_number=None, actual_unit="", actual_label=""
    )
    assert faults_of(sample) == []


def test_money_spent_on_a_line_with_no_budget_while_the_totals_balance(sample):
    BudgetLine.objects.filter(evaluation=sample, kind="other").update(
        executed_amount=Decimal("1000.00")
    )
    basic = BudgetLine.objects.get(evaluation=sample, kind="basic")
    BudgetLine.objects.filter(pk=basic.pk).update(
        executed_amount=basic.executed_amount + Decimal("1000.00")
    )
    assert [(fault.anchor, fault.message) for fault in faults_of(sample)] == [
        (
            "budget-other",
            "整体支出规模·其他资金：全年预算数为 0，全年执行数却有 1,000.00，请核对预算数或执行数。",
        )
    ]


def test_spending_above_budget(sample):
    BudgetLine.objects.filter(evaluation=sample, kind="other").update(
        budget_amount=Decimal("2000.00"), executed_amount=Decimal("3000.00")
    )
    BudgetLine.objects.filter(evaluation=sample, kind="basic").update(
        budget_amount=Decimal("3446197.01"), executed_amount=Decimal("3444760.72")
    )
    assert [(fault.anchor, fault.message) for fault in faults_of(sample)] == [
        (
            "budget-other",
            "整体支出规模·其他资金：全年执行数 3,000.00 超过全年预算数 2,000.00"
            "（执行率 150.00%），请核对或说明。",
        )
    ]


def test_a_qualitative_score_outside_its_band(sample):
    open_results(sample)
    indicator = Indicator.objects.get(
        category__group__evaluation=sample, name="基础社会治理能力提升情况"
    )
    indicator.actual_label = "部分达成指标"
    indicator.score = Decimal("8.01")
    indicator.deviation_reason = "部分街道未完成。"
    indicator.save()
    # The group's total moved too; only the row's own fault is asked about here.
    row_faults = [fault for fault in faults_of(sample) if fault.anchor == indicator.anchor]
    assert [fault.message for fault in row_faults] == [
        "“基础社会治理能力提升情况”：全年完成值为“部分达成指标”，"
        "得分应在分值的60%–80%（6.00–8.00）之间，现为 8.01。"
    ]
    for score, label in [("8.00", "部分达成指标"), ("6.00", "部分达成指标"), ("8.00", "达成指标")]:
        indicator.score, indicator.actual_label = Decimal(score), label
        indicator.save()
        assert [f for f in faults_of(sample) if f.anchor == indicator.anchor] == []
    indicator.score, indicator.actual_label = Decimal("7.99"), "达成指标"
    indicator.save()
    assert [f.message for f in faults_of(sample) if f.anchor == indicator.anchor] == [
        "“基础社会治理能力提升情况”：全年完成值为“达成指标”，"
        "得分应在分值的80%–100%（8.00–10.00）之间，现为 7.99。"
    ]
