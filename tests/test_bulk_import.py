"""Units, users and the indicator template through django-import-export: xlsx
only, Chinese errors per row and column, all or nothing, scoped to districts."""

from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evaluations.models import District, Unit
from evaluations.resources import (
    NumberWidget,
    UnitResource,
    UserResource,
    districts_open_to_import,
)
from evaluations.xlsx import SafeXLSX, WorkbookError
from indicators.models import IndicatorTemplate
from indicators.resources import IndicatorTemplateResource

from .conftest import make_unit, make_user
from .workbooks import (
    RowsRead,
    load,
    save,
    tall_workbook,
    with_wrong_dimension,
    zip_bomb,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNIT_HEADS = ["单位编码", "部门（单位）名称", "所属区编码", "主管部门编码"]
USER_HEADS = ["用户名", "姓名", "邮箱", "启用", "所属单位编码", "角色", "审核的区编码"]
TEMPLATE_HEADS = [
    "年度", "一级指标", "权重", "三级指标说明", "二级指标", "三级指标",
    "基础分占比（%）", "分值", "默认年度指标值",
]  # fmt: skip
NOTE = "根据沪财预【2022】13号文的规定要求设置三级指标和指标值"
INPUT_SHARES = [
    ("预算编审管理", 25), ("预算执行管理", 34), ("预算绩效管理", 15), ("资产管理", 3),
    ("预算透明度", 10), ("内部控制管理", 8), ("预算信息化", 5),
]  # fmt: skip


def workbook(headers: list, rows: list) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    return save(book)


def run(resource, content: bytes, dry_run: bool = False):
    dataset = SafeXLSX().create_dataset(content)
    return resource.import_data(dataset, dry_run=dry_run)


def messages(result) -> list[str]:
    found = [str(error.error) for error in result.base_errors]
    for _number, errors in result.row_errors():
        found += [str(error.error) for error in errors]
    for row in result.invalid_rows:
        found += [f"行号 {row.number}：{message}" for message in row.error.messages]
    return found


def template_rows(year: int = 2023) -> list:
    rows = [
        [year, "投入管理指标", 30, NOTE, name, "", share, None, ""] for name, share in INPUT_SHARES
    ]
    rows += [
        [year, "产出指标", 25, "", "数量指标", "巡管员使用率", None, 2, "=100.00(%)"],
        [year, "产出指标", 25, "", "质量指标", "设备使用准确率", None, 2, ">=100(%)"],
        [year, "效益指标", 35, "", "社会效益指标", "基础社会治理能力提升情况", None, 10, "提升"],
        [year, "满意度指标", 10, "", "服务对象满意度指标", "群众满意度", None, 10, "≥90.00(%)"],
    ]
    return rows


@pytest.fixture
def other_district(db) -> District:
    return District.objects.create(code="310104", name="徐汇区")


# ---------------------------------------------------------------- units


def test_units_import_with_parents_and_export_again(district, admin_user):
    content = workbook(
        UNIT_HEADS,
        [
            ["310112-PJ", "浦锦街道", "310112", None],
            [None, None, None, None],  # blank padding row
            ["310112-PJ-CSYX", "上海市闵行区浦锦街道城市运行管理中心", 310112, "310112-PJ"],
            ["310112-PJ-SQ", "浦锦街道社区事务受理服务中心", "310112", "310112-PJ"],
        ],
    )
    result = run(UnitResource(districts=districts_open_to_import(admin_user)), content)
    assert not result.has_errors() and not result.has_validation_errors(), messages(result)
    assert Unit.objects.get(code="310112-PJ-CSYX").parent.name == "浦锦街道"
    assert Unit.objects.get(code="310112-PJ").children.count() == 2

    exported = UnitResource(districts=District.objects.all()).export()
    sheet = load(SafeXLSX().export_data(exported)).active
    assert [cell.value for cell in sheet[1]] == UNIT_HEADS
    assert ["310112-PJ-CSYX", "上海市闵行区浦锦街道城市运行管理中心", "310112", "310112-PJ"] in [
        [cell.value for cell in row] for row in sheet.iter_rows(min_row=2)
    ]
    # and the same file again changes nothing
    again = run(UnitResource(districts=District.objects.all()), content)
    assert not again.has_errors() and not again.has_validation_errors()
    assert Unit.objects.count() == 3


def test_a_unit_of_another_district_is_refused_and_nothing_is_written(
    district, other_district, reviewer
):
    make_unit("310104-XJH", "徐家汇街道", other_district)
    content = workbook(
        UNIT_HEADS,
        [
            ["310112-A", "闵行甲单位", "310112", None],
            ["310104-B", "徐汇乙单位", "310104", None],
            ["310104-XJH", "改名的徐家汇街道", "310112", None],
            ["310112-C", "闵行丙单位", "310112", "310104-XJH"],
            ["310112-D", "闵行丁单位", "310199", "310112-NONE"],
        ],
    )
    result = run(UnitResource(districts=districts_open_to_import(reviewer)), content)
    found = messages(result)
    assert "行号 2：所属区编码：“310104”不在您可导入的区范围内。" in found
    assert "行号 3：单位编码：单位“310104-XJH”属于其他区，不在您可导入的范围内。" in found
    assert "行号 4：主管部门编码：“310104-XJH”不在您可导入的区范围内。" in found
    assert "行号 5：所属区编码：编码“310199”不存在。" in found
    assert "行号 5：主管部门编码：编码“310112-NONE”不存在。" in found
    assert list(Unit.objects.values_list("code", "name")) == [("310104-XJH", "徐家汇街道")]


def test_wrong_columns_are_named(district, admin_user):
    content = workbook(["编码", "部门（单位）名称", "所属区编码"], [["X", "某单位", "310112"]])
    result = run(UnitResource(districts=District.objects.all()), content)
    assert messages(result) == [
        "第 1 行的列名不对。缺少列：单位编码、主管部门编码；无法识别的列：编码。"
        "应有的列：单位编码、部门（单位）名称、所属区编码、主管部门编码。"
    ]
    assert not Unit.objects.exists()


def test_a_wps_style_dimension_still_reads_every_row(district):
    rows = [[f"310112-{index:03}", f"单位{index}", "310112", None] for index in range(50)]
    content = with_wrong_dimension(workbook(UNIT_HEADS, rows))
    result = run(UnitResource(districts=District.objects.all()), content)
    assert not result.has_validation_errors(), messages(result)
    assert Unit.objects.count() == 50


def test_file_limits_for_bulk_imports():
    with pytest.raises(WorkbookError, match="疑似压缩炸弹"):
        SafeXLSX().create_dataset(zip_bomb())
    with pytest.raises(WorkbookError, match="超过上限 5 MB"):
        SafeXLSX().create_dataset(b"PK" + b"\0" * (6 * 1024 * 1024))


def test_row_limit(monkeypatch):
    import evaluations.xlsx

    monkeypatch.setattr(evaluations.xlsx, "MAX_IMPORT_ROWS", 10)
    content = workbook(UNIT_HEADS, [[f"U{index}", "某单位", "310112", None] for index in range(11)])
    with pytest.raises(WorkbookError, match="超过 10 行数据"):
        SafeXLSX().create_dataset(content)


def test_blank_rows_count_against_the_row_limit(monkeypatch):
    """One cell at Excel's last row: refused without holding a million blank rows
    first (that took 6 s and 800 MB)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(UNIT_HEADS)
    sheet.append(["U1", "某单位", "310112", None])
    sheet["A1048576"] = "U2"
    content = save(book)
    assert len(content) < 20 * 1024
    rows_read = RowsRead(monkeypatch)
    with pytest.raises(WorkbookError, match="超过 20,000 行数据"):
        SafeXLSX().create_dataset(content)
    # The check stops at the row past the limit, before openpyxl reads a row.
    assert rows_read.count == 3


def test_a_tall_workbook_is_refused_one_row_past_the_limit(monkeypatch):
    """178,296 rows of 9 cells, 4.8 MB: refused while the sheet streams, before
    openpyxl reads a row."""
    rows_read = RowsRead(monkeypatch)
    with pytest.raises(WorkbookError, match="超过 20,000 行数据（第 20,002 行仍有内容）"):
        SafeXLSX().create_dataset(tall_workbook())
    assert rows_read.count == 20_002


def test_blank_rows_alone_reach_the_row_limit(monkeypatch):
    import evaluations.xlsx

    monkeypatch.setattr(evaluations.xlsx, "MAX_IMPORT_ROWS", 10)

    def one_unit_then_blank_rows_to(last: str) -> bytes:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(UNIT_HEADS)
        sheet.append(["U1", "某单位", "310112", None])
        sheet[last] = " "
        return save(book)

    # Rows 2 to 12 are eleven rows, though ten of them are blank.
    with pytest.raises(WorkbookError, match="超过 10 行数据"):
        SafeXLSX().create_dataset(one_unit_then_blank_rows_to("A12"))
    # Rows 2 to 11 are ten: read, and the trailing blank rows dropped.
    assert len(SafeXLSX().create_dataset(one_unit_then_blank_rows_to("A11"))) == 1


def test_export_keeps_formula_text_as_text_and_numbers_as_numbers(district):
    make_unit("=1+1", "@SUM(A1)", district)
    content = SafeXLSX().export_data(UnitResource(districts=District.objects.all()).export())
    sheet = load(content).active
    assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s" and sheet["A2"].quotePrefix
    assert sheet["B2"].value == "@SUM(A1)" and sheet["B2"].data_type == "s"
    assert sheet["D2"].value is None  # blank stays blank, not "None"
    templates = IndicatorTemplateResource().export(IndicatorTemplate.objects.none())  # headers only
    assert list(templates.headers) == ["表类型", *TEMPLATE_HEADS, "需佐证材料"]


# ---------------------------------------------------------------- users


def test_users_with_units_roles_and_districts(district, unit, other_district):
    foreign = make_unit("310104-XJH", "徐家汇街道", other_district)
    existing = make_user("zhang")
    foreign.staff.add(existing)
    Group.objects.create(name="其他分组").user_set.add(existing)
    content = workbook(
        USER_HEADS,
        [
            [
                "zhang",
                "张三",
                "zhang@example.org",
                "是",
                "310112-PJ-CSYX、310112-PJ",
                "填报人",
                None,
            ],
            ["li", "李四", None, None, None, "审核人", "310112"],
        ],
    )
    result = run(UserResource(districts=District.objects.filter(pk=district.pk)), content)
    assert not result.has_validation_errors() and not result.has_errors(), messages(result)
    zhang = get_user_model().objects.get(username="zhang")
    # the unit of the district out of scope stays; other groups stay
    assert set(zhang.units.values_list("code", flat=True)) == {
        "310112-PJ-CSYX",
        "310112-PJ",
        "310104-XJH",
    }
    assert set(zhang.groups.values_list("name", flat=True)) == {"填报人", "其他分组"}
    li = get_user_model().objects.get(username="li")
    assert not li.has_usable_password()
    assert list(li.reviewed_districts.all()) == [district]
    assert list(li.groups.values_list("name", flat=True)) == ["审核人"]

    exported = UserResource(districts=District.objects.all()).export()
    rows = {row[0]: row for row in exported}
    assert rows["li"][USER_HEADS.index("角色")] == "审核人"
    assert rows["li"][USER_HEADS.index("审核的区编码")] == "310112"


def test_user_errors_per_column(district, admin_user):
    content = workbook(
        USER_HEADS,
        [
            ["wang", "王五", None, "也许", "310112-NONE", "局长", None],
            ["admin", "改超级管理员", None, "是", None, None, None],
        ],
    )
    result = run(UserResource(districts=District.objects.all()), content)
    found = messages(result)
    assert "行号 1：启用：应填“是”或“否”，而不是“也许”。" in found
    assert "行号 1：所属单位编码：310112-NONE 不存在或不在您可导入的范围内。" in found
    assert (
        "行号 1：角色：局长 不是可用的角色（可用：填报人、主管部门审核人、审核人、管理员）。"
        in found
    )
    assert "行号 2：用户名：“admin”是超级管理员，不能通过导入修改。" in found
    assert not get_user_model().objects.filter(username="wang").exists()


# ---------------------------------------------------------------- the indicator template


def test_the_template_imports_with_base_shares_scaled(db):
    result = run(IndicatorTemplateResource(), workbook(TEMPLATE_HEADS, template_rows()))
    assert not result.has_validation_errors() and not result.has_errors(), messages(result)
    assert IndicatorTemplate.objects.count() == 11
    execution = IndicatorTemplate.objects.get(category_name="预算执行管理")
    assert execution.points is None and execution.scaled_points == Decimal("10.20")
    assert execution.group_note == NOTE
    accuracy = IndicatorTemplate.objects.get(name="设备使用准确率")
    assert accuracy.default_target == "≥100.00(%)"  # typed >=100(%), stored as the form writes it
    assert IndicatorTemplate.objects.get(name="群众满意度").scaled_points == Decimal("10.00")
    # importing it again updates in place
    rows = template_rows()
    rows[-1][7] = 8
    again = run(IndicatorTemplateResource(), workbook(TEMPLATE_HEADS, rows))
    assert not again.has_validation_errors(), messages(again)
    assert IndicatorTemplate.objects.count() == 11
    assert IndicatorTemplate.objects.get(name="群众满意度").points == Decimal("8.00")


def test_template_errors_per_row_and_nothing_written(db):
    rows = template_rows()
    rows[8][2] = 20  # 产出指标 again, with another weight
    rows[9][7] = 40  # points above the weight of 35
    rows[10][2] = "十"  # a weight as text
    rows[10][8] = "≥九十"  # not a value
    rows.append(list(rows[7]))  # a duplicate line
    result = run(IndicatorTemplateResource(), workbook(TEMPLATE_HEADS, rows))
    found = messages(result)
    assert "行号 9：权重：20.00 与行号 8 同一一级指标“产出指标”的权重 25.00 不一致。" in found
    assert "行号 10：分值：40.00 超过所属一级指标的权重 35.00。" in found
    assert "行号 11：权重：须为数字（填写的“十”不是数字）。" in found
    assert any(m.startswith("行号 11：默认年度指标值：无法识别的指标值“≥九十”") for m in found)
    assert "行号 12：三级指标：与行号 8 重复（同一年度、一级、二级下名称相同）。" in found
    assert not IndicatorTemplate.objects.exists()


def test_template_base_shares_must_add_to_100(db):
    rows = template_rows()
    rows[0][6] = 20
    result = run(IndicatorTemplateResource(), workbook(TEMPLATE_HEADS, rows))
    assert messages(result) == [
        "2023 年一级指标“投入管理指标”各二级指标的基础分占比合计 95.00，应为 100。"
    ]
    assert not IndicatorTemplate.objects.exists()


def test_the_template_marks_the_lines_that_need_evidence(db):
    rows = [[*row, ""] for row in template_rows()]
    rows[7][-1] = "是"  # 巡管员使用率
    rows[8][-1] = "否"
    result = run(IndicatorTemplateResource(), workbook([*TEMPLATE_HEADS, "需佐证材料"], rows))
    assert not result.has_validation_errors() and not result.has_errors(), messages(result)
    marked = IndicatorTemplate.objects.filter(evidence_required=True)
    assert list(marked.values_list("name", flat=True)) == ["巡管员使用率"]
    # A file made before the column existed updates the lines and leaves their marks.
    again = run(IndicatorTemplateResource(), workbook(TEMPLATE_HEADS, template_rows()))
    assert not again.has_validation_errors(), messages(again)
    assert list(marked.values_list("name", flat=True)) == ["巡管员使用率"]
    # Exported as it is imported.
    exported = IndicatorTemplateResource().export(
        IndicatorTemplate.objects.filter(name="巡管员使用率")
    )
    assert exported.dict[0]["需佐证材料"] == "是"


def test_a_mark_other_than_yes_or_no_is_refused_and_nothing_written(db):
    rows = [[*row, "否"] for row in template_rows()]
    rows[7][-1] = "需要"
    rows[8][-1] = "是"
    result = run(IndicatorTemplateResource(), workbook([*TEMPLATE_HEADS, "需佐证材料"], rows))
    assert messages(result) == ["行号 8：需佐证材料：应填“是”或“否”，而不是“需要”。"]
    assert not IndicatorTemplate.objects.exists()


# ---------------------------------------------------------------- through the admin


def admin_import(client, url_name: str, content: bytes):
    return client.post(
        reverse(url_name),
        {
            "import_file": SimpleUploadedFile("数据.xlsx", content, XLSX),
            "format": "0",
            "resource": "0",
        },
    )


def test_admin_imports_units_after_a_preview(client, admin_user, district):
    client.force_login(admin_user)
    page = client.get(reverse("admin:evaluations_unit_import")).content.decode()
    assert "xlsx" in page and "csv" not in page.lower().replace("xlsx", "")
    content = workbook(UNIT_HEADS, [["310112-PJ", "浦锦街道", "310112", None]])
    preview = admin_import(client, "admin:evaluations_unit_import", content)
    assert preview.status_code == 200
    assert not Unit.objects.exists()  # the preview is a dry run
    confirm = preview.context["confirm_form"]
    response = client.post(reverse("admin:evaluations_unit_process_import"), confirm.initial)
    assert response.status_code == 302
    assert Unit.objects.get().name == "浦锦街道"


def test_admin_shows_row_errors_in_chinese(client, admin_user, district):
    client.force_login(admin_user)
    content = workbook(UNIT_HEADS, [["310112-X", "某单位", "310199", None]])
    page = admin_import(client, "admin:evaluations_unit_import", content).content.decode()
    assert "所属区编码：编码“310199”不存在。" in page
    assert not Unit.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (zip_bomb(), "疑似压缩炸弹"),
        (b"PK\x03\x04" + b"\0" * (6 * 1024 * 1024), "超过上限 5 MB"),
        (b"code,name\n", "不是有效的 Excel 工作簿"),
    ],
    ids=["zip-bomb", "6-mb", "not-xlsx"],
)
def test_admin_refuses_bad_files_in_chinese(client, admin_user, district, content, message):
    client.force_login(admin_user)
    page = admin_import(client, "admin:indicators_indicatortemplate_import", content)
    assert message in page.content.decode()
    assert not IndicatorTemplate.objects.exists()


def test_only_superusers_import_users(client, district):
    staff_admin = make_user("district_admin", is_staff=True)
    client.force_login(staff_admin)
    assert client.get(reverse("admin:auth_user_import")).status_code == 403


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1e30, "权重：不能超过 100。"),
        (
            "1e30",
            "权重：“1e30”不是有效的数字：含有无法识别的字符“e”（U+0065 LATIN SMALL LETTER E），只能用数字 0–9、小数点和千位分隔符。",
        ),
        ("NaN", "权重：须为数字（填写的“NaN”不是数字）。"),
        ("Infinity", "权重：须为数字（填写的“Infinity”不是数字）。"),
        (float("inf"), "权重：须为数字。"),
        ("-1", "权重：不能为负数。"),
        ("1.234", "权重：最多保留两位小数。"),
    ],
)
def test_number_cells_refuse_odd_numbers_in_chinese(value, message):
    with pytest.raises(ValueError) as refusal:
        NumberWidget("权重").clean(value)
    assert str(refusal.value) == message
