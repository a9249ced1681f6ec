"""The 项目支出绩效自评表's documents: the table page, the PDF, the workbook out and
back in (with what the file prints of the figures the form computes), and
`export_evaluation --project` (docs/domain.md §6)."""

import io
import re
import subprocess
from decimal import Decimal

import openpyxl
import pdfplumber
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from evaluations.demo import fill_evaluation
from evaluations.kinds import DEFAULT_BUDGET_POINTS
from evaluations.models import BudgetLine, Evaluation, Project
from evaluations.numbers import whole_or_two_places
from evaluations.pdf import pdf_filename, render_pdf
from evaluations.table import build_table
from evaluations.workbook import render_xlsx

from .conftest import make_project_form, open_results, synthetic_data

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROJECT = "消防通道乱停车预警智能分析项目"
UNIT = "上海市闵行区浦锦街道城市运行管理中心"
# The demo project's 年度资金总额: 600,000.00 at the start of the year, 580,000.00
# for the year, 499,844.00 spent: 执行率 86.18, 10 × 86.18 % = 8.62.
FIGURES = ["600,000.00", "580,000.00", "499,844.00", "86.18", "8.62"]


@pytest.fixture
def results_form(project_form) -> Evaluation:
    return open_results(project_form)


def table_of(evaluation: Evaluation):
    return build_table(Evaluation.objects.with_table().get(pk=evaluation.pk))


def with_table(evaluation: Evaluation) -> Evaluation:
    return Evaluation.objects.with_table().get(pk=evaluation.pk)


