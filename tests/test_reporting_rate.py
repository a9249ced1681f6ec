"""The reporting rate (报送率): what each count means, by district and by 主管部门, for
both kinds of form; the workbook; a fixed number of queries at 10 and 7,000 forms."""

import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from evaluations.models import Evaluation, FilingWindow, Project, ReviewEvent
from evaluations.reporting import reporting_rate

from .conftest import make_unit, many_project_forms

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submitted_on(evaluation, day: str, staff, time_machine, hour: int = 10) -> None:
    time_machine.move_to(at(day, hour), tick=False)
    ReviewEvent.objects.create(
        evaluation=evaluation,
        action="submit",
        phase="targets",
        from_status="draft",
        to_status="submitted",
        actor=staff,
    )


@pytest.fixture
def year_of_forms(district, street_office, unit, other_unit, other_district, staff, time_machine):
    """闵行区, targets due 2024-03-31: the sample's unit on time and approved, a second
    unit of 浦锦街道 late and returned, the street office and 新虹街道 (no 主管部门)
    not submitted. 徐汇区 has a form of its own."""
    FilingWindow.objects.create(
        district=district,
        year=2023,
        phase="targets",
        kind="overall",
        opens_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
    )
    approved = Evaluation.objects.create(unit=unit, year=2023, phase="results", status="draft")
    submitted_on(approved, "2024-03-31", staff, time_machine, hour=23)
    second = make_unit("310112-PJ-2", "浦锦街道第二中心", district, street_office)
    returned = Evaluation.objects.create(unit=second, year=2023, status="returned")
    submitted_on(returned, "2024-04-01", staff, time_machine, hour=0)
    Evaluation.objects.create(unit=other_unit, year=2023, status="draft")
    elsewhere = make_unit("310104-X", "徐汇区某单位", other_district)
    Evaluation.objects.create(unit=elsewhere, year=2023, status="submitted")


def counts(row) -> dict:
    return {name: getattr(row, name) for name in ("label", *COLUMNS)}


COLUMNS = ("expected", "submitted", "on_time", "late", "returned", "approved", "overdue")


def test_the_counts_by_district_and_by_parent(year_of_forms, reviewer, district, time_machine):
    time_machine.move_to(at("2024-04-10"), tick=False)
    report = reporting_rate(reviewer, 2023, "overall", "targets")
    [row] = report.districts
    assert counts(row) == {
        "label": "闵行区",
        "expected": 4,
        "submitted": 2,
        "on_time": 1,  # the last hour of the due day is on time
        "late": 1,
        "returned": 1,
        "approved": 1,
        "overdue": 2,
    }
    assert row.rate == Decimal("50.00") and row.due_on == date(2024, 3, 31)
    assert [counts(row) for row in report.parents] == [
        {
            "label": "浦锦街道",
            "expected": 3,
            "submitted": 2,
            "on_time": 1,
            "late": 1,
            "returned": 1,
            "approved": 1,
            "overdue": 1,
        },
        {
            "label": "闵行区新虹街道",
            "expected": 1,
            "submitted": 0,
            "on_time": 0,
            "late": 0,
            "returned": 0,
            "approved": 0,
            "overdue": 1,
        },
    ]


def test_nothing_is_overdue_before_the_due_day_has_passed(year_of_forms, reviewer, time_machine):
    time_machine.move_to(at("2024-03-31", 23), tick=False)
    [row] = reporting_rate(reviewer, 2023, "overall", "targets").districts
    assert row.overdue == 0


def test_the_results_phase_counts_its_own_submissions(year_of_forms, reviewer, time_machine):
    time_machine.move_to(at("2024-04-10"), tick=False)
    [row] = reporting_rate(reviewer, 2023, "overall", "results").districts
    # No window for the results: nothing is late or overdue, nothing submitted yet.
    assert counts(row) | {"label": ""} == dict.fromkeys(COLUMNS, 0) | {"label": "", "expected": 4}
    assert row.due_on is None


def test_a_manager_sees_every_district(year_of_forms, manager, time_machine):
    time_machine.move_to(at("2024-04-10"), tick=False)
    report = reporting_rate(manager, 2023, "overall", "targets")
    assert [(row.label, row.expected, row.submitted) for row in report.districts] == [
        ("徐汇区", 1, 1),
        ("闵行区", 4, 2),
    ]
    assert (report.total.expected, report.total.submitted) == (5, 3)


