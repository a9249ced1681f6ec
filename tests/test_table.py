"""The table structure built from the sample: the golden reference of docs/domain.md §2."""

from decimal import Decimal

import pytest

from evaluations.models import Evaluation, truncate_percent
from evaluations.table import build_table


@pytest.fixture
def table(sample):
    return build_table(Evaluation.objects.with_table().get(pk=sample.pk))


def test_budget_block_to_the_cent(table):
    rows = {row.kind: row for row in table.budget_rows}
    assert [row.kind for row in table.budget_rows] == ["fiscal", "other", "basic", "project"]
    assert (rows["fiscal"].budget_amount, rows["fiscal"].executed_amount) == (
        Decimal("8278261.03"),
        Decimal("8275824.74"),
    )
    assert rows["fiscal"].execution_rate == Decimal("99.97")
    assert rows["other"].execution_rate == Decimal("0.00")
    assert rows["basic"].execution_rate == Decimal("99.92")  # 99.929…, truncated
    assert rows["project"].execution_rate == Decimal("100.00")


def test_execution_rate_truncates_and_survives_a_zero_budget():
    assert truncate_percent(Decimal("3441760.72"), Decimal("3444197.01")) == Decimal("99.92")
    assert truncate_percent(Decimal("0.00"), Decimal("0.00")) == Decimal("0.00")
    assert truncate_percent(Decimal("5.00"), Decimal("0.00")) == Decimal("0.00")
    assert truncate_percent(Decimal("2"), Decimal("3")) == Decimal("66.66")


def test_indicator_hierarchy_and_rowspans(table):
    assert [(group.name, group.weight, group.rowspan) for group in table.groups] == [
        ("投入管理指标", Decimal("30"), 7),
        ("产出指标", Decimal("25"), 12),
        ("效益指标", Decimal("35"), 4),
        ("满意度指标", Decimal("10"), 1),
    ]
    output = table.groups[1]
    assert [(category.name, category.rowspan) for category in output.categories] == [
        ("数量指标", 5),
        ("质量指标", 7),
    ]
    assert table.groups[0].note == "根据沪财预【2022】13号文的规定要求设置三级指标和指标值"
    assert [category.name for category in table.groups[0].categories] == [
        "预算编审管理",
        "预算执行管理",
        "预算绩效管理",
        "资产管理",
        "预算透明度",
        "内部控制管理",
        "预算信息化",
    ]
    assert [row.points for row in table.groups[0].rows] == [
        Decimal(points) for points in ["7.50", "10.20", "4.50", "0.90", "3.00", "2.40", "1.50"]
    ]
    assert table.row_count == 24


def test_rows_read_as_the_form_writes_them(table):
    rows = {row.name: row for group in table.groups for row in group.rows}
    assert (rows["巡管员使用率"].target, rows["巡管员使用率"].actual) == ("=100.00(%)", "100.00(%)")
    assert rows["联动执法机动分队人员完备数"].target == "=12.00(人)"
    assert (
        rows["居村工作站考核工作覆盖数量"].target,
        rows["居村工作站考核工作覆盖数量"].actual,
    ) == (
        "=33.00(个)",
        "35.00(个)",
    )
    assert rows["居村工作站考核工作覆盖数量"].score == Decimal("1.00")
    assert rows["巡查、整治工作考核达标率"].target == "≥90.00(%)"
    assert (rows["基础社会治理能力提升情况"].target, rows["基础社会治理能力提升情况"].actual) == (
        "提升",
        "达成指标",
    )
    assert rows["巡查责任网格覆盖率"].score == Decimal("8.00")
    assert rows["巡查责任网格覆盖率"].deviation_reason.endswith("=95%")
    assert rows["设备使用准确率"].deviation_reason.startswith("因疫情原因")


def test_totals_grade_and_no_fault(table):
    assert [group.score for group in table.groups] == [
        Decimal("30.00"),
        Decimal("23.00"),
        Decimal("33.00"),
        Decimal("10.00"),
    ]
    assert table.total_points == Decimal("100")
    assert table.total_score == Decimal("96")
    assert table.grade == "优"
    assert table.faults == []


def test_header(table, sample):
    assert table.unit_name == "上海市闵行区浦锦街道城市运行管理中心"
    assert table.year == 2023
    assert table.subordinate_unit_count == 0
    assert "做实处置网格" in table.target_text
    assert table.result_text.startswith("<p>平台数据情况")
