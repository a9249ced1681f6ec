"""The year overview: scope, figures, filters, sorting, its workbook, its query count."""

import io
from decimal import Decimal

import openpyxl
import pytest

from evaluations.models import BudgetLine, District, Evaluation, Unit
from evaluations.overview import STAGES, distribution, overview_rows
from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from .conftest import make_evaluation, make_unit, targets_only_data

# Session and user (2), the user's roles (1), 主管部门 and years for the filters (2),
# counts per stage (1), the rows (1), the top bar's to-do count (1). (The session is
# written at most once a minute.)
OVERVIEW_QUERIES = 8


def make_year(district: District, count: int, year: int = 2023) -> list[Unit]:
    """`count` units under ten 主管部门, nine in ten with an evaluation: budget lines
    and two scored rows each, written with bulk_create (a second for 1,000 units)."""
    parents = Unit.objects.bulk_create(
        Unit(code=f"{district.code}-P{number:02}", name=f"主管部门{number}", district=district)
        for number in range(10)
    )
    units = Unit.objects.bulk_create(
        Unit(
            code=f"{district.code}-U{number:04}",
            name=f"预算单位{number}",
            district=district,
            parent=parents[number % 10],
        )
        for number in range(count)
    )
    # Every stage of the year in turn (written around the workflow, as a fixture may).
    stages = [key.split("-") for key, _ in STAGES[1:]]
    evaluations = Evaluation.objects.bulk_create(
        Evaluation(
            unit=unit,
            year=year,
            subordinate_unit_count=0,
            phase=stages[number % len(stages)][0],
            status=stages[number % len(stages)][1],
        )
        for number, unit in enumerate(units)
        if number % 10
    )
    lines = []
    for number, evaluation in enumerate(evaluations):
        executed = Decimal(900_000 + number * 100)
        lines += [
            BudgetLine(
                evaluation=evaluation,
                kind="fiscal",
                budget_amount=1_000_000,
                executed_amount=executed,
            ),
            BudgetLine(evaluation=evaluation, kind="other", budget_amount=0, executed_amount=0),
        ]
    BudgetLine.objects.bulk_create(lines)
    groups = IndicatorGroup.objects.bulk_create(
        IndicatorGroup(evaluation=evaluation, name="产出指标", weight=100)
        for evaluation in evaluations
    )
    categories = IndicatorCategory.objects.bulk_create(
        IndicatorCategory(group=group, name="数量指标") for group in groups
    )
    Indicator.objects.bulk_create(
        Indicator(category=category, name=f"指标{row}", points=50, score=50 - number % 45)
        for number, category in enumerate(categories)
        for row in range(2)
    )
    return units


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def test_reviewer_sees_every_unit_of_the_district(reviewer_client, sample, other_staff):
    response = reviewer_client.get("/overview/?year=2023")
    assert response.status_code == 200
    rows = {row.code: row for row in response.context["rows"]}
    assert set(rows) == {"310112-PJ", "310112-PJ-CSYX", "310112-XH"}
    row = rows["310112-PJ-CSYX"]
    # 8,275,824.74 / 8,278,261.03 = 99.9705…%: truncated, not rounded.
    assert row.execution_rate == Decimal("99.97")
    assert row.total_score == Decimal("96.00")
    assert row.grade == "优"
    assert row.evaluation_pk == sample.pk
    assert rows["310112-XH"].targets == "未开始"
    assert rows["310112-XH"].execution_rate is None
    counts = {key: count for key, _, count in response.context["counts"]}
    assert counts["not_started"] == 2
    assert sum(counts.values()) == 3
    page = response.content.decode()
    assert "99.97" in page and "上海市闵行区浦锦街道城市运行管理中心" in page


def test_another_districts_units_are_hidden(reviewer_client, sample):
    elsewhere = District.objects.create(code="310104", name="徐汇区")
    make_evaluation(make_unit("310104-X", "徐汇区某单位", elsewhere))
    codes = {row.code for row in reviewer_client.get("/overview/").context["rows"]}
    assert "310104-X" not in codes


def test_admin_sees_every_district(client, admin_user, sample):
    elsewhere = District.objects.create(code="310104", name="徐汇区")
    make_unit("310104-X", "徐汇区某单位", elsewhere)
    client.force_login(admin_user)
    codes = {row.code for row in client.get("/overview/").context["rows"]}
    assert {"310104-X", "310112-PJ-CSYX"} <= codes


def test_overview_wrong_method(reviewer_client):
    assert reviewer_client.post("/overview/").status_code == 405
    assert reviewer_client.post("/overview.xlsx").status_code == 405


def test_filters_and_sorting(reviewer_client, district):
    make_year(district, 40)
    parent = Unit.objects.get(code="310112-P03")
    rows = reviewer_client.get(f"/overview/?year=2023&parent={parent.pk}").context["rows"]
    # The 主管部门 itself, and its four units.
    assert [row.name for row in rows][0] == "主管部门3"
    assert {row.parent_name for row in rows[1:]} == {"主管部门3"}
    assert len(rows) == 5

    rows = reviewer_client.get("/overview/?year=2023&sort=-score").context["rows"]
    scores = [row.total_score for row in rows if row.total_score is not None]
    assert scores == sorted(scores, reverse=True)
    assert rows[-1].total_score is None  # not started: last either way

    rows = reviewer_client.get("/overview/?year=2023&sort=rate").context["rows"]
    rates = [row.execution_rate for row in rows if row.execution_rate is not None]
    assert rates == sorted(rates)

    rows = reviewer_client.get("/overview/?year=2023&grade=优").context["rows"]
    assert rows and {row.grade for row in rows} == {"优"}

    rows = reviewer_client.get("/overview/?year=2023&stage=not_started").context["rows"]
    assert len(rows) == 4 + 10  # every tenth unit, and the ten 主管部门

    # Unknown values are ignored, not errors.
    response = reviewer_client.get("/overview/?year=abc&stage=x&grade=y&parent=z&sort=q")
    assert response.status_code == 200


