"""The official table as an Excel workbook: its layout, and `render_xlsx`.

`render_xlsx` draws `build_table` — the structure the page and the PDF draw — on one
sheet: the header, budget and goal blocks above the indicator columns, the
form's merged cells, borders, number formats and an A4 print setup with its own page
breaks; the consistency check's faults, if any, go on a second sheet. The layout's
rows and columns are named here; `workbook_import` reads such a sheet back. What
differs between the kinds of form is one `SheetLayout` each (`SHEET_LAYOUTS`).
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from html.parser import HTMLParser

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from .consistency import BUDGET_ANCHOR, TOTAL_ANCHOR
from .kinds import OVERALL, PROJECT, Layout
from .models import Evaluation
from .numbers import AMOUNT_FORMAT, TWO_PLACES_FORMAT
from .table import GroupBlock, Row, Table, build_table
from .xlsx import SheetLimits, set_value, storable

SHEET_TITLE = "自评表"
# The overall form's indicator columns (the project form's have no 权重).
INDICATOR_HEADS = OVERALL.indicator_heads
# Column A holds “整体支出规模（元）” on one line: narrower, its closing bracket
# wrapped alone onto a line of its own.
COLUMN_WIDTHS = (20, 7, 14, 25, 13, 13, 8, 8, 28)
# One line of 10 pt text, in points, to estimate row heights: Excel and WPS never
# grow a row for a merged cell's text by themselves. A row of one line keeps the
# program's own height (about 13.5 pt); the plan of the pages counts it as 15.
LINE_HEIGHT = 13.5
ROW_PADDING = 3
ONE_LINE_HEIGHT = 15
# A column's width in pixels per unit, the pixels of a cell's own margins, and the
# width of a 10 pt CJK character, at 96 dpi: how many characters a line holds.
COLUMN_UNIT_PIXELS, CELL_MARGIN_PIXELS, CJK_PIXELS = 7, 4, 10 * 96 / 72
FONT_NAME = "宋体"
WHOLE_FORMAT = "0"
MAX_INDICATOR_ROWS = 1000

# Fixed rows of the layout (1-based).
TITLE_ROW, YEAR_ROW, HEADER_ROW, BUDGET_HEAD_ROW = 1, 2, 3, 4
GOAL_HEAD_ROW = BUDGET_HEAD_ROW + 1 + len(OVERALL.budget_lines)
GOAL_TEXT_ROW = GOAL_HEAD_ROW + 1
SECTION_ROW = GOAL_TEXT_ROW + 1
COLUMN_HEAD_ROW = SECTION_ROW + 1
FIRST_INDICATOR_ROW = COLUMN_HEAD_ROW + 1
# Rows a sheet may run to: the fixed rows, the indicators, and room for blank
# padding rows before 合计 and a line or two below it. A sheet with content
# further down is not an official table, and reading it row by row would cost
# seconds and gigabytes for a file of a few kilobytes.
BLANK_PADDING_ROWS = 1000
MAX_SHEET_ROWS = FIRST_INDICATOR_ROW + MAX_INDICATOR_ROWS + BLANK_PADDING_ROWS
# What the sheets may hold before openpyxl builds them: the table's rows at 16
# cells each (it has nine columns; Excel keeps styled empty cells beside them),
# and 16 MB of XML (a full table with long texts written inline is under 8 MB).
SHEET_LIMITS = SheetLimits(
    last_row=MAX_SHEET_ROWS,
    cells=MAX_SHEET_ROWS * 16,
    xml_bytes=16 * 1024 * 1024,
    beyond_last_row=lambda title, row: (
        f"工作表“{title}”第 {row:,} 行仍有内容，超出自评表的范围（最多 {MAX_SHEET_ROWS:,} 行，"
        f"其中指标最多 {MAX_INDICATOR_ROWS:,} 行）。请删除表格下方多余的内容后再上传。"
    ),
    last_column=len(COLUMN_WIDTHS),
    beyond_merge=lambda title, reference: (
        f"工作表“{title}”中的合并单元格 {reference} 超出自评表的范围"
        f"（最多 {MAX_SHEET_ROWS:,} 行、{len(COLUMN_WIDTHS)} 列），已拒绝。"
    ),
)

THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
TOP_LEFT = Alignment(horizontal="left", vertical="top", wrap_text=True)
RIGHT = Alignment(horizontal="right", vertical="center")
TEXT_FONT = Font(name=FONT_NAME, size=10)
TITLE_FONT = Font(name=FONT_NAME, size=16, bold=True)
# A 一级 or 二级 label repeated at the top of a printed page: the cell holds the
# name itself (so the workbook reads back as one block), the format adds （续）.
CONTINUED_FORMAT = '@"（续）"'
# Printing (inches): the footer 第 x 页 共 y 页 needs its own room below the table.
MARGIN_SIDES, MARGIN_TOP, MARGIN_BOTTOM, MARGIN_HEADER, MARGIN_FOOTER = 0.4, 0.6, 0.8, 0.3, 0.3
A4_INCHES = (8.27, 11.69)
FAULT_SHEET_TITLE = "一致性检查"


# ---------------------------------------------------------------- rich text


class _PlainText(HTMLParser):
    """p/br/li become line breaks, lists get their bullet or number, tags go."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.lists: list[list] = []  # [kind, counter]

    def _new_line(self) -> None:
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in {"p", "ul", "ol"}:
            self._new_line()
        if tag in {"ul", "ol"}:
            self.lists.append([tag, 0])
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self._new_line()
            if self.lists and self.lists[-1][0] == "ol":
                self.lists[-1][1] += 1
                self.parts.append(f"{self.lists[-1][1]}. ")
            else:
                self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"ul", "ol"} and self.lists:
            self.lists.pop()
        if tag in {"p", "li", "ul", "ol"}:
            self._new_line()

    def handle_data(self, data: str) -> None:
        # Whitespace between block tags is layout of the HTML source, not text.
        if self.parts and self.parts[-1].endswith("\n") and not data.strip():
            return
        if not self.parts and not data.strip():
            return
        self.parts.append(data)


