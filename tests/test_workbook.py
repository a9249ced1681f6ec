"""The official table as an xlsx workbook: layout, formats, print setup, safety."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluations.models import BudgetLine, Evaluation
from evaluations.workbook import plain_text_to_rich, render_xlsx, rich_text_to_plain
from evaluations.xlsx import WorkbookError, check_xlsx
from indicators.models import Indicator

from .conftest import make_evaluation, open_results, synthetic_data, targets_only_data
from .workbooks import find_row, load, zip_bomb


def workbook_url(evaluation) -> str:
    return reverse("evaluation_workbook", args=[evaluation.pk])


def exported(evaluation) -> bytes:
    return render_xlsx(Evaluation.objects.with_table().get(pk=evaluation.pk))


def test_download_wrong_method(staff_client, sample):
    assert staff_client.post(workbook_url(sample)).status_code == 405


def test_download_unknown_evaluation_is_404(staff_client, sample):
    response = staff_client.get(reverse("evaluation_workbook", args=[sample.pk + 999]))
    assert response.status_code == 404


def test_download_is_the_official_table(staff_client, sample):
    response = staff_client.get(workbook_url(sample))
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "filename*=utf-8''" in response["Content-Disposition"]
    sheet = load(response.content).active
    assert sheet.title == "自评表"
    assert sheet["A1"].value == "《部门（单位）整体支出绩效自评表》"
    assert sheet["A2"].value == "(2023年度)"
    assert sheet["B3"].value == "上海市闵行区浦锦街道城市运行管理中心"
    assert sheet["G3"].value == "下属单位个数" and sheet["I3"].value == 0
    # 整体支出规模: amounts numeric to the cent, 执行率 truncated
    assert sheet["B5"].value == "资金来源：（1）财政拨款"
    assert Decimal(str(sheet["E5"].value)) == Decimal("8278261.03")
    assert sheet["E5"].data_type == "n" and sheet["E5"].number_format == "#,##0.00"
    assert Decimal(str(sheet["I5"].value)) == Decimal("99.97")
    assert Decimal(str(sheet["I7"].value)) == Decimal("99.92")
    assert sheet["I7"].number_format == "0.00"
    assert sheet["I6"].value == 0  # 其他资金 0 / 0 shows 0.00
    assert sheet["B10"].value.startswith("根据《关于街镇城市运行“一网统管”工作的实施意见》")
    assert sheet["F10"].value.count("\n") == 3  # four paragraphs, one per line
    assert "<p>" not in sheet["F10"].value
    assert [sheet.cell(12, column).value for column in range(1, 10)] == [
        "一级指标", "权重", "二级指标", "三级指标", "年度指标值",
        "全年完成值", "分值", "得分", "偏差及原因分析",
    ]  # fmt: skip
    merged = {str(cells) for cells in sheet.merged_cells.ranges}
    # 投入管理: 7 rows, its note merged down the 三级 column
    assert {"A13:A19", "B13:B19", "D13:D19", "A4:A8", "B10:E10", "F10:I10"} <= merged
    assert sheet["D13"].value == "根据沪财预【2022】13号文的规定要求设置三级指标和指标值"
    assert sheet["B13"].value == 30 and sheet["B13"].number_format == "0"
    assert Decimal(str(sheet["G14"].value)) == Decimal("10.20")
    assert sheet["G14"].number_format == "0.00"
    # 产出指标 from row 20: 12 rows, 数量指标 5 of them
    assert {"A20:A31", "B20:B31", "C20:C24"} <= merged
    assert sheet["D20"].value == "巡管员使用率"
    assert sheet["E20"].value == "=100.00(%)" and sheet["E20"].data_type == "s"
    assert sheet["F20"].value == "100.00(%)"
    assert sheet["E31"].value == "≥95.00(%)"
    total = find_row(sheet, 1, "合计")
    assert sheet.cell(total, 7).value == 100 and sheet.cell(total, 8).value == 96
    assert f"A{total}:F{total}" in merged
    # borders and wrapped text
    assert sheet["D20"].border.left.style == "thin"
    assert sheet["I24"].alignment.wrap_text
    # printing: A4, fit to width, the column heads repeated on every page
    assert sheet.page_setup.paperSize == 9  # A4
    assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == "$11:$12"
    assert sheet.column_dimensions["I"].width > sheet.column_dimensions["G"].width


def test_text_that_would_be_a_formula_stays_text(sample):
    reason = '=HYPERLINK("http://evil.example","点击")'
    indicator = Indicator.objects.get(category__group__evaluation=sample, name="设备使用准确率")
    indicator.name = "+设备使用准确率"  # a target-phase field
    indicator.save()
    open_results(sample)
    indicator.refresh_from_db()
    indicator.deviation_reason = reason  # a results-phase field
    indicator.save()
    sample.unit.name = "@单位"
    sample.unit.save()
    content = exported(sample)
    sheet = load(content).active
    row = find_row(sheet, 4, "+设备使用准确率")
    for cell, text in (
        (sheet.cell(row, 9), reason),
        (sheet.cell(row, 4), "+设备使用准确率"),
        (sheet["B3"], "@单位"),
        (sheet["E20"], "=100.00(%)"),
    ):
        assert cell.value == text
        assert cell.data_type == "s" and cell.quotePrefix
    assert sheet.cell(row, 7).data_type == "n"
    # Nothing in the file is a formula.
    xml = load_raw_sheet(content)
    assert "<f>" not in xml and "<f " not in xml


def load_raw_sheet(content: bytes) -> str:
    import zipfile

    return zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml").decode()


def test_export_command_writes_xlsx(sample, tmp_path):
    output = tmp_path / "table.xlsx"
    call_command(
        "export_evaluation", unit="310112-PJ-CSYX", year=2023, format="xlsx", output=str(output)
    )
    sheet = openpyxl.load_workbook(output).active
    assert sheet["B3"].value == "上海市闵行区浦锦街道城市运行管理中心"
    assert sheet["D20"].value == "巡管员使用率"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>一</p> <p>二</p>", "一\n二"),
        ("<p>甲<br>乙</p>", "甲\n乙"),
        ("<p><strong>重点</strong>工作</p>", "重点工作"),
        ("<ul><li>一项</li><li>二项</li></ul>", "• 一项\n• 二项"),
        ("<p>前</p><ol><li>甲</li><li>乙</li></ol><p>后</p>", "前\n1. 甲\n2. 乙\n后"),
        ("&lt;script&gt; &amp; 符号", "<script> & 符号"),
        ("", ""),
    ],
)
def test_rich_text_becomes_lines(html, text):
    assert rich_text_to_plain(html) == text


def test_lines_become_paragraphs_and_lists():
    assert plain_text_to_rich("一\n\n二 <b>\n• 甲\n• 乙") == (
        "<p>一</p><p>二 &lt;b&gt;</p><ul><li>甲</li><li>乙</li></ul>"
    )
    assert rich_text_to_plain(plain_text_to_rich("一\n• 甲\n二")) == "一\n• 甲\n二"


def test_openpyxl_parses_xml_with_defusedxml():
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML


def test_limits_are_checked_before_openpyxl_reads():
    with pytest.raises(WorkbookError, match="超过上限 5 MB"):
        check_xlsx(b"PK" + b"\0" * (6 * 1024 * 1024))
    with pytest.raises(WorkbookError, match="不是有效的 Excel 工作簿"):
        check_xlsx(b"name,code\n")
    with pytest.raises(WorkbookError, match="压缩炸弹"):
        check_xlsx(zip_bomb())


def test_total_uncompressed_size_is_limited(settings, monkeypatch):
    import evaluations.xlsx

    monkeypatch.setattr(evaluations.xlsx, "MAX_UNCOMPRESSED_BYTES", 1024)
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "x" * 5000
    output = io.BytesIO()
    workbook.save(output)
    with pytest.raises(WorkbookError, match="解压后"):
        check_xlsx(output.getvalue())


EXTENSION_B = "\U00021484"  # 𡒄, CJK Extension B


def test_an_extension_b_character_is_kept_in_the_workbook(sample):
    sample.unit.name = f"上海市{EXTENSION_B}城街道城市运行管理中心"
    sample.unit.save()
    Indicator.objects.filter(category__group__evaluation=sample, name="设备使用率").update(
        name=f"设备{EXTENSION_B}使用率"
    )
    sheet = load(exported(sample)).active
    assert sheet["B3"].value == f"上海市{EXTENSION_B}城街道城市运行管理中心"
    assert find_row(sheet, 4, f"设备{EXTENSION_B}使用率")


def test_printed_the_footer_has_room_and_text_a_font(sample):
    sheet = load(exported(sample)).active
    margins = sheet.page_margins
    # The footer 第 x 页 共 y 页 sits in the bottom margin with room for its line.
    assert margins.bottom - margins.footer >= 0.4
    assert margins.top - margins.header >= 0.25
    assert sheet.oddFooter.center.text == "第 &P 页 共 &N 页"
    table_cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert {cell.font.name for cell in table_cells} == {"宋体"}
    # No grey fill: the printed form has none.
    assert all(cell.fill.fill_type is None for row in sheet.iter_rows() for cell in row)


def test_row_heights_count_ascii_as_half_a_character(sample):
    sheet = load(exported(sample)).active
    # =100.00(%) is ten narrow characters: one line, the program's own height.
    row = find_row(sheet, 4, "巡管员使用率")
    assert sheet["E20"].value == "=100.00(%)" and row == 20
    assert sheet.row_dimensions[row].height is None
    # A 偏差及原因分析 of 60 characters takes several lines, and the row is that tall.
    reason_row = find_row(sheet, 4, "巡查责任网格覆盖率")
    assert sheet.row_dimensions[reason_row].height > 3 * 13.5


def test_a_label_that_fits_on_one_line_keeps_a_row_of_one_line(sample, project_form):
    # Excel and WPS fit nine 10 pt CJK characters in a column 18 wide (126 pixels), eleven
    # in one 22 wide, twelve in one 25 wide: such labels get no row of two lines,
    # twice as high as they need.
    sheet = load(exported(project_form)).active
    assert sheet.column_dimensions["B"].width == 18 and sheet.column_dimensions["C"].width == 22
    for column, label in [
        (2, "服务对象满意度指标"),
        (3, "消防通道占用处置及时率"),
        (2, "其中：当年财政拨款"),
    ]:
        row = find_row(sheet, column, label)
        assert sheet.row_dimensions[row].height is None, label
    sheet = load(exported(sample)).active
    assert sheet.row_dimensions[find_row(sheet, 4, "无主设施托底完成率")].height is None
    # Thirteen characters do not fit in 25: two lines, not one that would be cut.
    assert sheet.row_dimensions[find_row(sheet, 4, "联动执法机动分队人员完备数")].height == 30


def test_the_budget_label_is_not_broken_before_its_bracket(sample):
    from evaluations.workbook import _estimated_lines

    sheet = load(exported(sample)).active
    assert sheet["A4"].value == "整体支出规模（元）"
    assert _estimated_lines("整体支出规模（元）", sheet.column_dimensions["A"].width) == 1


def test_a_label_crossing_a_page_break_is_repeated_with_continued(unit):
    from evaluations.workbook import FIRST_INDICATOR_ROW

    evaluation = make_evaluation(unit, year=2024, data=synthetic_data(80))
    sheet = load(exported(evaluation)).active
    breaks = [page_break.id for page_break in sheet.row_breaks.brk]
    assert breaks and all(row >= FIRST_INDICATOR_ROW for row in breaks)
    merged = [cells for cells in sheet.merged_cells.ranges if cells.min_col in (1, 2, 3)]
    for row in breaks:
        # No 一级, 权重 or 二级 cell runs across a page end ...
        assert not [cells for cells in merged if cells.min_row <= row < cells.max_row]
        first = sheet.cell(row + 1, 1)
        # ... and the page begins with its 一级 label again, printed with （续）.
        assert first.value.startswith("一级指标")
        assert first.number_format == '@"（续）"'
        assert sheet.cell(row + 1, 2).value is None  # the weight only once
    names = [sheet.cell(row, 1).value for row in range(FIRST_INDICATOR_ROW, sheet.max_row)]
    assert len({name for name in names if name}) == 4  # reads back as four groups


def test_a_group_with_one_note_cell_repeats_it_with_continued(unit):
    from evaluations.demo import sample_data

    data = sample_data()
    # 投入管理, its 三级 column one merged note, made longer than a page.
    investment = data["groups"][0]
    investment["categories"] = [
        {**investment["categories"][0], "name": f"预算管理{number}"} for number in range(60)
    ]
    sheet = load(exported(make_evaluation(unit, year=2024, data=data))).active
    breaks = [page_break.id for page_break in sheet.row_breaks.brk]
    continued = [row + 1 for row in breaks if sheet.cell(row + 1, 1).value == "投入管理指标"]
    assert continued
    for row in continued:
        for column in (1, 4):
            assert sheet.cell(row, column).number_format == '@"（续）"', (row, column)
        assert sheet.cell(row, 4).value == investment["note"]  # reads back unchanged
    first = find_row(sheet, 1, "投入管理指标")
    assert sheet.cell(first, 4).number_format == "General"


def test_the_consistency_faults_have_a_sheet_of_their_own(sample):
    assert load(exported(sample)).sheetnames == ["自评表"]  # consistent: no such sheet
    Indicator.objects.filter(category__group__evaluation=sample, name="设备使用率").update(
        score=Decimal("1.50")
    )
    BudgetLine.objects.filter(evaluation=sample, kind="other").update(
        executed_amount=Decimal("100.00")
    )
    workbook = load(exported(sample))
    assert workbook.sheetnames == ["自评表", "一致性检查"]
    assert workbook.active.title == "自评表"
    faults = workbook["一致性检查"]
    rows = [(faults.cell(row, 1).value, faults.cell(row, 2).value) for row in range(1, 10)]
    row = find_row(workbook["自评表"], 4, "设备使用率")
    assert rows[0] == ("所在位置", "一致性检查发现的问题")
    assert ("自评表第 6 行", rows[1][1]) == rows[1]
    assert rows[1][1].startswith("整体支出规模·其他资金：全年预算数为 0")
    assert any(place == f"自评表第 {row} 行" and "“设备使用率”" in text for place, text in rows)


def test_a_form_of_targets_only_has_a_blank_total_score(staff_client, unit):
    evaluation = make_evaluation(unit, data=targets_only_data())

    sheet = load(staff_client.get(workbook_url(evaluation)).content).active

    total = find_row(sheet, 1, "合计")
    assert sheet.cell(total, 7).value == 100 and sheet.cell(total, 8).value is None