def test_status_per_phase_and_counts(reviewer_client, district):
    make_year(district, 70)
    response = reviewer_client.get("/overview/?year=2023")
    counts = {key: count for key, _, count in response.context["counts"]}
    assert counts == {
        "not_started": 7 + 10,
        "targets-draft": 9,
        "targets-submitted": 9,
        "targets-returned": 9,
        "results-draft": 9,
        "results-submitted": 9,
        "results-returned": 9,
        "results-approved": 9,
    }
    columns = {(row.targets, row.results) for row in response.context["rows"]}
    assert columns == {
        ("未开始", "未开始"),
        ("草稿", "未开始"),
        ("已提交", "未开始"),
        ("已退回", "未开始"),
        ("已审核", "草稿"),
        ("已审核", "已提交"),
        ("已审核", "已退回"),
        ("已审核", "已审核"),
    }
    rows = reviewer_client.get("/overview/?year=2023&stage=results-approved").context["rows"]
    assert len(rows) == 9 and {row.results for row in rows} == {"已审核"}
    # Filtering by stage leaves the counts of the other stages in view.
    filtered = reviewer_client.get("/overview/?stage=results-approved")
    assert filtered.context["counts"] == response.context["counts"]


def test_overview_scope_is_that_of_for_user(reviewer, other_reviewer, manager, district):
    make_year(district, 30)
    elsewhere = District.objects.get(code="310104")
    make_evaluation(make_unit("310104-X", "徐汇区某单位", elsewhere))
    for user in (reviewer, other_reviewer, manager):
        shown = {pk for pk in overview_rows(user, 2023).values_list("evaluation_pk", flat=True)}
        assert shown - {None} == set(
            Evaluation.objects.for_user(user).for_year(2023).values_list("pk", flat=True)
        )


def test_a_manager_sees_the_overview(client, manager, sample):
    client.force_login(manager)
    assert client.get("/overview/").status_code == 200


def test_overview_workbook(reviewer_client, sample):
    response = reviewer_client.get("/overview.xlsx?year=2023&sort=-score")
    assert response.status_code == 200
    assert "2023" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("单位编码", "部门（单位）名称", "主管部门")
    first = rows[1]
    assert first[0] == "310112-PJ-CSYX"
    assert first[7] == pytest.approx(99.97) and isinstance(first[7], float)
    assert first[8] == 96
    assert first[9] == "优"


def test_overview_workbook_text_never_becomes_a_formula(reviewer_client, district):
    make_unit("=HYPERLINK(1)", "=1+1", district)
    sheet = openpyxl.load_workbook(io.BytesIO(reviewer_client.get("/overview.xlsx").content)).active
    cell = next(row for row in sheet.iter_rows(min_row=2) if row[1].value == "=1+1")[1]
    assert cell.data_type == "s"
    assert cell.quotePrefix


def test_distribution_bins():
    bars = distribution(
        [Decimal("59.99"), Decimal("60"), Decimal("96"), Decimal("100")],
        [
            ("低", None, Decimal("60")),
            ("中", Decimal("60"), Decimal("90")),
            ("高", Decimal("90"), None),
        ],
    )
    assert [(bar.label, bar.count, bar.percent) for bar in bars] == [
        ("低", 1, 50),
        ("中", 1, 50),
        ("高", 2, 100),
    ]


def test_overview_of_1000_units_runs_a_fixed_number_of_queries(
    reviewer_client, district, django_assert_num_queries
):
    make_year(district, 1000)
    # The work is bounded by the queries: the rows in one, whatever their number.
    with django_assert_num_queries(OVERVIEW_QUERIES):
        response = reviewer_client.get("/overview/?year=2023&sort=-score")
    assert response.status_code == 200
    assert len(response.context["rows"]) == 1010

    # The same with filters: the count does not depend on them.
    parent = Unit.objects.get(code="310112-P01")
    with django_assert_num_queries(OVERVIEW_QUERIES):
        reviewer_client.get(f"/overview/?year=2023&parent={parent.pk}&grade=优&stage=targets-draft")


def test_overview_of_a_few_units_runs_as_many_queries(
    reviewer_client, district, django_assert_num_queries
):
    make_year(district, 20)
    with django_assert_num_queries(OVERVIEW_QUERIES):
        reviewer_client.get("/overview/?year=2023")


def test_export_selection_uses_the_overview_scope(reviewer, district, sample):
    elsewhere = District.objects.create(code="310104", name="徐汇区")
    make_evaluation(make_unit("310104-X", "徐汇区某单位", elsewhere))
    pks = [pk for pk in overview_rows(reviewer, 2023).values_list("evaluation_pk", flat=True) if pk]
    assert pks == [sample.pk]


def test_home_links_to_the_overview_for_reviewers_only(client, reviewer, staff):
    client.force_login(reviewer)
    assert 'href="/overview/"' in client.get("/").content.decode()
    client.force_login(staff)
    assert 'href="/overview/"' not in client.get("/").content.decode()


def test_a_form_of_targets_only_has_no_grade(reviewer_client, unit):
    make_evaluation(unit, data=targets_only_data())

    rows = {row.code: row for row in reviewer_client.get("/overview/?year=2023").context["rows"]}

    assert rows["310112-PJ-CSYX"].total_score is None
    assert rows["310112-PJ-CSYX"].grade == ""
    assert not list(reviewer_client.get("/overview/?year=2023&grade=差").context["rows"])
