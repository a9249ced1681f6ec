"""The overview of the project forms: one row per form with its project, units,
stage, money, 总分 (= the indicators' 得分 + the execution score) and 自评等级, its
workbook, and a fixed number of queries whatever the number of projects."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from evaluations.models import BudgetLine, Evaluation, Project, Unit
from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from .conftest import make_project_form, open_results

OVERVIEW = reverse("overview")
# As the overall overview (test_overview.OVERVIEW_QUERIES) less its counts' own
# query: the project forms' counts are taken from the rows.
PROJECT_OVERVIEW_QUERIES = 7


def make_project_forms(units: list[Unit], per_unit: int, year: int = 2023) -> None:
    """`per_unit` project forms of every unit, in the results phase, written in bulk:
    年度资金总额 1,000,000.00 budgeted, two scored rows each."""
    projects = Project.objects.bulk_create(
        Project(unit=unit, code=f"{unit.code}-X{number:02}", name=f"项目{number}", first_year=year)
        for unit in units
        for number in range(per_unit)
    )
    forms = Evaluation.objects.bulk_create(
        Evaluation(
            kind=Evaluation.Kind.PROJECT,
            project=project,
            unit=project.unit,
            year=year,
            subordinate_unit_count=0,
            budget_points=Decimal("10"),
            phase="results",
            status="submitted",
        )
        for project in projects
    )
    BudgetLine.objects.bulk_create(
        BudgetLine(
            evaluation=form,
            kind=kind,
            budget_amount=Decimal("1000000") if kind == "fiscal" else 0,
            executed_amount=Decimal("900000") if kind == "fiscal" else 0,
        )
        for form in forms
        for kind in ("fiscal", "carryover", "other")
    )
    groups = IndicatorGroup.objects.bulk_create(
        IndicatorGroup(evaluation=form, name="产出指标", weight=90) for form in forms
    )
    categories = IndicatorCategory.objects.bulk_create(
        IndicatorCategory(group=group, name="数量指标") for group in groups
    )
    Indicator.objects.bulk_create(
        Indicator(category=category, name=f"指标{row}", points=45, score=40)
        for category in categories
        for row in range(2)
    )


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def test_a_project_form_row_adds_the_execution_score(reviewer_client, sample, unit):
    form = make_project_form(unit, 0)
    open_results(form)
    response = reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project"})
    [row] = response.context["rows"]
    assert (row.project_name, row.unit_name, row.parent_name) == (
        "消防通道乱停车预警智能分析项目",
        "上海市闵行区浦锦街道城市运行管理中心",
        "浦锦街道",
    )
    assert (row.budget_total, row.executed_total) == (Decimal("580000.00"), Decimal("499844.00"))
    assert row.execution_rate == Decimal("86.18")
    assert row.execution_score == Decimal("8.62")
    assert row.total_score == Decimal("90.62") and row.grade == "优"
    assert (row.targets, row.results) == ("已审核", "草稿")
    page = response.content.decode()
    assert "2023年度项目支出绩效自评总览" in page and "580,000.00" in page and "90.62" in page
    # The overall forms' overview is the default and lists the unit, not the project.
    overall = reviewer_client.get(OVERVIEW, {"year": "2023"})
    assert "部门（单位）整体支出绩效自评总览" in overall.content.decode()
    assert [row.evaluation_pk for row in overall.context["rows"] if row.evaluation_pk] == [
        sample.pk
    ]


def test_a_targets_draft_has_no_score_yet(reviewer_client, unit):
    make_project_form(unit, 0)  # targets phase: no execution score, no 总分 before results
    Indicator.objects.update(score=None)
    [row] = reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project"}).context["rows"]
    assert row.execution_score is None and row.total_score is None and row.grade == ""
    assert row.stage == "年初目标·草稿"


def test_filters_sorting_and_counts(reviewer_client, unit, other_unit):
    make_project_forms([unit, other_unit], 2)
    Evaluation.objects.filter(project__code=f"{unit.code}-X01").update(status="approved")
    rows = reviewer_client.get(
        OVERVIEW, {"year": "2023", "kind": "project", "stage": "results-approved"}
    ).context["rows"]
    assert [row.project_code for row in rows] == [f"{unit.code}-X01"]
    response = reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project", "sort": "-code"})
    codes = [row.project_code for row in response.context["rows"]]
    assert codes == sorted(codes, reverse=True) and len(codes) == 4
    counts = {key: count for key, _, count in response.context["counts"]}
    assert counts["results-submitted"] == 3 and counts["results-approved"] == 1
    # 80 + 10 × 90.00 % = 89.00: 良
    assert {row.total_score for row in response.context["rows"]} == {Decimal("89.00")}
    assert (
        reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project", "grade": "优"}).context[
            "rows"
        ]
        == []
    )
    odd = reviewer_client.get(OVERVIEW, {"kind": "<x>", "sort": "-nothing", "year": "年"})
    assert odd.status_code == 200 and "部门（单位）整体支出绩效自评总览" in odd.content.decode()


def test_other_districts_project_forms_are_not_shown(client, other_reviewer, unit):
    make_project_form(unit, 0)
    client.force_login(other_reviewer)
    assert client.get(OVERVIEW, {"year": "2023", "kind": "project"}).context["rows"] == []


def test_the_project_workbook(reviewer_client, unit):
    form = make_project_form(unit, 0)
    open_results(form)
    response = reviewer_client.get(
        reverse("overview_workbook"), {"year": "2023", "kind": "project"}
    )
    assert "2023%E5%B9%B4%E5%BA%A6%E9%A1%B9%E7%9B%AE" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[1]][:4] == ["项目编码", "项目名称", "实施单位", "主管部门"]
    values = [cell.value for cell in sheet[2]]
    assert values[:4] == [
        "PJ-2023-001",
        "消防通道乱停车预警智能分析项目",
        "上海市闵行区浦锦街道城市运行管理中心",
        "浦锦街道",
    ]
    assert values[6:11] == [580000, 499844, 86.18, 90.62, "优"]


@pytest.mark.parametrize("per_unit", [1, 20])
def test_the_project_overview_runs_a_fixed_number_of_queries(
    reviewer_client, district, per_unit, django_assert_num_queries
):
    parent = Unit.objects.create(code="310112-P", name="主管部门", district=district)
    units = Unit.objects.bulk_create(
        Unit(code=f"310112-U{number:02}", name=f"单位{number}", district=district, parent=parent)
        for number in range(10)
    )
    make_project_forms(units, per_unit)
    with django_assert_num_queries(PROJECT_OVERVIEW_QUERIES):
        response = reviewer_client.get(
            OVERVIEW, {"year": "2023", "kind": "project", "sort": "-score"}
        )
    assert len(response.context["rows"]) == 10 * per_unit
    with django_assert_num_queries(PROJECT_OVERVIEW_QUERIES):
        reviewer_client.get(
            OVERVIEW,
            {"year": "2023", "kind": "project", "parent": parent.pk, "stage": "results-draft"},
        )


def test_a_district_of_project_forms_comes_in_pages(reviewer_client, district):
    units = Unit.objects.bulk_create(
        Unit(code=f"310112-U{number:02}", name=f"单位{number}", district=district)
        for number in range(11)
    )
    make_project_forms(units, 20)
    first = reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project"})
    assert len(first.context["rows"]) == 200 and first.context["total"] == 220
    page = first.content.decode()
    assert "第 1 / 2 页（共 220 张，每页 200 张）" in page and "page=2" in page
    assert "总分分布（220 个项目自评表中已评分的）" in page
    second = reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project", "page": "2"})
    assert [row.project_code for row in second.context["rows"]][-1] == "310112-U10-X19"
    assert len(second.context["rows"]) == 20
    odd = reviewer_client.get(OVERVIEW, {"year": "2023", "kind": "project", "page": "九"})
    assert odd.status_code == 200 and len(odd.context["rows"]) == 200
    sheet = openpyxl.load_workbook(
        io.BytesIO(reviewer_client.get(reverse("overview_workbook"), {"kind": "project"}).content)
    ).active
    assert sheet.max_row == 221  # the workbook has them all
