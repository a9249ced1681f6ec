"""Projects of units: the xlsx import of a project list (scoped like units, all or
nothing, faults at their Excel rows), the project admin's scope, the 表类型 of the
指标库 and the yearly 项目资金分值."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from evaluations.models import Evaluation, Project
from evaluations.resources import ProjectResource, districts_open_to_import
from indicators.models import BudgetPoints, IndicatorTemplate
from indicators.resources import IndicatorTemplateResource

from .conftest import make_unit
from .test_bulk_import import TEMPLATE_HEADS, messages, run, template_rows, workbook

PROJECT_HEADS = ["项目编码", "项目名称", "实施单位编码", "起始年度", "结束年度"]


def make_project(unit, code="P-001", name="消防通道乱停车预警智能分析项目", first_year=2023):
    return Project.objects.create(unit=unit, code=code, name=name, first_year=first_year)


def test_a_project_list_imports_and_exports_again(unit, other_unit, admin_user):
    content = workbook(
        PROJECT_HEADS,
        [
            ["P-001", "消防通道乱停车预警智能分析项目", unit.code, 2023, None],
            ["P-002", "城市运行“一网统管”平台运维项目", unit.code, 2022, 2024],
            ["P-101", "新虹街道绿化养护项目", other_unit.code, 2023, 2023],
        ],
    )
    result = run(ProjectResource(districts=districts_open_to_import(admin_user)), content)
    assert not result.has_validation_errors() and not result.has_errors(), messages(result)
    assert list(Project.objects.values_list("code", "unit__code", "first_year", "last_year")) == [
        ("P-001", unit.code, 2023, None),
        ("P-002", unit.code, 2022, 2024),
        ("P-101", other_unit.code, 2023, 2023),
    ]
    exported = ProjectResource(districts=districts_open_to_import(admin_user)).export()
    assert list(exported.headers) == PROJECT_HEADS
    assert list(exported[0]) == ["P-001", "消防通道乱停车预警智能分析项目", unit.code, 2023, None]
    # The code is the identity: importing again renames in place.
    renamed = workbook(PROJECT_HEADS, [["P-001", "消防通道预警项目", unit.code, 2023, None]])
    again = run(ProjectResource(districts=districts_open_to_import(admin_user)), renamed)
    assert not again.has_validation_errors(), messages(again)
    assert Project.objects.get(code="P-001").name == "消防通道预警项目"
    assert Project.objects.count() == 3


def test_one_bad_row_changes_nothing_and_each_fault_names_its_row(unit, other_district, reviewer):
    foreign_unit = make_unit("310104-XJH", "徐家汇街道", other_district)
    make_project(foreign_unit, code="P-XH-1", name="徐汇项目")
    content = workbook(
        PROJECT_HEADS,
        [
            ["P-001", "消防通道乱停车预警智能分析项目", unit.code, 2023, None],
            ["P-002", "徐汇的项目", foreign_unit.code, 2023, None],
            ["P-XH-1", "改到闵行", unit.code, 2023, None],
            ["P-001", "同一编码再来一次", unit.code, 2023, None],
            ["P-003", "没有的单位", "310112-NONE", 2023, None],
            ["P-004", "年度颠倒", unit.code, 2024, 2022],
            ["P-005", "", unit.code, "二〇二三", None],
        ],
    )
    result = run(ProjectResource(districts=districts_open_to_import(reviewer)), content)
    found = messages(result)
    assert "行号 2：实施单位编码：“310104-XJH”不在您可导入的区范围内。" in found
    assert "行号 3：项目编码：项目“P-XH-1”属于其他区的单位，不在您可导入的范围内。" in found
    assert "行号 4：项目编码：“P-001”与第 2 行重复。" in found
    assert "行号 5：实施单位编码：编码“310112-NONE”不存在。" in found
    assert "行号 6：结束年度不能早于起始年度。" in found
    assert "行号 7：项目名称：不能为空。" in found
    assert any(message.startswith("行号 7：起始年度：") for message in found), found
    assert list(Project.objects.values_list("code", "name")) == [("P-XH-1", "徐汇项目")]


def test_a_project_with_forms_keeps_its_unit_and_years(unit, other_unit):
    project = make_project(unit)
    Evaluation.objects.create(
        kind=Evaluation.Kind.PROJECT, project=project, year=2023, budget_points=Decimal("10")
    )
    project.unit = other_unit
    with pytest.raises(ValidationError) as error:
        project.full_clean()
    assert error.value.message_dict["unit"] == ["该项目已有自评表，不能改为其他实施单位。"]
    project.unit, project.first_year = unit, 2024
    with pytest.raises(ValidationError) as error:
        project.full_clean()
    assert error.value.message_dict["first_year"] == [
        "该项目已有2023年度的自评表，起止年度须包含这些年度。"
    ]


def test_the_project_admin_shows_the_districts_projects_only(client, manager, unit, other_district):
    make_project(unit)
    make_project(make_unit("310104-XJH", "徐家汇街道", other_district), "P-XH-1", "徐汇项目")
    client.force_login(manager)
    page = client.get(reverse("admin:evaluations_project_changelist")).content.decode()
    assert "消防通道乱停车预警智能分析项目" in page and "徐汇项目" in page  # 管理员: every district
    assert "浦锦街道" in page  # the 主管部门 column
    add = client.post(
        reverse("admin:evaluations_project_add"),
        {"code": "P-001", "name": "重名编码", "unit": unit.pk, "first_year": "2023"},
    )
    assert add.status_code == 200 and "具有 项目编码 的 项目 已存在" in add.content.decode()
    assert Project.objects.count() == 2


def test_the_admin_imports_a_project_list_after_a_preview(client, manager, unit):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(manager)
    content = workbook(PROJECT_HEADS, [["P-001", "消防项目", unit.code, 2023, None]])
    upload = SimpleUploadedFile("项目.xlsx", content)
    page = client.post(
        reverse("admin:evaluations_project_import"), {"import_file": upload, "format": "0"}
    )
    assert page.status_code == 200 and "消防项目" in page.content.decode()
    assert not Project.objects.exists()  # the preview writes nothing


def test_the_template_learns_its_form_kind(db):
    rows = [["项目支出", *row] for row in template_rows(2024)[7:]]
    rows.append(["部门（单位）整体支出", *template_rows(2024)[-1]])
    rows.append(["项目资金", *template_rows(2024)[-1]])
    bad = run(IndicatorTemplateResource(), workbook(["表类型", *TEMPLATE_HEADS], rows))
    assert "行号 6：表类型：应填“部门（单位）整体支出”或“项目支出”，而不是“项目资金”。" in (
        messages(bad)
    )
    assert not IndicatorTemplate.objects.exists()
    result = run(IndicatorTemplateResource(), workbook(["表类型", *TEMPLATE_HEADS], rows[:-1]))
    assert not result.has_validation_errors(), messages(result)
    kinds = IndicatorTemplate.objects.filter(name="群众满意度").values_list("form_kind", flat=True)
    assert sorted(kinds) == ["overall", "project"]
    # A file of the time before the project form: every line is the overall form's.
    older = run(IndicatorTemplateResource(), workbook(TEMPLATE_HEADS, template_rows(2025)))
    assert not older.has_validation_errors(), messages(older)
    assert set(IndicatorTemplate.objects.filter(year=2025).values_list("form_kind", flat=True)) == {
        "overall"
    }


def test_a_manager_keeps_the_yearly_budget_points(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("admin:indicators_budgetpoints_add"), {"year": "2024", "points": "20"}
    )
    assert response.status_code == 302
    assert BudgetPoints.of_year(2024) == Decimal("20.00")
    assert BudgetPoints.of_year(2025) == Decimal("10.00")
