"""Where a unit works: its home page lists the overall form and every project form,
starting a year starts the project forms too (confirmed in one step), a project
form can start on its own, and units add projects where their district allows."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluations import years
from evaluations.demo import fill_evaluation, sample_data
from evaluations.models import Evaluation, Project
from indicators.models import BudgetPoints, Indicator, IndicatorTemplate

from .test_years import make_template, rows_of

START = reverse("start_evaluation")
CONFIRM = reverse("start_year_confirm")


def make_project_template(year: int = 2024) -> None:
    lines = [
        ("产出指标", "50", "数量指标", "视频通道接入数", "40", "≥20.00(路)"),
        ("产出指标", "50", "时效指标", "项目完成及时性", "10", "及时"),
        ("效益指标", "30", "社会效益指标", "乱停车处置效率提升", "30", "提升"),
        ("满意度指标", "10", "服务对象满意度指标", "居民满意度", "10", "≥90.00(%)"),
    ]
    IndicatorTemplate.objects.bulk_create(
        IndicatorTemplate(
            form_kind=Evaluation.Kind.PROJECT,
            year=year,
            position=position,
            group_name=group,
            group_weight=Decimal(weight),
            category_name=category,
            name=name,
            points=Decimal(points),
            default_target=target,
        )
        for position, (group, weight, category, name, points, target) in enumerate(lines, 1)
    )


def make_project(
    unit, code="P-001", name="消防通道乱停车预警智能分析项目", first_year=2024, **more
):
    return Project.objects.create(unit=unit, code=code, name=name, first_year=first_year, **more)


def bare_project_form(project, year=2024, **fields) -> Evaluation:
    return Evaluation.objects.create(
        kind=Evaluation.Kind.PROJECT,
        project=project,
        year=year,
        budget_points=Decimal("10"),
        **fields,
    )


def test_the_confirmation_lists_what_starting_the_year_creates(staff_client, unit):
    make_template()
    make_project_template()
    make_project(unit, "P-001", "消防通道乱停车预警智能分析项目")
    make_project(unit, "P-002", "已结束的项目", first_year=2020, last_year=2023)
    make_project(unit, "P-003", "明年开始的项目", first_year=2025)
    response = staff_client.get(CONFIRM, {"unit": unit.pk, "year": "2024", "source": "template"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "消防通道乱停车预警智能分析项目" in page and "按项目支出指标库新建" in page
    assert "已结束的项目" not in page and "明年开始的项目" not in page
    assert "确认新建（共 2 张自评表）" in page
    assert not Evaluation.objects.exists()  # the confirmation writes nothing


def test_one_confirmation_starts_the_overall_and_every_project_form(staff_client, unit):
    make_template()
    make_project_template()
    BudgetPoints.objects.create(year=2024, points=Decimal("20"))
    first = make_project(unit, "P-001")
    second = make_project(unit, "P-002", "城市运行平台运维项目")
    response = staff_client.post(
        START,
        {
            "unit": unit.pk,
            "year": "2024",
            "source": "template",
            "confirmed": "1",
            "project": [first.pk, second.pk],
        },
    )
    overall = Evaluation.objects.get(unit=unit, year=2024, kind="overall")
    assert response["Location"] == reverse("evaluation_entry", args=[overall.pk])
    forms = Evaluation.objects.filter(kind="project").order_by("project__code")
    assert [form.project for form in forms] == [first, second]
    form = forms[0]
    assert (form.unit, form.phase, form.status) == (unit, "targets", "draft")
    assert form.budget_points == Decimal("20.00")
    assert sorted(form.budget_lines.values_list("kind", flat=True)) == [
        "carryover",
        "fiscal",
        "other",
    ]
    assert rows_of(form) == [
        ("产出指标", "数量指标", "视频通道接入数", Decimal("40.00")),
        ("产出指标", "时效指标", "项目完成及时性", Decimal("10.00")),
        ("效益指标", "社会效益指标", "乱停车处置效率提升", Decimal("30.00")),
        ("满意度指标", "服务对象满意度指标", "居民满意度", Decimal("10.00")),
    ]
    assert form.indicator_groups.get(name="产出指标").weight == Decimal("50.00")


def test_a_list_changed_since_the_confirmation_creates_nothing(staff_client, unit):
    make_template()
    make_project_template()
    first = make_project(unit, "P-001")
    make_project(unit, "P-002", "确认之后才添加的项目")
    response = staff_client.post(
        START,
        {"unit": unit.pk, "year": "2024", "source": "template", "confirmed": "1",
         "project": [first.pk]},
        follow=True,
    )  # fmt: skip
    assert "要新建的项目清单已有变化，请核对后重新确认。" in response.content.decode()
    assert not Evaluation.objects.exists()


def test_a_missing_project_template_refuses_the_whole_start(staff_client, unit):
    make_template()
    make_project(unit)
    page = staff_client.get(
        CONFIRM, {"unit": unit.pk, "year": "2024", "source": "template"}
    ).content.decode()
    assert "2024年度的项目支出指标库尚未建立，请联系管理员。" in page and "确认新建" not in page
    response = staff_client.post(
        START, {"unit": unit.pk, "year": "2024", "source": "template"}, follow=True
    )
    assert "2024年度的项目支出指标库尚未建立" in response.content.decode()
    assert not Evaluation.objects.exists()  # not even the overall form


def test_a_continuing_project_starts_from_its_last_targets(staff, unit):
    project = make_project(unit, first_year=2023)
    last = bare_project_form(project, 2023, target_text="<p>接入视频通道20路</p>")
    data = sample_data()  # the sample's tree, borrowed for the project form
    data["budget"] = {}
    fill_evaluation(last, data)
    Evaluation.objects.filter(pk=last.pk).update(phase="results", status="approved")
    make_template(2024)
    make_project_template(2024)  # there, but a continuing project does not use it
    _, [started] = years.start_year(unit, 2024, "template", by=staff)
    assert started.project == project and started.target_text == "<p>接入视频通道20路</p>"
    assert rows_of(started) == rows_of(last)
    copied = Indicator.objects.filter(category__group__evaluation=started)
    assert copied.count() == 24
    assert Indicator.objects.filter(category__group__evaluation=last).exclude(score=None).exists()
    assert not copied.exclude(score=None).exists() and not copied.exclude(actual_label="").exists()
    assert copied.get(name="巡管员使用率").target_number == Decimal("100.00")


def test_a_single_project_form_starts_later(staff_client, unit, sample):
    make_project_template(2023)
    project = make_project(unit, first_year=2023)
    url = reverse("start_project_form", args=[project.pk])
    response = staff_client.post(url, {"year": "2023"})
    form = Evaluation.objects.get(project=project, year=2023)
    assert response["Location"] == reverse("evaluation_entry", args=[form.pk])
    again = staff_client.post(url, {"year": "2023"}, follow=True).content.decode()
    assert "项目“消防通道乱停车预警智能分析项目”的2023年度自评表已经存在。" in again
    outside = staff_client.post(url, {"year": "2022"}, follow=True).content.decode()
    assert "2022年度不在实施期内" in outside
    assert Evaluation.objects.filter(project=project).count() == 1


@pytest.mark.parametrize(
    "user_name,expected",
    [("other_staff", 404), ("other_reviewer", 404), ("parent_staff", 403), ("reviewer", 403)],
)
def test_a_project_form_for_a_unit_the_user_does_not_fill_is_refused(
    client, cast, unit, user_name, expected
):
    make_project_template(2024)
    project = make_project(unit)
    client.force_login(cast[user_name])
    response = client.post(reverse("start_project_form", args=[project.pk]), {"year": "2024"})
    assert response.status_code == expected
    assert not Evaluation.objects.exists()


def test_units_add_projects_only_where_the_district_allows(staff_client, unit, district):
    data = {"unit": unit.pk, "code": "P-NEW", "name": "新增项目", "first_year": "2024"}
    response = staff_client.post(reverse("add_project"), data)
    assert response.status_code == 403
    assert "闵行区未允许单位自行添加项目" in response.content.decode()
    assert "添加项目" not in staff_client.get(reverse("home")).content.decode()
    district.units_add_projects = True
    district.save()
    assert 'action="/projects/add/"' in staff_client.get(reverse("home")).content.decode()
    response = staff_client.post(reverse("add_project"), data, follow=True)
    assert "已为上海市闵行区浦锦街道城市运行管理中心添加项目“新增项目”（P-NEW）。" in (
        response.content.decode()
    )
    project = Project.objects.get(code="P-NEW")
    assert (project.unit, project.first_year, project.last_year) == (unit, 2024, None)
    duplicate = staff_client.post(reverse("add_project"), {**data, "name": "重复"}, follow=True)
    assert "项目编码：具有 项目编码 的 项目 已存在。" in duplicate.content.decode()
    backwards = {**data, "code": "P-B", "first_year": "2025", "last_year": "2024"}
    page = staff_client.post(reverse("add_project"), backwards, follow=True).content.decode()
    assert "结束年度不能早于起始年度。" in page
    odd = {**data, "code": "P-C", "first_year": "二〇二四"}
    assert staff_client.post(reverse("add_project"), odd).status_code == 302
    assert Project.objects.count() == 1


@pytest.mark.parametrize(
    "user_name,expected", [("other_staff", 404), ("parent_staff", 403), ("reviewer", 403)]
)
def test_a_project_for_a_unit_the_user_does_not_fill_is_refused(
    client, cast, unit, district, user_name, expected
):
    district.units_add_projects = True
    district.save()
    client.force_login(cast[user_name])
    data = {"unit": unit.pk, "code": "P-NEW", "name": "新增项目", "first_year": "2024"}
    assert client.post(reverse("add_project"), data).status_code == expected
    assert not Project.objects.exists()


def test_home_lists_both_kinds_with_filters_and_counts(staff_client, sample, unit):
    first = bare_project_form(make_project(unit, "P-001", first_year=2023), 2023)
    bare_project_form(make_project(unit, "P-002", "城市运行平台运维项目", first_year=2023), 2023)
    Evaluation.objects.filter(pk=first.pk).update(status="submitted")
    page = staff_client.get(reverse("home")).content.decode()
    assert page.count('class="project-form"') == 2 and page.count('class="overall-form"') == 1
    assert "消防通道乱停车预警智能分析项目" in page and "城市运行平台运维项目" in page
    assert "共 <strong>3</strong> 张" in page
    assert "项目支出 <strong>2</strong>" in page and "已提交 <strong>1</strong>" in page
    only = staff_client.get(reverse("home"), {"kind": "project", "status": "submitted"})
    page = only.content.decode()
    assert page.count('class="project-form"') == 1 and 'class="overall-form"' not in page
    assert "共 <strong>1</strong> 张" in page
    odd = staff_client.get(reverse("home"), {"kind": "x", "year": "二〇二三", "phase": "<"})
    page = odd.content.decode()
    assert odd.status_code == 200
    assert page.count('class="project-form"') + page.count('class="overall-form"') == 3


# Session and user, roles, the list, its counts and years, the units to start and to add
# projects to, the 指标库 years, the to-do counts and the top bar's count: fewer for
# roles offered less.
HOME_QUERIES = {"staff": 11, "reviewer": 9, "manager": 8}


def home_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200
    return len(queries)


@pytest.mark.parametrize("user_name", ["staff", "reviewer", "manager"])
def test_home_costs_the_same_at_1_and_at_20_projects_per_unit(
    client, cast, sample, unit, other_unit, district, user_name
):
    district.units_add_projects = True
    district.save()
    client.force_login(cast[user_name])
    for each in (unit, other_unit):
        bare_project_form(make_project(each, f"{each.code}-P0", first_year=2023), 2023)
    few = home_queries(client)
    for each in (unit, other_unit):
        for number in range(1, 20):
            bare_project_form(make_project(each, f"{each.code}-P{number}", first_year=2023), 2023)
    assert Evaluation.objects.filter(kind="project").count() == 40
    assert home_queries(client) == few == HOME_QUERIES[user_name]


def test_the_overall_form_shows_its_project_forms_beside_its_project_line(
    staff_client, sample, unit
):
    from .conftest import make_project_form, open_results

    first, second = make_project_form(unit, 0), make_project_form(unit, 1)
    open_results(first)
    Evaluation.objects.filter(pk=first.pk).update(status="submitted")
    line = sample.budget_lines.get(kind="project")
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    section = page[
        page.index('id="project-account"') : page.index(
            "</section>", page.index('id="project-account"')
        )
    ]
    assert "本单位2023年度项目支出绩效自评表" in section
    assert (
        "共 <strong>2</strong> 张，年末自评已提交 <strong>1</strong> 张（其中已审核 <strong>0</strong> 张）"
        in section
    )
    assert (
        f"{line.budget_amount:,.2f}" in section
        and "580,000.00" in section
        and "499,844.00" in section
    )
    assert f"{line.budget_amount - Decimal('580000'):,.2f}" in section
    assert f"{line.executed_amount - Decimal('499844'):,.2f}" in section
    assert "仅供核对，不影响一致性检查和提交" in section
    # Information, never a fault: the overall form's checks are those without projects.
    assert "一致性检查通过" in page
    # The project form itself has no such line, so no such block.
    project_page = staff_client.get(reverse("evaluation_table", args=[second.pk]))
    assert 'id="project-account"' not in project_page.content.decode()


def test_a_project_line_accounted_for_in_full_says_so(staff_client, sample, unit):
    from .conftest import make_project_form

    form = make_project_form(unit, 0)
    line = sample.budget_lines.get(kind="project")
    fiscal = form.budget_lines.get(kind="fiscal")
    type(fiscal).objects.filter(pk=fiscal.pk).update(
        budget_amount=line.budget_amount, executed_amount=line.executed_amount
    )
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "项目自评表合计与项目支出一致。" in page