def rich_text_to_plain(html: str) -> str:
    parser = _PlainText()
    parser.feed(html or "")
    parser.close()
    lines = [line.rstrip() for line in "".join(parser.parts).split("\n")]
    return "\n".join(lines).strip("\n")


def plain_text_to_rich(text: str) -> str:
    """A paragraph per line; lines starting with “• ” become a list."""
    html, bullets = [], []
    for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if line.startswith("• "):
            bullets.append(f"<li>{escape(line[2:].strip(), quote=False)}</li>")
            continue
        if bullets:
            html.append("<ul>" + "".join(bullets) + "</ul>")
            bullets = []
        if line:
            html.append(f"<p>{escape(line, quote=False)}</p>")
    if bullets:
        html.append("<ul>" + "".join(bullets) + "</ul>")
    return "".join(html)


# ---------------------------------------------------------------- writing


def _text_width(text: str) -> float:
    """In half characters: a CJK character is 2, an ASCII one 1 (宋体's are half width)."""
    return sum(1 if character.isascii() else 2 for character in text)


def _line_capacity(width: float) -> int:
    """The half characters of 10 pt text on one line of a column `width` wide. Excel
    and WPS draw a column w × 7 pixels wide (w counts the default font's digits, 7
    pixels at 96 dpi) and keep a few pixels of it as the cell's margins; a 10 pt CJK
    character is 13⅓ pixels. Whole CJK characters are counted: a line never holds
    half of one. (LibreOffice draws the columns wider still and fits more.)"""
    usable = width * COLUMN_UNIT_PIXELS - CELL_MARGIN_PIXELS
    return 2 * max(1, int(usable // CJK_PIXELS))


def _estimated_lines(text: str, width: float) -> int:
    capacity = _line_capacity(width)
    return sum(max(1, -(-int(_text_width(line)) // capacity)) for line in str(text).split("\n"))


def _row_height(lines: int) -> float:
    return ONE_LINE_HEIGHT if lines <= 1 else lines * LINE_HEIGHT + ROW_PADDING


class _Sheet:
    def __init__(self, sheet: Worksheet, widths: tuple[int, ...] = COLUMN_WIDTHS) -> None:
        self.sheet = sheet
        self.widths = widths
        self.heights: dict[int, int] = {}

    def put(
        self,
        row: int,
        column: int,
        value,
        *,
        to_row: int | None = None,
        to_column: int | None = None,
        alignment: Alignment = CENTER,
        number_format: str | None = None,
    ) -> None:
        to_row, to_column = to_row or row, to_column or column
        for border_row in range(row, to_row + 1):
            for border_column in range(column, to_column + 1):
                self.sheet.cell(border_row, border_column).border = BORDER
        if to_row > row or to_column > column:
            self.sheet.merge_cells(
                start_row=row, start_column=column, end_row=to_row, end_column=to_column
            )
        cell = self.sheet.cell(row, column)
        if value is not None and value != "":
            set_value(cell, value)
        cell.alignment = alignment
        cell.font = TEXT_FONT
        if number_format:
            cell.number_format = number_format
        if isinstance(value, str) and value:
            width = sum(self.widths[column - 1 : to_column])
            lines = _estimated_lines(value, width)
            rows = to_row - row + 1
            per_row = -(-lines // rows)
            for height_row in range(row, to_row + 1):
                self.heights[height_row] = max(self.heights.get(height_row, 1), per_row)

    def finish(self) -> None:
        for row, lines in self.heights.items():
            if lines > 1:
                self.sheet.row_dimensions[row].height = _row_height(lines)


def _weight_format(value: Decimal) -> str:
    """权重 and totals as the form prints them: 30 and 96, but 95.50."""
    return WHOLE_FORMAT if value == value.to_integral_value() else TWO_PLACES_FORMAT


# ---------------------------------------------------------------- the kinds' sheets


@dataclass(frozen=True)
class SheetLayout:
    """One kind's sheet: its column widths, and the functions that draw what differs
    between the kinds — the blocks above the indicator table (they return the row of
    its section heading) and its total rows (they return the last row). The
    indicator rows are drawn alike, in the columns of the layout's `indicator_heads`."""

    widths: tuple[int, ...]
    draw_top: Callable[["_Sheet", Table, dict], int]
    draw_total: Callable[["_Sheet", Table, int, dict], int]
    # The first cell of the row under the indicators (where a reader stops).
    total_row_label: str

    def columns(self, layout: Layout) -> dict[str, int]:
        """The indicator table's columns by field (1-based), in the heads' order."""
        names = ["group", "weight", "category", "name", "target", "actual", "points", "score"]
        if not layout.shows_weight:
            names.remove("weight")
        return {name: column for column, name in enumerate([*names, "reason"], start=1)}


def _draw_overall_top(drawing: "_Sheet", table: Table, rows_at: dict) -> int:
    put = drawing.put
    put(HEADER_ROW, 1, "部门（单位）名称")
    put(HEADER_ROW, 2, table.unit_name, to_column=6, alignment=LEFT)
    put(HEADER_ROW, 7, "下属单位个数", to_column=8)
    put(HEADER_ROW, 9, table.subordinate_unit_count, number_format=WHOLE_FORMAT)

    budget_end = BUDGET_HEAD_ROW + len(table.budget_rows)
    rows_at[BUDGET_ANCHOR] = BUDGET_HEAD_ROW
    put(BUDGET_HEAD_ROW, 1, "整体支出规模（元）", to_row=budget_end)
    put(BUDGET_HEAD_ROW, 2, None, to_column=4)
    put(BUDGET_HEAD_ROW, 5, "全年预算数", to_column=6)
    put(BUDGET_HEAD_ROW, 7, "全年执行数", to_column=8)
    put(BUDGET_HEAD_ROW, 9, "执行率")
    for row, line in enumerate(table.budget_rows, start=BUDGET_HEAD_ROW + 1):
        rows_at[line.anchor] = row
        put(row, 2, line.label, to_column=4, alignment=LEFT)
        put(row, 5, line.budget_amount, to_column=6, alignment=RIGHT, number_format=AMOUNT_FORMAT)
        put(row, 7, line.executed_amount, to_column=8, alignment=RIGHT, number_format=AMOUNT_FORMAT)
        put(row, 9, line.execution_rate, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)

    put(GOAL_HEAD_ROW, 1, "年度总体目标", to_row=GOAL_TEXT_ROW)
    put(GOAL_HEAD_ROW, 2, "年初设定目标", to_column=5)
    put(GOAL_HEAD_ROW, 6, "全年完成情况", to_column=9)
    put(GOAL_TEXT_ROW, 2, rich_text_to_plain(table.target_text), to_column=5, alignment=TOP_LEFT)
    put(GOAL_TEXT_ROW, 6, rich_text_to_plain(table.result_text), to_column=9, alignment=TOP_LEFT)
    return SECTION_ROW


def _draw_overall_total(drawing: "_Sheet", table: Table, row: int, rows_at: dict) -> int:
    put = drawing.put
    rows_at[TOTAL_ANCHOR] = row
    put(row, 1, SHEET_LAYOUTS[OVERALL.kind].total_row_label, to_column=6)
    put(
        row,
        7,
        table.total_points,
        alignment=RIGHT,
        number_format=_weight_format(table.total_points),
    )
    # Blank before any row is scored, as the rows' own 得分 cells are.
    total_score = table.total_score if table.has_scores else None
    put(row, 8, total_score, alignment=RIGHT, number_format=_weight_format(table.total_score))
    put(row, 9, None)
    return row


# The project form's top: 项目名称, then 主管部门 and 实施单位, then 项目资金（元）: its
# column heads, 年度资金总额 and the lines under it.
PROJECT_HEADER_ROW = HEADER_ROW
PROJECT_BUDGET_HEAD_ROW = PROJECT_HEADER_ROW + 2


def _draw_project_top(drawing: "_Sheet", table: Table, rows_at: dict) -> int:
    put, layout, total = drawing.put, table.layout, table.budget_total
    put(PROJECT_HEADER_ROW, 1, "项目名称")
    put(PROJECT_HEADER_ROW, 2, table.project_name, to_column=8, alignment=LEFT)
    put(PROJECT_HEADER_ROW + 1, 1, "主管部门")
    put(PROJECT_HEADER_ROW + 1, 2, table.supervisor_name, to_column=4, alignment=LEFT)
    put(PROJECT_HEADER_ROW + 1, 5, "实施单位")
    put(PROJECT_HEADER_ROW + 1, 6, table.unit_name, to_column=8, alignment=LEFT)

    head = PROJECT_BUDGET_HEAD_ROW
    rows_at[BUDGET_ANCHOR] = head
    put(head, 1, layout.budget_heading, to_row=head + 1 + len(table.budget_rows))
    put(head, 2, None)
    headings = [heading for _, heading in layout.budget_columns] + ["分值", "执行率", "得分"]
    for column, heading in enumerate(headings, start=3):
        put(head, column, heading)
    put(head + 1, 2, total.label, alignment=LEFT)
    for column, name in enumerate(AMOUNT_COLUMNS, start=3):
        put(head + 1, column, getattr(total, name), alignment=RIGHT, number_format=AMOUNT_FORMAT)
    put(head + 1, 6, total.points, alignment=RIGHT, number_format=_weight_format(total.points))
    put(head + 1, 7, total.execution_rate, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
    # Blank before the results phase, as the indicators' 得分 cells are.
    put(head + 1, 8, total.score, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
    for row, line in enumerate(table.budget_rows, start=head + 2):
        rows_at[line.anchor] = row
        put(row, 2, line.label, alignment=LEFT)
        for column, name in enumerate(AMOUNT_COLUMNS, start=3):
            put(row, column, getattr(line, name), alignment=RIGHT, number_format=AMOUNT_FORMAT)
        put(row, 6, NOT_SCORED)
        put(row, 7, line.execution_rate, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
        put(row, 8, NOT_SCORED)

    goals = head + 2 + len(table.budget_rows)
    put(goals, 1, "年度总体目标", to_row=goals + 1)
    put(goals, 2, layout.target_text_label, to_column=4)
    put(goals, 5, layout.result_text_label, to_column=8)
    put(goals + 1, 2, rich_text_to_plain(table.target_text), to_column=4, alignment=TOP_LEFT)
    put(goals + 1, 5, rich_text_to_plain(table.result_text), to_column=8, alignment=TOP_LEFT)
    return goals + 2


def _draw_project_total(drawing: "_Sheet", table: Table, row: int, rows_at: dict) -> int:
    put, layout = drawing.put, table.layout
    rows_at[TOTAL_ANCHOR] = row
    put(row, 1, SHEET_LAYOUTS[PROJECT.kind].total_row_label, to_column=5)
    put(
        row,
        6,
        table.total_points,
        alignment=RIGHT,
        number_format=_weight_format(table.total_points),
    )
    total_score = table.total_score if table.has_scores else None
    put(row, 7, total_score, alignment=RIGHT, number_format=_weight_format(table.total_score))
    put(row, 8, None)
    put(row + 1, 1, layout.grade_label, to_column=5)
    put(row + 1, 6, table.grade or None, to_column=8)
    return row + 1


# 年初预算数, 全年预算数, 全年执行数 (the project form's 项目资金 columns).
AMOUNT_COLUMNS = ("initial_budget_amount", "budget_amount", "executed_amount")
# What the project form prints in the 分值 and 得分 cells of the lines under 年度资金总额.
NOT_SCORED = "—"

SHEET_LAYOUTS = {
    OVERALL.kind: SheetLayout(COLUMN_WIDTHS, _draw_overall_top, _draw_overall_total, "合计"),
    # 一级 and the 项目资金 label, 二级 and the budget lines' labels, 三级 and 年初预算数,
    # then 年度指标值 · 全年预算数, 实际完成值 · 全年执行数, 分值, 得分 · 执行率, 偏差 · 得分.
    PROJECT.kind: SheetLayout(
        (16, 18, 22, 14, 14, 8, 8, 28), _draw_project_top, _draw_project_total, PROJECT.total_label
    ),
}


# ---------------------------------------------------------------- page plan


def _indicator_lines(row: Row, group: GroupBlock, widths, columns: dict[str, int]) -> int:
    """The lines an indicator row needs, as `_Sheet.put` will count them."""
    texts = [(row.target, "target"), (row.actual, "actual"), (row.deviation_reason, "reason")]
    if not group.note:
        texts.append((row.name, "name"))
    return max(
        [1] + [_estimated_lines(text, widths[columns[name] - 1]) for text, name in texts if text]
    )


def _page_height(widths=COLUMN_WIDTHS) -> float:
    """A printed page's height in the sheet's own points: the sheet is scaled to the
    page's width. A column of width w is about 7w + 5 pixels on screen; taken as
    8w + 5 here, so that a page is planned a little shorter than LibreOffice prints
    it (measured: the plan fills about seven eighths of its page) — a break planned
    too late would fall after the program's own break."""
    sheet_width = sum(8 * width + 5 for width in widths) * 0.75
    paper_width, paper_height = A4_INCHES
    scale = min(1.0, (paper_width - 2 * MARGIN_SIDES) * 72 / sheet_width)
    return (paper_height - MARGIN_TOP - MARGIN_BOTTOM) * 72 / scale


def _plan_pages(
    table: Table, used: float, title_rows: float, widths=COLUMN_WIDTHS, columns=None
) -> set[int]:
    """The indicator rows (0-based, in table order) that begin a printed page. A
    二级 block moves to the next page whole when it fits on one, as in the PDF; a
    longer one breaks between its rows. `used` is the height of the rows above the
    indicators, `title_rows` that of the column heads repeated on every page."""
    columns = columns or SHEET_LAYOUTS[OVERALL.kind].columns(OVERALL)
    page = _page_height(widths) * 0.98  # room for the printer's own rounding
    starts: set[int] = set()
    index = 0
    for group in table.groups:
        for category in group.categories:
            heights = [
                _row_height(_indicator_lines(row, group, widths, columns)) for row in category.rows
            ]
            block = sum(heights)
            if used + block > page and title_rows + block <= page and used > title_rows:
                starts.add(index)
                used = title_rows
            for offset, height in enumerate(heights):
                if used + height > page and used > title_rows:
                    starts.add(index + offset)
                    used = title_rows
                used += height
            index += len(heights)
    if used + _row_height(1) > page and index:
        starts.add(index - 1)  # 合计 not alone on a page
    return starts


def _parts(first: int, count: int, page_starts: set[int]) -> list[tuple[int, int]]:
    """Rows first … first+count-1 cut where a page begins: (first row, last row) pairs."""
    parts, start = [], first
    for row in range(first + 1, first + count):
        if row in page_starts:
            parts.append((start, row - 1))
            start = row
    parts.append((start, first + count - 1))
    return parts


def render_xlsx(evaluation: Evaluation) -> bytes:
    """Expects an evaluation from `Evaluation.objects.with_table()`."""
    table = build_table(evaluation)
    layout = table.layout
    kind = SHEET_LAYOUTS[layout.kind]
    widths, c = kind.widths, kind.columns(layout)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_TITLE
    drawing = _Sheet(sheet, widths)
    put = drawing.put
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    last = len(widths)
    rows_at: dict[str, int] = {}

    put(TITLE_ROW, 1, f"《{table.title}》", to_column=last)
    sheet.cell(TITLE_ROW, 1).font = TITLE_FONT
    sheet.row_dimensions[TITLE_ROW].height = 28
    put(YEAR_ROW, 1, f"({table.year}年度)", to_column=last)
    for column in range(1, last + 1):  # the title sits above the frame, not in it
        sheet.cell(TITLE_ROW, column).border = Border()
        sheet.cell(YEAR_ROW, column).border = Border()

    section_row = kind.draw_top(drawing, table, rows_at)
    column_head_row, first_indicator_row = section_row + 1, section_row + 2
    put(section_row, 1, layout.indicator_heading, to_column=last)
    for column, head in enumerate(layout.indicator_heads, start=1):
        put(column_head_row, column, head)

    above = sheet.row_dimensions[TITLE_ROW].height + sum(
        _row_height(drawing.heights.get(row, 1)) for row in range(YEAR_ROW, first_indicator_row)
    )
    title_rows = sum(_row_height(1) for _ in range(section_row, first_indicator_row))
    page_starts = {
        first_indicator_row + index for index in _plan_pages(table, above, title_rows, widths, c)
    }

    row = first_indicator_row
    for group in table.groups:
        if not group.rowspan:
            continue
        rows_at[group.anchor] = row
        for part, (first, end) in enumerate(_parts(row, group.rowspan, page_starts)):
            # Cut where a page begins: the label again on the new page, marked （续）.
            put(
                first,
                c["group"],
                group.name,
                to_row=end,
                number_format=CONTINUED_FORMAT if part else None,
            )
            if "weight" in c:  # the overall form's 权重, once per 一级
                weight = None if part else group.weight
                number_format = None if part else _weight_format(group.weight)
                put(first, c["weight"], weight, to_row=end, number_format=number_format)
            if group.note:
                # The group's one 三级 cell (投入管理): a label like the others.
                put(
                    first,
                    c["name"],
                    group.note,
                    to_row=end,
                    alignment=LEFT,
                    number_format=CONTINUED_FORMAT if part else None,
                )
        for category in group.categories:
            for part, (first, end) in enumerate(_parts(row, category.rowspan, page_starts)):
                put(
                    first,
                    c["category"],
                    category.name,
                    to_row=end,
                    number_format=CONTINUED_FORMAT if part else None,
                )
            for line in category.rows:
                rows_at[line.anchor] = row
                if not group.note:
                    put(row, c["name"], line.name, alignment=LEFT)
                put(row, c["target"], line.target)
                put(row, c["actual"], line.actual)
                put(row, c["points"], line.points, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
                put(row, c["score"], line.score, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
                put(row, c["reason"], line.deviation_reason, alignment=LEFT)
                row += 1
    row = kind.draw_total(drawing, table, row, rows_at)
    drawing.finish()
    for start in sorted(page_starts):
        sheet.row_breaks.append(Break(id=start - 1))

    sheet.print_title_rows = f"{section_row}:{column_head_row}"
    sheet.print_area = f"A1:{get_column_letter(last)}{row}"
    _print_setup(sheet)
    if table.faults:
        _write_faults(workbook.create_sheet(FAULT_SHEET_TITLE), table, rows_at)
    workbook.properties.title = storable(table.document_title)
    workbook.properties.subject = storable(table.project_code or table.unit_code)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _print_setup(sheet: Worksheet) -> None:
    """A4 portrait, fit to the page's width, the footer with room of its own."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_PORTRAIT
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = MARGIN_SIDES
    sheet.page_margins.top, sheet.page_margins.bottom = MARGIN_TOP, MARGIN_BOTTOM
    sheet.page_margins.header, sheet.page_margins.footer = MARGIN_HEADER, MARGIN_FOOTER
    sheet.oddFooter.center.text = "第 &P 页 共 &N 页"
    sheet.oddFooter.center.font = FONT_NAME
    sheet.oddFooter.center.size = 9


def _write_faults(sheet: Worksheet, table: Table, rows_at: dict[str, int]) -> None:
    """The consistency check's faults, each with the row of 自评表 it points at (a
    sheet of its own only when there are faults: printed, it adds pages to the
    count in the table's footer). The reader reads the sheet 自评表 only, so this
    sheet never comes back in."""
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 90
    cells = [("所在位置", "一致性检查发现的问题")]
    for fault in table.faults:
        row = rows_at.get(fault.anchor)
        cells.append((f"{SHEET_TITLE}第 {row} 行" if row else SHEET_TITLE, fault.message))
    for row, values in enumerate(cells, start=1):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row, column)
            if value:
                set_value(cell, value)
            cell.font = TEXT_FONT
            cell.border = BORDER
            cell.alignment = LEFT
        lines = _estimated_lines(values[1], 90)
        sheet.row_dimensions[row].height = _row_height(lines)
    sheet.print_title_rows = "1:1"
    _print_setup(sheet)