def text_of(html: str) -> str:
    """The page's words with cells apart: tags become spaces, spaces collapse."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def set_line(evaluation: Evaluation, kind: str, **amounts) -> None:
    # Past the phase rules, as the tests move phases (`open_results`).
    BudgetLine.objects.filter(evaluation=evaluation, kind=kind).update(
        **{name: Decimal(value) for name, value in amounts.items()}
    )


def long_project_form(unit, rows: int = 80) -> Evaluation:
    """A project form of `rows` scored rows in four 一级 groups, 二级 blocks of five."""
    data = synthetic_data(rows)
    project = Project.objects.create(unit=unit, code="PJ-LONG", name="长项目", first_year=2023)
    evaluation = Evaluation.objects.create(
        kind=Evaluation.Kind.PROJECT,
        project=project,
        unit=unit,
        year=2023,
        budget_points=DEFAULT_BUDGET_POINTS,
        target_text=data["target_text"],
        result_text=data["result_text"],
    )
    data["budget"] = {}
    for group in data["groups"]:
        for category in group["categories"]:
            for row in category["indicators"]:
                row["deviation_reason"] = "偏差说明：受外部因素影响，部分工作顺延至下一年度完成。"
    fill_evaluation(evaluation, data)
    return open_results(evaluation)


def test_the_figures_of_the_example(results_form):
    table = table_of(results_form)
    total = table.budget_total
    assert (total.initial_budget_amount, total.budget_amount, total.executed_amount) == (
        Decimal("600000.00"),
        Decimal("580000.00"),
        Decimal("499844.00"),
    )
    assert (total.execution_rate, total.score) == (Decimal("86.18"), Decimal("8.62"))
    assert table.total_points == Decimal("100.00")
    assert table.total_score == table.indicator_score + Decimal("8.62")


# ---------------------------------------------------------------- the page


def official_part(html: str) -> str:
    start = html.index('<div class="official">')
    return html[start : html.index("</table>", start)]


def test_the_page_draws_every_block_of_the_project_form(staff_client, results_form):
    response = staff_client.get(reverse("evaluation_table", args=[results_form.pk]))
    assert response.status_code == 200
    names = [template.name for template in response.templates]
    assert "evaluations/_project_table.html" in names
    html = response.content.decode()
    drawn = text_of(official_part(html))
    table = table_of(results_form)
    assert "《项目支出绩效自评表》 (2023年度)" in drawn
    assert f"项目名称 {PROJECT} 主管部门 浦锦街道 实施单位 {UNIT}" in drawn
    assert (
        "项目资金（元） 年初预算数 全年预算数 全年执行数 分值 执行率 得分 "
        "年度资金总额 600,000.00 580,000.00 499,844.00 10 86.18 8.62 "
        "其中：当年财政拨款 600,000.00 580,000.00 499,844.00 — 86.18 — "
        "上年结转资金 0.00 0.00 0.00 — 0.00 — 其他资金 0.00 0.00 0.00 — 0.00 —"
    ) in drawn
    assert "年度总体目标 预期目标 实际完成情况" in drawn
    assert (
        "一级指标 二级指标 三级指标 年度指标值 实际完成值 分值 得分 偏差原因分析及改进措施" in drawn
    )
    assert "权重" not in drawn
    assert f"总分 100 {table.total_score:.2f} 自评等级 {table.grade}" in drawn
    assert table.grade
    # The summary beside the table names the form's own total.
    assert f"总分 <strong>{table.total_score:.2f}</strong>" in html
    assert "自评等级" in html


def test_the_overall_page_keeps_its_weight_column(staff_client, sample):
    response = staff_client.get(reverse("evaluation_table", args=[sample.pk]))
    drawn = text_of(official_part(response.content.decode()))
    assert "一级指标 权重 二级指标 三级指标 年度指标值 全年完成值" in drawn
    assert "部门（单位）名称" in drawn and "项目名称" not in drawn


def test_the_targets_show_no_execution_score(staff_client, project_form):
    response = staff_client.get(reverse("evaluation_table", args=[project_form.pk]))
    drawn = text_of(official_part(response.content.decode()))
    assert "年度资金总额 600,000.00 580,000.00 499,844.00 10 86.18 —" in drawn


def test_faults_are_shown_in_chinese_at_their_rows(staff_client, results_form):
    set_line(results_form, BudgetLine.Kind.OTHER, budget_amount="0.00", executed_amount="100.00")
    indicator = results_form.indicator_groups.get(name="产出指标").categories.first()
    row = indicator.indicators.first()
    row.__class__.objects.filter(pk=row.pk).update(score=Decimal("5.00"), deviation_reason="")
    html = staff_client.get(reverse("evaluation_table", args=[results_form.pk])).content.decode()
    table = table_of(results_form)
    line = next(line for line in table.budget_rows if line.line.kind == BudgetLine.Kind.OTHER)
    budget_block = html[html.index('id="budget"') : html.index('class="goal-block"')]
    assert line.faults and line.faults[0].startswith("项目资金·其他资金：全年预算数为 0")
    assert line.faults[0] in budget_block
    row_html = html[html.index(f'id="{row.anchor}"') :]
    row_html = row_html[: row_html.index("</tr>")]
    assert "请填写偏差原因分析及改进措施" in row_html
    # The list of faults links each to its row.
    assert f'href="#{line.anchor}"' in html and f'href="#{row.anchor}"' in html


def test_the_cached_drawings_follow_both_kinds_templates():
    # A release that changes either kind's drawing draws its tables and PDFs afresh.
    from evaluations.bulk_export import PDF_TEMPLATES
    from evaluations.kinds import LAYOUTS
    from evaluations.views import TABLE_PAGE_TEMPLATES

    for layout in LAYOUTS.values():
        assert layout.template in TABLE_PAGE_TEMPLATES
        assert layout.pdf_template in PDF_TEMPLATES


def test_another_units_staff_cannot_see_the_project_form(client, other_staff, results_form):
    client.force_login(other_staff)
    for name in ("evaluation_table", "evaluation_workbook", "workbook_import"):
        assert client.get(reverse(name, args=[results_form.pk])).status_code == 404


# ---------------------------------------------------------------- the PDF


def pdf_text(content: bytes) -> str:
    with pdfplumber.open(io.BytesIO(content)) as document:
        return "\n".join(page.extract_text() or "" for page in document.pages)


def test_the_pdf_prints_every_block(results_form):
    content = render_pdf(with_table(results_form))
    text = pdf_text(content)
    table = table_of(results_form)
    for words in [
        "《项目支出绩效自评表》",
        "(2023年度)",
        f"项目名称 {PROJECT}",
        "主管部门 浦锦街道 实施单位",
        "年初预算数 全年预算数 全年执行数 分值 执行率 得分",
        "年度资金总额 600,000.00 580,000.00 499,844.00 10 86.18 8.62",
        "上年结转资金 0.00 0.00 0.00 — 0.00 —",
        "预期目标 实际完成情况",
        "一级指标 二级指标 三级指标 年度指标值 实际完成值 分值 得分 偏差原因分析及改进措施",
        f"总分 100 {table.total_score:.2f}",
        f"自评等级 {table.grade}",
    ]:
        assert words in text, words
    assert "权重" not in text and "部门（单位）名称" not in text
    # pdftotext reads the same words (what a reader's copy and paste gets).
    poppler = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True
    ).stdout.decode()
    assert "年度资金总额" in poppler and "8.62" in poppler


def test_a_long_project_form_repeats_its_column_heads_on_every_page(unit):
    evaluation = long_project_form(unit)
    with pdfplumber.open(io.BytesIO(render_pdf(with_table(evaluation)))) as document:
        pages = [page.extract_text() or "" for page in document.pages]
    assert len(pages) >= 3
    heads = "一级指标 二级指标 三级指标 年度指标值 实际完成值 分值 得分 偏差原因分析及改进措施"
    for number, page in enumerate(pages, start=1):
        assert f"第 {number} 页 共 {len(pages)} 页" in page
        assert "权重" not in page
        if number > 1:
            assert heads in page
    text = "\n".join(pages)
    assert all(f"三级指标{group}-{row}" in text for group in range(1, 5) for row in (1, 20))
    assert "总分" in pages[-1] and "自评等级" in pages[-1]


def test_the_pdf_is_named_after_the_project(results_form, sample):
    assert pdf_filename(results_form) == f"{PROJECT}2023年度项目支出绩效自评表.pdf"
    assert pdf_filename(sample) == f"{UNIT}2023年度整体支出绩效自评表.pdf"


def test_the_pdf_prints_the_faults(results_form):
    set_line(results_form, BudgetLine.Kind.OTHER, budget_amount="0.00", executed_amount="100.00")
    text = pdf_text(render_pdf(with_table(results_form)))
    assert "【问题】项目资金·其他资金：全年预算数为 0" in text


def test_the_pdf_download(staff_client, results_form, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    response = staff_client.get(reverse("evaluation_pdf", args=[results_form.pk]))
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert "年度资金总额" in pdf_text(content)
    assert "%E9%A1%B9%E7%9B%AE%E6%94%AF%E5%87%BA" in response["Content-Disposition"]  # 项目支出


# ---------------------------------------------------------------- the workbook


def sheet_of(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content))


def row_values(sheet, row: int) -> list:
    values = [sheet.cell(row, column).value for column in range(1, 9)]
    return [value for value in values if value is not None]


def test_the_workbook_holds_every_block(results_form):
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    sheet = workbook["自评表"]
    table = table_of(results_form)
    assert sheet.max_column == 8
    assert row_values(sheet, 1) == ["《项目支出绩效自评表》"]
    assert row_values(sheet, 3) == ["项目名称", PROJECT]
    assert row_values(sheet, 4) == ["主管部门", "浦锦街道", "实施单位", UNIT]
    assert row_values(sheet, 5) == [
        "项目资金（元）",
        "年初预算数",
        "全年预算数",
        "全年执行数",
        "分值",
        "执行率",
        "得分",
    ]
    assert row_values(sheet, 6) == ["年度资金总额", 600000, 580000, 499844, 10, 86.18, 8.62]
    assert row_values(sheet, 7) == ["其中：当年财政拨款", 600000, 580000, 499844, "—", 86.18, "—"]
    assert row_values(sheet, 10)[:3] == ["年度总体目标", "预期目标", "实际完成情况"]
    assert row_values(sheet, 13) == [
        "一级指标",
        "二级指标",
        "三级指标",
        "年度指标值",
        "实际完成值",
        "分值",
        "得分",
        "偏差原因分析及改进措施",
    ]
    total_row = next(
        row for row in range(14, sheet.max_row + 1) if sheet.cell(row, 1).value == "总分"
    )
    assert row_values(sheet, total_row) == ["总分", 100, float(table.total_score)]
    assert row_values(sheet, total_row + 1) == ["自评等级", table.grade]
    cells = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "权重" not in cells
    # Amounts and scores are numbers with the form's formats, on A4 with its fonts.
    assert sheet["C6"].number_format == "#,##0.00" and sheet["G6"].number_format == "0.00"
    assert sheet["A5"].font.name == "宋体"
    assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4
    assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == "$12:$13"
    assert sheet.print_area == f"'自评表'!$A$1:$H${total_row + 1}"
    assert "第 &P 页 共 &N 页" in sheet.oddFooter.center.text
    assert "一致性检查" not in workbook.sheetnames
    assert workbook.properties.title == f"{PROJECT} 2023年度 项目支出绩效自评表"


def test_a_long_project_sheet_breaks_its_pages_between_rows_with_their_labels(unit):
    evaluation = long_project_form(unit)
    sheet = sheet_of(render_xlsx(with_table(evaluation)))["自评表"]
    starts = [page_break.id + 1 for page_break in sheet.row_breaks.brk]
    assert starts and all(start > 14 for start in starts)
    for start in starts:
        # The page begins with its 一级 and 二级 labels, whatever row of the group it is.
        assert str(sheet.cell(start, 1).value).startswith("一级指标")
        assert str(sheet.cell(start, 2).value).startswith("二级指标")
        assert str(sheet.cell(start, 3).value).startswith("三级指标")
    assert sheet.print_title_rows == "$12:$13"


def test_the_workbook_lists_the_faults_with_their_rows(results_form):
    set_line(results_form, BudgetLine.Kind.OTHER, budget_amount="0.00", executed_amount="100.00")
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    faults = [(row[0].value, row[1].value) for row in workbook["一致性检查"].iter_rows(min_row=2)]
    assert ("自评表第 9 行", next(m for _, m in faults if "其他资金" in m)) in faults
    assert workbook["自评表"]["B9"].value == "其他资金"


def test_the_workbook_download_is_named_after_the_project(staff_client, results_form):
    response = staff_client.get(reverse("evaluation_workbook", args=[results_form.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert "2023" in response["Content-Disposition"]
    assert sheet_of(response.content)["自评表"]["B3"].value == PROJECT


# ---------------------------------------------------------------- the workbook back in


def upload(client, evaluation, content: bytes):
    return client.post(
        reverse("workbook_import", args=[evaluation.pk]),
        {"workbook": SimpleUploadedFile("项目.xlsx", content, XLSX)},
    )


def save(workbook) -> bytes:
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def previewed(client, evaluation, content: bytes):
    response = upload(client, evaluation, content)
    assert response.status_code == 302, response.content.decode()
    return response["Location"], client.get(response["Location"])


def test_the_project_workbook_round_trips(staff_client, results_form):
    before = table_of(results_form).state()
    location, preview = previewed(staff_client, results_form, render_xlsx(with_table(results_form)))
    html = preview.content.decode()
    assert "文件与当前自评表一致，没有变更。" in html
    assert "计算结果" not in html
    assert staff_client.post(location).status_code == 302
    assert table_of(results_form).state() == before


def test_an_edited_project_workbook_is_previewed_then_applied(staff_client, results_form):
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    sheet = workbook["自评表"]
    sheet["E7"] = 510000  # 其中：当年财政拨款·全年执行数
    sheet["E6"] = 510000  # and the total the file prints, kept in step
    sheet["G6"] = sheet["G7"] = 87.93
    sheet["H6"] = 8.79
    reason_row = next(
        row for row in range(14, 40) if sheet.cell(row, 3).value == "预警处置长效机制"
    )
    sheet.cell(reason_row, 7).value = 12
    sheet.cell(reason_row, 8).value = "长效机制尚在试行。"
    total_row = next(row for row in range(14, 40) if sheet.cell(row, 1).value == "总分")
    scored = table_of(results_form).total_score
    sheet.cell(total_row, 7).value = float(
        scored - Decimal("3") + Decimal("8.79") - Decimal("8.62")
    )
    location, preview = previewed(staff_client, results_form, save(workbook))
    html = text_of(preview.content.decode())
    assert "项目资金 其中：当年财政拨款" in html
    assert "全年执行数 ： 499,844.00 → 510,000.00" in html
    assert "偏差原因分析及改进措施 ： （空） → 长效机制尚在试行。" in html
    assert "计算结果" not in html  # the printed figures agree with the amounts
    assert staff_client.post(location).status_code == 302
    table = table_of(results_form)
    assert table.budget_total.executed_amount == Decimal("510000.00")
    assert table.budget_total.score == Decimal("8.79")
    row = next(row for row in table.rows if row.name == "预警处置长效机制")
    assert (row.score, row.deviation_reason) == (Decimal("12.00"), "长效机制尚在试行。")


def test_printed_rate_and_total_that_differ_are_findings(staff_client, results_form):
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    sheet = workbook["自评表"]
    sheet["G6"] = 86.19  # 年度资金总额·执行率
    total_row = next(row for row in range(14, 40) if sheet.cell(row, 1).value == "总分")
    sheet.cell(total_row, 7).value = 99
    before = table_of(results_form).state()
    location, preview = previewed(staff_client, results_form, save(workbook))
    html = preview.content.decode()
    total = table_of(results_form).total_score
    assert "项目资金·年度资金总额：文件中执行率为 86.19，按金额计算为 86.18" in html
    assert (f"总分：文件中总分为 99，按各指标得分与年度资金总额得分合计为 {total:.2f}") in html
    assert "第 6 行 " in html and f"第 {total_row} 行 " in html
    # Shown, not hidden behind 没有变更, and not imported: nothing else changed.
    assert "文件与当前自评表一致，没有变更。" not in html
    assert "除上述计算结果外" in html
    assert staff_client.post(location).status_code == 302
    assert table_of(results_form).state() == before


def test_the_overall_workbook_compares_its_printed_figures_too(staff_client, sample):
    sample = open_results(sample)
    workbook = sheet_of(render_xlsx(with_table(sample)))
    sheet = workbook["自评表"]
    sheet["I5"] = 99  # 资金来源：（1）财政拨款·执行率, printed as a whole percent
    total_row = next(row for row in range(13, 60) if sheet.cell(row, 1).value == "合计")
    sheet.cell(total_row, 8).value = 90
    sheet.cell(total_row, 7).value = 101
    _, preview = previewed(staff_client, sample, save(workbook))
    html = preview.content.decode()
    table = table_of(sample)
    rate = table.budget_rows[0].execution_rate
    assert (
        f"整体支出规模·资金来源：（1）财政拨款：文件中执行率为 99，按金额计算为 {rate:.2f}" in html
    )
    assert (
        f"合计：文件中总得分为 90，按各指标得分合计为 {whole_or_two_places(table.total_score)}"
        in html
    )
    assert "合计：文件中总分值为 101，按各项分值合计为 100" in html


def test_the_project_form_and_its_sums_as_findings(staff_client, results_form):
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    sheet = workbook["自评表"]
    sheet["D6"] = 0  # a 年度资金总额 of zeros over non-zero lines
    sheet["F6"] = 20
    sheet["H6"] = "8.6%"
    _, preview = previewed(staff_client, results_form, save(workbook))
    html = preview.content.decode()
    assert "年度资金总额：文件中全年预算数为 0，按其中各行合计为 580,000.00" in html
    assert "年度资金总额：文件中分值为 20，本表（指标库）为 10" in html
    assert "年度资金总额：文件中得分为 8.6%，按执行率计算为 8.62" in html


def test_a_workbook_of_the_other_kind_is_refused(staff_client, sample, results_form):
    response = upload(staff_client, sample, render_xlsx(with_table(results_form)))
    assert response.status_code == 400
    assert "工作簿是《项目支出绩效自评表》，本表是《部门（单位）整体支出绩效自评表》" in (
        response.content.decode()
    )
    response = upload(staff_client, results_form, render_xlsx(with_table(sample)))
    assert response.status_code == 400
    assert "工作簿是《部门（单位）整体支出绩效自评表》" in response.content.decode()


def test_a_workbook_of_another_project_is_refused(staff_client, unit, results_form):
    other = open_results(make_project_form(unit, which=1))
    response = upload(staff_client, results_form, render_xlsx(with_table(other)))
    assert response.status_code == 400
    assert f"与本自评表的项目“{PROJECT}”不一致" in response.content.decode()


def test_a_workbook_that_changes_the_targets_budget_is_refused(staff_client, results_form):
    # 年初预算数 is set with the targets: closed once they are approved.
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    workbook["自评表"]["C7"] = 650000
    before = table_of(results_form).state()
    location, preview = previewed(staff_client, results_form, save(workbook))
    assert preview.status_code == 409
    html = preview.content.decode()
    assert "第 7 行 项目资金 其中：当年财政拨款：“年初预算数”" in html
    assert staff_client.post(location).status_code == 302
    assert table_of(results_form).state() == before


def test_a_bad_amount_is_refused_at_its_cell(staff_client, results_form):
    workbook = sheet_of(render_xlsx(with_table(results_form)))
    workbook["自评表"]["E7"] = "很多"
    response = upload(staff_client, results_form, save(workbook))
    assert response.status_code == 400
    assert "第 7 行 E 列" in response.content.decode()


# ---------------------------------------------------------------- export_evaluation --project


@pytest.mark.parametrize("project", ["PJ-2023-001", PROJECT])
def test_export_html_by_project_code_or_name(results_form, tmp_path, project):
    output = tmp_path / "project.html"
    call_command(
        "export_evaluation",
        unit="310112-PJ-CSYX",
        year=2023,
        project=project,
        format="html",
        output=str(output),
    )
    html = output.read_text(encoding="utf-8")
    assert f"<title>{PROJECT} 2023年度 项目支出绩效自评表</title>" in html
    drawn = text_of(html)
    for figure in FIGURES + ["年度资金总额", "自评等级"]:
        assert figure in drawn


def test_export_pdf_and_xlsx_of_a_project(results_form, tmp_path):
    for format in ("pdf", "xlsx"):
        call_command(
            "export_evaluation",
            unit=UNIT,
            year=2023,
            project="PJ-2023-001",
            format=format,
            output=str(tmp_path / f"project.{format}"),
        )
    assert "年度资金总额 600,000.00 580,000.00 499,844.00 10 86.18 8.62" in pdf_text(
        (tmp_path / "project.pdf").read_bytes()
    )
    sheet = sheet_of((tmp_path / "project.xlsx").read_bytes())["自评表"]
    assert sheet["B3"].value == PROJECT and sheet["H6"].value == 8.62


def test_without_project_the_overall_form_is_exported(sample, results_form, tmp_path):
    output = tmp_path / "overall.html"
    call_command(
        "export_evaluation", unit="310112-PJ-CSYX", year=2023, format="html", output=str(output)
    )
    assert "部门（单位）名称" in output.read_text(encoding="utf-8")


def test_export_of_an_unknown_project_says_so(results_form, tmp_path):
    with pytest.raises(CommandError, match="未找到单位“310112-PJ-CSYX”项目“PJ-404”"):
        call_command(
            "export_evaluation",
            unit="310112-PJ-CSYX",
            year=2023,
            project="PJ-404",
            format="html",
            output=str(tmp_path / "x.html"),
        )
    assert not (tmp_path / "x.html").exists()