def test_project_forms_expect_one_per_running_project(project_form, unit, reviewer, time_machine):
    # A project that ended before the year is not expected; one without a form is.
    Project.objects.create(unit=unit, code="OLD", name="旧项目", first_year=2020, last_year=2022)
    Project.objects.create(unit=unit, code="NEW", name="新项目", first_year=2023)
    Evaluation.objects.filter(pk=project_form.pk).update(status="submitted")
    [row] = reporting_rate(reviewer, 2023, "project", "targets").districts
    assert (row.expected, row.submitted) == (2, 1)
    page = client_of(reviewer).get(reverse("reporting_rate"), {"year": 2023, "kind": "project"})
    [late] = page.context["late_units"]
    assert (late.code, late.missing) == (unit.code, 1)


def test_the_page_draws_the_tables_and_the_chart(year_of_forms, reviewer, district, time_machine):
    time_machine.move_to(at("2024-04-10"), tick=False)
    response = client_of(reviewer).get(reverse("reporting_rate"), {"year": "2023"})
    page = response.content.decode()
    assert "<h1>2023年度部门（单位）整体支出（年初目标）报送情况</h1>" in page
    assert f'<tr id="district-{district.pk}">' in page
    assert "<td>2024-03-31</td>" in page and "50.00%" in page
    # The bars' widths come in the nonce'd style block: 1 of 4 on time, 1 of 4 late.
    assert f"#district-{district.pk}-on-time {{ width: 25.00%; }}" in page
    assert f"#district-{district.pk}-late {{ width: 25.00%; }}" in page
    assert 'style="' not in page
    # Not submitted now, with their 催办 buttons: the returned one has to submit again.
    assert page.count('<tr id="late-') == 3


def test_bad_filters_fall_back(year_of_forms, reviewer):
    for query in ({"year": "abc"}, {"year": "99999"}, {"kind": "x", "phase": "y"}):
        response = client_of(reviewer).get(reverse("reporting_rate"), query)
        assert response.status_code == 200


def test_the_workbook_has_both_tables(year_of_forms, reviewer, time_machine):
    time_machine.move_to(at("2024-04-10"), tick=False)
    response = client_of(reviewer).get(reverse("reporting_rate_workbook"), {"year": "2023"})
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    assert "attachment" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["按区", "按主管部门"]
    by_district = [list(row) for row in workbook["按区"].iter_rows(values_only=True)]
    assert by_district[0][:4] == ["区", "主管部门", "截止日期", "应报"]
    assert by_district[1][0] == "闵行区"
    assert by_district[1][2].date() == date(2024, 3, 31)
    assert by_district[1][3:] == [4, 2, 1, 1, 1, 1, 2, 50, 25]
    by_parent = [list(row) for row in workbook["按主管部门"].iter_rows(values_only=True)]
    assert [row[:2] for row in by_parent[1:]] == [
        ["闵行区", "浦锦街道"],
        ["闵行区", "闵行区新虹街道"],
    ]


# --- a fixed number of queries


@pytest.mark.parametrize("count", [10, 7000])
def test_the_page_runs_a_fixed_number_of_queries(
    count, district, staff, reviewer, django_assert_num_queries
):
    FilingWindow.objects.create(
        district=district,
        year=2023,
        phase="targets",
        kind="project",
        opens_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
    )
    many_project_forms(district, count, staff)
    client = client_of(reviewer)
    query = {"year": "2023", "kind": "project", "phase": "targets"}
    client.get(reverse("reporting_rate"), query)
    # Session, user, roles; the years; the districts, their windows; what is expected,
    # the forms' counts (both grouped by district and 主管部门); the units not
    # submitted, the 催办 log; the top bar's count.
    with django_assert_num_queries(11):
        response = client.get(reverse("reporting_rate"), query)
    [row] = response.context["report"].districts
    assert row.expected == count
    assert row.submitted == count * 4 // 5
    assert row.approved == count * 2 // 5
    assert len(response.context["report"].parents) == 10
