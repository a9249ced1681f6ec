"""Importing the official-table workbook: upload, preview row by row, confirm.
Every bad file gets its Chinese reason and leaves the database as it was."""

import io
import json
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl.worksheet.worksheet import Worksheet

from evaluations import workflow
from evaluations.models import District, Evaluation, WorkbookUpload
from evaluations.roles import ROLE_STAFF
from evaluations.table import build_table
from evaluations.workbook import MAX_SHEET_ROWS, render_xlsx
from evaluations.workbook_import import fingerprint, read_workbook
from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from .conftest import make_evaluation, make_unit, make_user, open_results, synthetic_data
from .workbooks import (
    RowsRead,
    cells,
    count_cells_made,
    find_row,
    load,
    save,
    sheet_of,
    tall_workbook,
    with_wrong_dimension,
    zip_bomb,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def import_url(evaluation) -> str:
    return reverse("workbook_import", args=[evaluation.pk])


def exported(evaluation) -> bytes:
    return render_xlsx(Evaluation.objects.with_table().get(pk=evaluation.pk))


def upload(client, evaluation, content: bytes, name: str = "自评表.xlsx"):
    return client.post(
        import_url(evaluation), {"workbook": SimpleUploadedFile(name, content, XLSX)}
    )


def database_state(evaluation) -> str:
    """Everything an import could touch, ids included."""
    evaluation = Evaluation.objects.with_table().get(pk=evaluation.pk)
    state = build_table(evaluation).state()
    state["counts"] = [
        IndicatorGroup.objects.count(),
        IndicatorCategory.objects.count(),
        Indicator.objects.count(),
    ]
    return json.dumps(state, sort_keys=True, ensure_ascii=False)


def upload_and_confirm(client, evaluation, content: bytes):
    response = upload(client, evaluation, content)
    assert response.status_code == 302, response.content.decode()
    preview = client.get(response["Location"])
    confirmed = client.post(response["Location"])
    return preview, confirmed


# ---------------------------------------------------------------- access


def test_wrong_method(staff_client, sample):
    assert staff_client.put(import_url(sample)).status_code == 405


def test_shows_the_upload_form(staff_client, sample):
    page = staff_client.get(import_url(sample)).content.decode()
    assert "上传并预览变更" in page and "不超过 5 MB" in page
    table = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert import_url(sample) in table
    assert reverse("evaluation_workbook", args=[sample.pk]) in table


@pytest.mark.parametrize(("who", "status"), [("other_staff", 404), ("reviewer", 403)])
def test_only_the_units_own_staff_import(client, sample, who, status, request):
    # Another unit's staff may not see the evaluation (404); its reviewer may see it
    # but filling it in is not theirs (403). The upload page's GET is in test_access.
    client.force_login(request.getfixturevalue(who))
    before = database_state(sample)
    assert upload(client, sample, exported(sample)).status_code == status
    assert database_state(sample) == before


def test_only_a_draft_or_returned_evaluation_can_be_imported(staff_client, sample):
    open_results(sample)
    Evaluation.objects.filter(pk=sample.pk).update(status="approved")
    response = upload(staff_client, sample, exported(sample))
    assert response.status_code == 409
    assert "年末自评 · 已审核”，只有草稿或已退回的自评表可以导入" in response.content.decode()
    assert not WorkbookUpload.objects.exists()


def test_someone_elses_upload_cannot_be_confirmed(staff_client, client, sample, unit):
    response = upload(staff_client, sample, exported(sample))
    colleague = make_user("colleague", ROLE_STAFF)
    unit.staff.add(colleague)
    client.force_login(colleague)
    assert client.post(response["Location"]).status_code == 404
    assert client.get(response["Location"]).status_code == 404


# ---------------------------------------------------------------- round trip and edits


def test_the_sample_round_trips(staff_client, sample):
    first = exported(sample)
    before = database_state(sample)
    preview, confirmed = upload_and_confirm(staff_client, sample, first)
    assert "没有变更" in preview.content.decode()
    assert confirmed.status_code == 302
    assert database_state(sample) == before
    assert cells(exported(sample)) == cells(first)
    assert not WorkbookUpload.objects.exists()


def test_an_80_row_evaluation_round_trips(staff_client, unit):
    evaluation = make_evaluation(unit, year=2024, data=synthetic_data(80))
    first = exported(evaluation)
    before = database_state(evaluation)
    preview, _ = upload_and_confirm(staff_client, evaluation, first)
    assert "没有变更" in preview.content.decode()
    assert database_state(evaluation) == before
    assert cells(exported(evaluation)) == cells(first)


def test_a_hand_edited_workbook_is_previewed_then_applied(staff_client, sample):
    open_results(sample)
    workbook = load(exported(sample))
    sheet = workbook.active
    changed_row = find_row(sheet, 4, "设备使用准确率")
    sheet.cell(changed_row, 6).value = "98.00(%)"
    sheet.cell(changed_row, 8).value = 1.5
    sheet.cell(5, 7).value = 8275000.5  # 财政拨款·全年执行数
    sheet["F10"].value = sheet["F10"].value + "\n全年目标基本完成。"
    edited = save(workbook)
    ids_before = set(Indicator.objects.values_list("pk", flat=True))

    response = upload(staff_client, sample, edited)
    assert response.status_code == 302
    page = staff_client.get(response["Location"]).content.decode()
    assert "导入后将有 <strong>3</strong> 处变更" in page
    assert "产出指标 / 质量指标 / 设备使用准确率" in page
    assert '97.00(%)</span> → <span class="new">98.00(%)' in page
    assert '1.00</span> → <span class="new">1.50' in page
    assert '8,275,824.74</span> → <span class="new">8,275,000.50' in page
    assert (
        '全年完成情况·第 5 段</span>：<span class="old">（空）</span> → <span class="new">全年目标基本完成。'
        in page
    )
    assert "5884件" not in page  # unchanged paragraphs are not repeated
    # Nothing is written before the confirmation.
    assert Indicator.objects.get(name="设备使用准确率").actual_number == Decimal("97.00")

    confirmed = staff_client.post(
        reverse("workbook_import_preview", args=[sample.pk, WorkbookUpload.objects.get().pk]),
        follow=True,
    )
    assert "已导入工作簿“自评表.xlsx”" in confirmed.content.decode()
    changed = Indicator.objects.get(name="设备使用准确率")
    assert changed.actual_number == Decimal("98.00") and changed.score == Decimal("1.50")
    assert ids_before == set(Indicator.objects.values_list("pk", flat=True))  # ids kept
    sample.refresh_from_db()
    assert sample.result_text.endswith("<p>全年目标基本完成。</p>")
    assert sample.target_text.startswith("<p>根据《关于街镇")  # unchanged text kept as stored
    assert sample.budget_lines.get(kind="fiscal").executed_amount == Decimal("8275000.50")


def test_a_row_added_to_the_targets_is_previewed_then_applied(staff_client, sample):
    workbook = load(exported(sample))
    sheet = workbook.active
    # A row added under the last one, as a user inserts it above 合计.
    total = find_row(sheet, 1, "合计")
    sheet.unmerge_cells(start_row=total, start_column=1, end_row=total, end_column=6)
    for column in range(1, 10):
        sheet.cell(total, column).value = None
    new_row = [None, None, None, "投诉处理满意度", "≥85.00(%)", None, 0, None, None]
    for column, value in enumerate(new_row, start=1):
        sheet.cell(total, column).value = value
    sheet.cell(total + 2, 1).value = "合计"  # after a blank padding row
    ids_before = set(Indicator.objects.values_list("pk", flat=True))

    response = upload(staff_client, sample, save(workbook))
    page = staff_client.get(response["Location"]).content.decode()
    assert "导入后将有 <strong>1</strong> 处变更" in page
    assert "满意度指标 / 服务对象满意度指标 / 投诉处理满意度" in page
    assert f"第 {total} 行" in page
    assert not Indicator.objects.filter(name="投诉处理满意度").exists()

    staff_client.post(response["Location"])
    added = Indicator.objects.get(name="投诉处理满意度")
    assert added.category.name == "服务对象满意度指标"
    assert added.target_comparator == "≥" and added.target_number == Decimal("85.00")
    assert added.points == Decimal("0.00")
    assert ids_before < set(Indicator.objects.values_list("pk", flat=True))  # ids kept


def test_a_workbook_that_changes_a_closed_phase_changes_nothing(staff_client, sample):
    workbook = load(exported(sample))
    sheet = workbook.active
    sheet.cell(find_row(sheet, 4, "设备使用准确率"), 6).value = "98.00(%)"  # an actual, in 年初目标
    before = database_state(sample)
    response = upload(staff_client, sample, save(workbook))
    confirmed = staff_client.post(response["Location"], follow=True)
    assert "无法导入：年初目标 · 草稿：“全年完成值数值”不能修改" in confirmed.content.decode()
    assert database_state(sample) == before


def test_a_removed_row_and_a_new_category(staff_client, sample):
    workbook = load(exported(sample))
    sheet = workbook.active
    removed = find_row(sheet, 4, "巡查上报机制健全性")
    for column in range(4, 10):
        sheet.cell(removed, column).value = None
    # Row 24 becomes a new 二级 of 产出指标 by giving it its own 二级 name.
    sheet.unmerge_cells("C20:C24")
    sheet["C24"] = "时效指标"
    preview, _ = upload_and_confirm(staff_client, sample, save(workbook))
    page = preview.content.decode()
    assert "删除" in page and "效益指标 / 可持续影响指标 / 巡查上报机制健全性" in page
    assert "产出指标 / 时效指标 / 居村工作站考核工作覆盖数量" in page
    assert not Indicator.objects.filter(name="巡查上报机制健全性").exists()
    moved = Indicator.objects.get(name="居村工作站考核工作覆盖数量")
    assert moved.category.name == "时效指标" and moved.category.position == 2


def test_a_preview_goes_stale_when_the_evaluation_changes(staff_client, sample):
    workbook = load(exported(sample))
    workbook.active["I3"] = 3
    response = upload(staff_client, sample, save(workbook))
    Indicator.objects.filter(name="设备使用率").update(deviation_reason="同时修改")
    before = database_state(sample)
    page = staff_client.post(response["Location"], follow=True).content.decode()
    assert "预览之后该自评表已被修改，请重新上传" in page
    assert database_state(sample) == before


def test_a_preview_of_the_targets_goes_stale_when_they_are_approved(
    staff_client, sample, staff, reviewer
):
    workbook = load(exported(sample))
    workbook.active["I3"] = 3
    response = upload(staff_client, sample, save(workbook))
    # Draft before and after: only the phase tells the two apart.
    workflow.submit(sample, by=staff)
    workflow.approve(sample, by=reviewer)
    assert (sample.phase, sample.status) == ("results", "draft")
    before = database_state(sample)
    page = staff_client.post(response["Location"], follow=True).content.decode()
    assert "预览之后该自评表已被修改，请重新上传" in page
    assert database_state(sample) == before


# ---------------------------------------------------------------- bad files


def assert_refused(client, evaluation, content: bytes, *messages: str, name="自评表.xlsx"):
    before = database_state(evaluation)
    response = upload(client, evaluation, content, name)
    page = response.content.decode()
    assert response.status_code == 400
    assert "文件未导入" in page
    for message in messages:
        assert message in page, page[page.find("import-errors") :][:2000]
    assert database_state(evaluation) == before
    assert not WorkbookUpload.objects.exists()


def test_wrong_columns(staff_client, sample):
    workbook = load(exported(sample))
    workbook.active["G12"], workbook.active["H12"] = "得分", "分值"
    assert_refused(
        staff_client,
        sample,
        save(workbook),
        "工作表“自评表”第 12 行：列名应依次为“一级指标、权重、二级指标、三级指标、年度指标值、"
        "全年完成值、分值、得分、偏差及原因分析”，实际为“一级指标、权重、二级指标、三级指标、"
        "年度指标值、全年完成值、得分、分值、偏差及原因分析”。请勿增删或调换列。",
    )


def test_text_in_a_number_cell_and_other_row_faults(staff_client, sample):
    workbook = load(exported(sample))
    sheet = workbook.active
    sheet["G20"] = "两分"
    sheet["H21"] = 5
    sheet["E22"] = "≥约12(人"
    sheet["F23"] = "≥100.00(%)"
    sheet["E5"] = "八百万"
    assert_refused(
        staff_client,
        sample,
        save(workbook),
        "工作表“自评表”第 20 行 G 列（分值）：分值须为数字（填写的“两分”不是数字）。",
        "工作表“自评表”第 21 行 H 列（得分）：得分 5.00 超过分值 2.00。",
        "工作表“自评表”第 22 行 E 列（年度指标值）：无法识别的指标值“≥约12(人”",
        "工作表“自评表”第 23 行 F 列（全年完成值）：“≥100.00(%)”：全年完成值只写数值和单位",
        "工作表“自评表”第 5 行 E 列：资金来源：（1）财政拨款·全年预算数须为数字（填写的“八百万”不是数字）。",
    )


def test_odd_numbers_in_number_cells(staff_client, sample):
    workbook = load(exported(sample))
    sheet = workbook.active
    sheet["G20"] = 1e30
    sheet["G21"] = "NaN"
    sheet["G22"] = "Infinity"
    sheet["G23"] = -1
    sheet["G24"] = "1.234"
    assert_refused(
        staff_client,
        sample,
        save(workbook),
        "工作表“自评表”第 20 行 G 列（分值）：分值不能超过 100。",
        "工作表“自评表”第 21 行 G 列（分值）：分值须为数字（填写的“NaN”不是数字）。",
        "工作表“自评表”第 22 行 G 列（分值）：分值须为数字（填写的“Infinity”不是数字）。",
        "工作表“自评表”第 23 行 G 列（分值）：分值不能为负数。",
        "工作表“自评表”第 24 行 G 列（分值）：分值最多保留两位小数。",
    )


def test_a_workbook_of_another_unit(staff_client, sample):
    xuhui = District.objects.create(code="310104", name="徐汇区")
    stranger = make_unit("310104-X", "徐汇区某单位", xuhui)
    evaluation = make_evaluation(stranger)
    assert_refused(
        staff_client,
        sample,
        exported(evaluation),
        "工作簿的部门（单位）名称为“徐汇区某单位”，与本自评表的单位"
        "“上海市闵行区浦锦街道城市运行管理中心”不一致",
    )


def test_a_workbook_of_another_year(staff_client, sample):
    workbook = load(exported(sample))
    workbook.active["A2"] = "(2022年度)"
    assert_refused(
        staff_client, sample, save(workbook), "工作簿的年度为 2022 年，本自评表为 2023 年"
    )


def test_a_zip_bomb(staff_client, sample):
    assert_refused(staff_client, sample, zip_bomb(), "疑似压缩炸弹")


def test_a_6_mb_file(staff_client, sample):
    assert_refused(staff_client, sample, b"PK\x03\x04" + b"\0" * (6 * 1024 * 1024), "超过上限 5 MB")


def test_not_a_workbook(staff_client, sample):
    assert_refused(
        staff_client, sample, "名称,代码\n".encode(), "不是有效的 Excel 工作簿", name="a.csv"
    )


def test_no_file(staff_client, sample):
    response = staff_client.post(import_url(sample), {})
    assert "请选择要上传的 Excel 文件" in response.content.decode()


def test_a_cell_far_below_the_table(staff_client, sample, monkeypatch):
    """A few kilobytes with one cell at Excel's last row: refused at once. Read
    row by row, it took 22 s and 2 GB of memory: a cell object for each of the nine
    columns of a million rows."""
    workbook = load(exported(sample))
    workbook.active["A1048576"] = "x"
    content = save(workbook)
    assert len(content) < 20 * 1024
    cells_made = count_cells_made(monkeypatch)
    assert_refused(
        staff_client,
        sample,
        content,
        "第 1,048,576 行仍有内容",
        f"最多 {MAX_SHEET_ROWS:,} 行",
    )
    # About 450: the cells the file holds and those its merges cover, once each.
    assert cells_made() < 1_000


def test_a_tall_workbook_is_refused_after_the_tables_rows(staff_client, sample, monkeypatch):
    """4.8 MB inside every file limit (1:9.6), 178,296 rows of 9 cells: openpyxl used to
    build all 1.6 million cells first (52 s, +600 MB). Now the sheet is read as a
    stream and refused one row past the table."""
    content = tall_workbook()
    assert len(content) < 5 * 1024 * 1024
    rows_read = RowsRead(monkeypatch)
    assert_refused(
        staff_client,
        sample,
        content,
        f"工作表“Sheet”第 {MAX_SHEET_ROWS + 1:,} 行仍有内容",
        f"最多 {MAX_SHEET_ROWS:,} 行",
    )
    assert rows_read.count == MAX_SHEET_ROWS + 1


def test_too_many_cells_in_few_rows(staff_client, sample, monkeypatch):
    """100 rows of 400 cells: within the rows, far beyond what a table holds."""
    row = '<row r="%d">' + "".join(f"<c><v>{column}</v></c>" for column in range(400)) + "</row>"
    rows_read = RowsRead(monkeypatch)
    assert_refused(
        staff_client,
        sample,
        sheet_of([row % number for number in range(1, 101)]),
        f"单元格超过 {MAX_SHEET_ROWS * 16:,} 个",
    )
    assert rows_read.count == MAX_SHEET_ROWS * 16 // 400 + 1


def test_too_many_empty_rows(staff_client, sample, monkeypatch):
    rows_read = RowsRead(monkeypatch)
    assert_refused(
        staff_client,
        sample,
        sheet_of(['<row ht="20" customHeight="1"/>'] * (3 * MAX_SHEET_ROWS)),
        f"超过 {2 * MAX_SHEET_ROWS:,} 行",
    )
    assert rows_read.count == 2 * MAX_SHEET_ROWS + 1


def test_too_much_sheet_xml_in_few_cells(staff_client, sample):
    """Twenty cells of 1 MB of text each: few cells, 20 MB of XML."""
    import random

    generator = random.Random(1)
    text = "".join(generator.choice("甲乙") for _ in range(350_000))  # 1 MB in UTF-8
    row = '<row r="%d"><c t="inlineStr"><is><t>' + text + "</t></is></c></row>"
    content = sheet_of([row % number for number in range(1, 21)])
    assert len(content) < 5 * 1024 * 1024
    assert_refused(staff_client, sample, content, "工作表内容解压后超过 16 MB")


def test_too_many_shared_strings(staff_client, sample):
    strings = "".join(f"<si><t>{number}</t></si>" for number in range(MAX_SHEET_ROWS * 16 + 1))
    content = sheet_of(
        ['<row r="1"><c t="s"><v>0</v></c></row>'],
        {
            "xl/sharedStrings.xml": f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{strings}</sst>'
        },
    )
    assert_refused(staff_client, sample, content, "单元格超过")


def test_reading_never_creates_cells(sample, monkeypatch):
    """`sheet.cell()` creates the cell it is asked for; the reader must not use it."""
    content = exported(sample)

    def refuse(*args, **kwargs):
        raise AssertionError("the reader asked the sheet for a cell")

    monkeypatch.setattr(Worksheet, "cell", refuse)
    result = read_workbook(content)
    assert result.errors == []
    assert result.data["unit_name"] == sample.unit.name


def test_blank_padding_and_a_note_down_to_the_limit_are_accepted(staff_client, sample):
    workbook = load(exported(sample))
    sheet = workbook.active
    total = find_row(sheet, 1, "合计")
    sheet.unmerge_cells(start_row=total, start_column=1, end_row=total, end_column=6)
    for column in range(1, 10):
        sheet.cell(total, column).value = None
    sheet.cell(total + 500, 1).value = "合计"  # after 500 blank padding rows
    sheet.cell(MAX_SHEET_ROWS, 1).value = "填表人："  # on the last row allowed
    before = database_state(sample)
    preview, _ = upload_and_confirm(staff_client, sample, save(workbook))
    assert "没有变更" in preview.content.decode()
    assert database_state(sample) == before


def test_a_wps_style_dimension_is_read_in_full(staff_client, sample):
    open_results(sample)
    workbook = load(exported(sample))
    workbook.active["H24"] = 1.5
    content = with_wrong_dimension(save(workbook))
    preview, _ = upload_and_confirm(staff_client, sample, content)
    assert "导入后将有 <strong>1</strong> 处变更" in preview.content.decode()
    assert Indicator.objects.get(name="居村工作站考核工作覆盖数量").score == Decimal("1.50")


def test_unmerged_and_refilled_cells_read_the_same(staff_client, sample):
    """WPS users often unmerge and fill every row: the file means the same table."""
    workbook = load(exported(sample))
    sheet = workbook.active
    for cells_range in [str(r) for r in sheet.merged_cells.ranges]:
        first = sheet[cells_range.split(":")[0]]
        if first.row >= 20 and first.column in (1, 2, 3):
            value = first.value
            sheet.unmerge_cells(cells_range)
            for row in sheet[cells_range]:
                for cell in row:
                    cell.value = value
    before = database_state(sample)
    preview, _ = upload_and_confirm(staff_client, sample, save(workbook))
    assert "没有变更" in preview.content.decode()
    assert database_state(sample) == before


def test_fingerprint_changes_with_the_evaluation(sample):
    evaluation = Evaluation.objects.with_table().get(pk=sample.pk)
    first = fingerprint(evaluation)
    Indicator.objects.filter(name="设备使用率").update(score=Decimal("1.00"))
    assert fingerprint(Evaluation.objects.with_table().get(pk=sample.pk)) != first


def test_a_merge_far_beyond_the_table_is_refused_before_opening(staff_client, sample, monkeypatch):
    """openpyxl would make a cell object for each of the 9 × 1,000,000 cells it covers."""
    content = with_extra_merge(exported(sample), "A40:I1000000")
    before = database_state(sample)
    opened = []
    load_workbook = openpyxl.load_workbook

    def counted_load_workbook(*args, **kwargs):
        opened.append(args)
        return load_workbook(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", counted_load_workbook)
    cells_made = count_cells_made(monkeypatch)
    response = upload(staff_client, sample, content)
    assert opened == [] and cells_made() == 0
    assert response.status_code == 400
    assert "合并单元格 A40:I1000000 超出自评表的范围" in response.content.decode()
    assert database_state(sample) == before
    assert not WorkbookUpload.objects.exists()


def with_extra_merge(content: bytes, reference: str) -> bytes:
    """The workbook with one more merged range, written into the sheet's XML (merging
    in openpyxl would itself make the million cells)."""
    source, target = io.BytesIO(content), io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = data.replace(
                    b"<mergeCell ", f'<mergeCell ref="{reference}"/><mergeCell '.encode(), 1
                )
            new.writestr(item, data)
    return target.getvalue()


def test_a_reason_made_of_digits_is_previewed_as_written(staff_client, sample):
    open_results(sample)
    workbook = load(exported(sample))
    sheet = workbook.active
    sheet.cell(find_row(sheet, 4, "设备使用率"), 9).value = "2023"
    response = upload(staff_client, sample, save(workbook))
    page = staff_client.get(response["Location"]).content.decode()
    assert '<span class="new">2023</span>' in page
    assert "2023.00" not in page


def test_a_sheet_moved_out_of_its_folder_is_counted_too(staff_client, sample, monkeypatch):
    """openpyxl finds sheets through the package's relationships, so a file can keep its
    sheet anywhere (here without even an .xml ending): every XML part is counted."""
    content = sheet_of([f'<row r="{MAX_SHEET_ROWS + 1}"><c><v>1</v></c></row>'])
    source = zipfile.ZipFile(io.BytesIO(content))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            name = item.filename
            if name == "xl/worksheets/sheet1.xml":
                name = "xl/elsewhere/part"
            else:
                data = data.replace(b"worksheets/sheet1.xml", b"elsewhere/part")
            target.writestr(name, data)
    moved = output.getvalue()
    assert load(moved).active.max_row == MAX_SHEET_ROWS + 1  # openpyxl reads it
    rows_read = RowsRead(monkeypatch)
    assert_refused(staff_client, sample, moved, f"第 {MAX_SHEET_ROWS + 1:,} 行仍有内容")
    assert rows_read.count == 1


def test_a_preview_refuses_every_locked_field_before_confirming(staff_client, sample):
    open_results(sample)
    workbook = load(exported(sample))
    sheet = workbook.active
    sheet.cell(5, 5).value = 8278262.03  # 财政拨款·全年预算数, closed since the targets' approval
    sheet.cell(7, 5).value = 3444198.01  # 基本支出·全年预算数
    changed_row = find_row(sheet, 4, "设备使用准确率")
    sheet.cell(changed_row, 5).value = "=99.00(%)"  # 年度指标值
    sheet.cell(changed_row, 6).value = "98.00(%)"  # 全年完成值: open
    before = database_state(sample)

    response = upload(staff_client, sample, save(workbook))
    preview = staff_client.get(response["Location"])

    assert preview.status_code == 409
    page = preview.content.decode()
    assert "工作簿修改了以下 3 处不能修改的内容，无法导入" in page
    assert "第 5 行 整体支出规模 资金来源：（1）财政拨款：“全年预算数”" in page
    assert "第 7 行 整体支出规模 资金结构：（1）基本支出：“全年预算数”" in page
    assert f"第 {changed_row} 行 产出指标 / 质量指标 / 设备使用准确率：“年度指标值”" in page
    assert "确认导入</button>" not in page and "确认（无变更）" not in page
    confirmed = staff_client.post(response["Location"], follow=True).content.decode()
    assert "工作簿中不能修改的内容共 3 处" in confirmed
    assert database_state(sample) == before
