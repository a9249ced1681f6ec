"""The official table as an Excel workbook, and back.

`render_xlsx` draws `build_table` — the structure the page and the PDF draw — on one
sheet: the header, budget and goal blocks above the nine indicator columns, the
form's merged cells, borders, number formats and an A4 print setup with its own page
breaks; the consistency check's faults, if any, go on a second sheet.

`read_workbook` reads such a sheet back, as Excel or WPS saved it, into plain data
of the same shape as `demo.sample_data()` (decimals as strings, so it can wait in
the database between preview and confirm). It reads what people see: a merged
cell's value sits in its top-left cell and the rows below carry it on, so rows
added inside a merged block or below it, unmerged and refilled cells, and blank
padding rows all read the way they look. Every fault is collected, in Chinese,
with its sheet, row and column.
"""

import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from html.parser import HTMLParser

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from indicators.values import ValueParseError, format_value, parse_value

from .consistency import BUDGET_ANCHOR, TOTAL_ANCHOR
from .models import BudgetLine, Evaluation, parse_two_places
from .table import SOURCE_LABELS, TITLE, GroupBlock, Row, Table, build_table
from .text import REASON_MAX_LENGTH, RICH_TEXT_MAX_LENGTH, TextError, check_text
from .xlsx import SheetLimits, WorkbookError, load_workbook, set_value, storable

SHEET_TITLE = "自评表"
INDICATOR_HEADS = (
    "一级指标",
    "权重",
    "二级指标",
    "三级指标",
    "年度指标值",
    "全年完成值",
    "分值",
    "得分",
    "偏差及原因分析",
)
# Column A holds “整体支出规模（元）” on one line: narrower, its closing bracket
# wrapped alone onto a line of its own.
COLUMN_WIDTHS = (20, 7, 14, 25, 13, 13, 8, 8, 28)
# One line of 10 pt text, in points, to estimate row heights: Excel and WPS never
# grow a row for a merged cell's text by themselves. A row of one line keeps the
# program's own height (about 13.5 pt); the plan of the pages counts it as 15.
LINE_HEIGHT = 13.5
ROW_PADDING = 3
ONE_LINE_HEIGHT = 15
FONT_NAME = "宋体"
AMOUNT_FORMAT = "#,##0.00"
TWO_PLACES_FORMAT = "0.00"
WHOLE_FORMAT = "0"
MAX_INDICATOR_ROWS = 1000
MAX_AMOUNT = Decimal("999999999999.99")

# Fixed rows of the layout (1-based).
TITLE_ROW, YEAR_ROW, HEADER_ROW, BUDGET_HEAD_ROW = 1, 2, 3, 4
GOAL_HEAD_ROW = BUDGET_HEAD_ROW + 1 + len(BudgetLine.ORDER)
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
    """In column-width units: a CJK character is about 2, an ASCII one about 1."""
    return sum(1 if character.isascii() else 2 for character in text)


def _estimated_lines(text: str, width: float) -> int:
    usable = max(1.0, width - 1)  # the cell's own padding
    return sum(max(1, -(-int(_text_width(line)) // int(usable))) for line in str(text).split("\n"))


def _row_height(lines: int) -> float:
    return ONE_LINE_HEIGHT if lines <= 1 else lines * LINE_HEIGHT + ROW_PADDING


class _Sheet:
    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
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
            width = sum(COLUMN_WIDTHS[column - 1 : to_column])
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


def _indicator_lines(row: Row, group: GroupBlock) -> int:
    """The lines an indicator row needs, as `_Sheet.put` will count them."""
    texts = [(row.target, 5), (row.actual, 6), (row.deviation_reason, 9)]
    if not group.note:
        texts.append((row.name, 4))
    return max(
        [1] + [_estimated_lines(text, COLUMN_WIDTHS[column - 1]) for text, column in texts if text]
    )


def _page_height() -> float:
    """A printed page's height in the sheet's own points: the sheet is scaled to the
    page's width. A column of width w is about 7w + 5 pixels on screen; taken as
    8w + 5 here, so that a page is planned a little shorter than LibreOffice prints
    it (measured: the plan fills about seven eighths of its page) — a break planned
    too late would fall after the program's own break."""
    sheet_width = sum(8 * width + 5 for width in COLUMN_WIDTHS) * 0.75
    paper_width, paper_height = A4_INCHES
    scale = min(1.0, (paper_width - 2 * MARGIN_SIDES) * 72 / sheet_width)
    return (paper_height - MARGIN_TOP - MARGIN_BOTTOM) * 72 / scale


def _plan_pages(table: Table, used: float, title_rows: float) -> set[int]:
    """The indicator rows (0-based, in table order) that begin a printed page. A
    二级 block moves to the next page whole when it fits on one, as in the PDF; a
    longer one breaks between its rows. `used` is the height of the rows above the
    indicators, `title_rows` that of the column heads repeated on every page."""
    page = _page_height() * 0.98  # room for the printer's own rounding
    starts: set[int] = set()
    index = 0
    for group in table.groups:
        for category in group.categories:
            heights = [_row_height(_indicator_lines(row, group)) for row in category.rows]
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
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_TITLE
    drawing = _Sheet(sheet)
    put = drawing.put
    for index, width in enumerate(COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    last = len(COLUMN_WIDTHS)
    rows_at: dict[str, int] = {}

    put(TITLE_ROW, 1, f"《{table.title}》", to_column=last)
    sheet.cell(TITLE_ROW, 1).font = TITLE_FONT
    sheet.row_dimensions[TITLE_ROW].height = 28
    put(YEAR_ROW, 1, f"({table.year}年度)", to_column=last)
    for column in range(1, last + 1):  # the title sits above the frame, not in it
        sheet.cell(TITLE_ROW, column).border = Border()
        sheet.cell(YEAR_ROW, column).border = Border()

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

    put(SECTION_ROW, 1, "分解目标自评", to_column=last)
    for column, head in enumerate(INDICATOR_HEADS, start=1):
        put(COLUMN_HEAD_ROW, column, head)

    above = sheet.row_dimensions[TITLE_ROW].height + sum(
        _row_height(drawing.heights.get(row, 1)) for row in range(YEAR_ROW, FIRST_INDICATOR_ROW)
    )
    title_rows = sum(_row_height(1) for _ in range(SECTION_ROW, FIRST_INDICATOR_ROW))
    page_starts = {FIRST_INDICATOR_ROW + index for index in _plan_pages(table, above, title_rows)}

    row = FIRST_INDICATOR_ROW
    for group in table.groups:
        if not group.rowspan:
            continue
        rows_at[group.anchor] = row
        for part, (first, end) in enumerate(_parts(row, group.rowspan, page_starts)):
            # Cut where a page begins: the label again on the new page, marked （续）.
            put(first, 1, group.name, to_row=end, number_format=CONTINUED_FORMAT if part else None)
            if part:
                put(first, 2, None, to_row=end)
            else:
                put(first, 2, group.weight, to_row=end, number_format=_weight_format(group.weight))
            if group.note:
                put(first, 4, group.note, to_row=end, alignment=LEFT)
        for category in group.categories:
            for part, (first, end) in enumerate(_parts(row, category.rowspan, page_starts)):
                put(
                    first,
                    3,
                    category.name,
                    to_row=end,
                    number_format=CONTINUED_FORMAT if part else None,
                )
            for line in category.rows:
                rows_at[line.anchor] = row
                if not group.note:
                    put(row, 4, line.name, alignment=LEFT)
                put(row, 5, line.target)
                put(row, 6, line.actual)
                put(row, 7, line.points, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
                put(row, 8, line.score, alignment=RIGHT, number_format=TWO_PLACES_FORMAT)
                put(row, 9, line.deviation_reason, alignment=LEFT)
                row += 1
    rows_at[TOTAL_ANCHOR] = row
    put(row, 1, "合计", to_column=6)
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
    drawing.finish()
    for start in sorted(page_starts):
        sheet.row_breaks.append(Break(id=start - 1))

    sheet.print_title_rows = f"{SECTION_ROW}:{COLUMN_HEAD_ROW}"
    sheet.print_area = f"A1:{get_column_letter(last)}{row}"
    _print_setup(sheet)
    if table.faults:
        _write_faults(workbook.create_sheet(FAULT_SHEET_TITLE), table, rows_at)
    workbook.properties.title = storable(f"{table.unit_name} {table.year}年度 {TITLE}")
    workbook.properties.subject = storable(table.unit_code)
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


# ---------------------------------------------------------------- reading


@dataclass
class ReadResult:
    data: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
        self.errors: list[str] = []
        # Every value of the table's nine columns, taken once from the cells the
        # file holds. `sheet.cell()` would create each cell it is asked for, so a
        # lone cell at row 1,048,576 would make millions of them.
        self.values: dict[tuple[int, int], object] = {}
        for (row, column), cell in sheet._cells.items():
            value = cell.value
            if isinstance(value, str):
                value = value.strip() or None
            if column <= len(INDICATOR_HEADS) and value is not None:
                self.values[row, column] = value
        # The real extent, whatever dimension the file declares: WPS sometimes
        # writes "A1" over a full sheet.
        self.last_row = max((row for row, _column in self.values), default=0)
        self.note_cells: set[tuple[int, int]] = set()
        for cells in sheet.merged_cells.ranges:
            if cells.max_row > cells.min_row:
                self.note_cells.add((cells.min_row, cells.min_col))

    def where(self, row: int, column: int | None = None) -> str:
        place = f"工作表“{self.sheet.title}”第 {row} 行"
        if column:
            place += f" {get_column_letter(column)} 列"
            if self.heads_row and column <= len(INDICATOR_HEADS) and row > self.heads_row:
                place += f"（{INDICATOR_HEADS[column - 1]}）"
        return place

    heads_row: int | None = None

    def fail(self, row: int, column: int | None, message: str) -> None:
        self.errors.append(f"{self.where(row, column)}：{message}")

    def value(self, row: int, column: int):
        return self.values.get((row, column))

    def text(self, row: int, column: int) -> str:
        value = self.value(row, column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).replace("\r\n", "\n").replace("\r", "\n")

    def decimal(
        self,
        row: int,
        column: int,
        label: str,
        *,
        required: bool = False,
        maximum: Decimal = MAX_AMOUNT,
    ) -> Decimal | None:
        value = self.value(row, column)
        if value is None:
            if required:
                self.fail(row, column, f"{label}不能为空，请填写数字。")
            return None
        if isinstance(value, bool):
            self.fail(row, column, f"{label}应为数字。")
            return None
        if not isinstance(value, int | float | Decimal):
            value = str(value)  # text in a number cell: read by the one grammar
        try:
            return parse_two_places(value, label, maximum=maximum, tolerance=Decimal("0.000001"))
        except ValueError as error:
            self.fail(row, column, str(error))
            return None

    def check(
        self, row: int, column: int, text: str, label: str, max_length: int, multiline=False
    ) -> None:
        """The text rules of the field the cell fills (`evaluations.text`)."""
        try:
            check_text(text, label, max_length=max_length, multiline=multiline)
        except TextError as error:
            self.fail(row, column, str(error))

    def find_row(self, label: str, start: int = 1, column: int = 1) -> int | None:
        for row in range(start, self.last_row + 1):
            value = self.value(row, column)
            if isinstance(value, str) and value.replace(" ", "") == label:
                return row
        return None


def _find_sheet(workbook) -> Worksheet:
    if SHEET_TITLE in workbook.sheetnames:
        return workbook[SHEET_TITLE]
    return workbook.worksheets[0]


def read_workbook(content: bytes) -> ReadResult:
    try:
        workbook = load_workbook(content, read_only=False, limits=SHEET_LIMITS)
    except WorkbookError as error:
        return ReadResult(errors=[str(error)])
    reader = _Reader(_find_sheet(workbook))
    if reader.last_row > MAX_SHEET_ROWS:
        return ReadResult(
            errors=[
                f"工作表“{reader.sheet.title}”第 {reader.last_row:,} 行仍有内容，"
                f"超出自评表的范围（最多 {MAX_SHEET_ROWS:,} 行，"
                f"其中指标最多 {MAX_INDICATOR_ROWS:,} 行）。请删除表格下方多余的内容后再上传。"
            ]
        )
    data = {}
    _read_header(reader, data)
    _read_budget(reader, data)
    _read_goals(reader, data)
    _read_indicators(reader, data)
    return ReadResult(data=data, errors=reader.errors)


def _read_header(reader: _Reader, data: dict) -> None:
    data["year"] = None
    for row in range(1, min(reader.last_row, HEADER_ROW + 5) + 1):
        match = re.search(r"[（(]\s*(\d{4})\s*年度\s*[)）]", reader.text(row, 1))
        if match:
            data["year"] = int(match[1])
            break
    if data["year"] is None:
        reader.fail(YEAR_ROW, 1, "找不到年度（应为“(2023年度)”的形式）。")
    row = reader.find_row("部门（单位）名称")
    if row is None:
        reader.fail(HEADER_ROW, 1, "找不到“部门（单位）名称”。这不是本系统导出的自评表格式。")
        data["unit_name"], data["subordinate_unit_count"] = "", None
        return
    data["unit_name"] = reader.text(row, 2)
    count = reader.decimal(row, 9, "下属单位个数", required=True)
    if count is not None and count != count.to_integral_value():
        reader.fail(row, 9, "下属单位个数应为整数。")
        count = None
    data["subordinate_unit_count"] = int(count) if count is not None else None


def _read_budget(reader: _Reader, data: dict) -> None:
    data["budget"] = {}
    head = reader.find_row("整体支出规模（元）")
    if head is None:
        reader.fail(BUDGET_HEAD_ROW, 1, "找不到“整体支出规模（元）”。")
        return
    keywords = {kind: str(label).split("）")[-1] for kind, label in SOURCE_LABELS.items()}
    for row in range(head + 1, head + 12):
        label = reader.text(row, 2)
        if reader.text(row, 1) and row > head + 1 and reader.text(row, 1) != "整体支出规模（元）":
            break
        kind = next((kind for kind, word in keywords.items() if word and word in label), None)
        if kind is None or kind in data["budget"]:
            continue
        budget = reader.decimal(row, 5, f"{label}·全年预算数", required=True)
        executed = reader.decimal(row, 7, f"{label}·全年执行数", required=True)
        data["budget"][kind] = [str(budget or "0.00"), str(executed or "0.00")]
        data.setdefault("budget_rows", {})[kind] = row
    for kind in BudgetLine.ORDER:
        if kind not in data["budget"]:
            reader.fail(head, 1, f"整体支出规模缺少“{SOURCE_LABELS[kind]}”一行。")


def _read_goals(reader: _Reader, data: dict) -> None:
    data["target_text"] = data["result_text"] = ""
    head = reader.find_row("年度总体目标")
    if head is None:
        reader.fail(GOAL_HEAD_ROW, 1, "找不到“年度总体目标”。")
        return
    columns = {}
    for column in range(2, len(INDICATOR_HEADS) + 1):
        label = reader.text(head, column)
        if label in {"年初设定目标", "全年完成情况"}:
            columns[label] = column
    if len(columns) < 2:
        reader.fail(head, None, "年度总体目标应有“年初设定目标”和“全年完成情况”两栏。")
        return
    row = head + 1
    while row < head + 20 and not any(reader.text(row, column) for column in columns.values()):
        if reader.text(row, 1) and reader.text(row, 1) != "年度总体目标":
            break
        row += 1
    for key, label in (("target_text", "年初设定目标"), ("result_text", "全年完成情况")):
        data[key] = reader.text(row, columns[label])
        reader.check(row, columns[label], data[key], label, RICH_TEXT_MAX_LENGTH, multiline=True)


def _read_indicators(reader: _Reader, data: dict) -> None:
    data["groups"] = []
    heads_row = reader.find_row("一级指标")
    if heads_row is None:
        reader.fail(COLUMN_HEAD_ROW, 1, "找不到分解目标自评的列名行（第一列为“一级指标”）。")
        return
    found = tuple(reader.text(heads_row, column) for column in range(1, len(INDICATOR_HEADS) + 1))
    if tuple(text.replace(" ", "") for text in found) != INDICATOR_HEADS:
        reader.fail(
            heads_row,
            None,
            "列名应依次为“"
            + "、".join(INDICATOR_HEADS)
            + "”，实际为“"
            + "、".join(text or "（空）" for text in found)
            + "”。请勿增删或调换列。",
        )
        return
    reader.heads_row = heads_row
    group = category = None
    count = 0
    for row in range(heads_row + 1, reader.last_row + 1):
        values = [reader.value(row, column) for column in range(1, len(INDICATOR_HEADS) + 1)]
        if all(value is None for value in values):
            continue  # blank padding, or the lower part of merged cells only
        if reader.text(row, 1).replace(" ", "") == "合计":
            break
        count += 1
        if count > MAX_INDICATOR_ROWS:
            reader.fail(row, None, f"指标超过 {MAX_INDICATOR_ROWS} 行，请检查文件。")
            return
        group_name, category_name = reader.text(row, 1), reader.text(row, 3)
        weight = reader.decimal(row, 2, "权重", maximum=Decimal("100"))
        if group_name and (group is None or group_name != group["name"]):
            if weight is None and reader.value(row, 2) is None:
                reader.fail(row, 2, f"一级指标“{group_name}”未填写权重。")
            elif weight is not None and weight <= 0:
                reader.fail(row, 2, f"一级指标“{group_name}”的权重应大于 0。")
            group = {
                "name": group_name,
                "weight": str(weight) if weight is not None else "0",
                "note": "",
                "row": row,
                "categories": [],
            }
            data["groups"].append(group)
            category = None
            # The 三级 column merged down a whole 一级 is its note (投入管理).
            if (row, 4) in reader.note_cells and reader.text(row, 4):
                group["note"] = reader.text(row, 4)
            reader.check(row, 1, group_name, "一级指标名称", 100)
            reader.check(row, 4, group["note"], "三级指标说明", 300)
        elif group is None:
            reader.fail(row, 1, "第一行指标必须填写一级指标名称。")
            continue
        elif weight is not None and str(weight) != group["weight"]:
            reader.fail(
                row,
                2,
                f"权重 {weight} 与一级指标“{group['name']}”第 {group['row']} 行的权重 "
                f"{group['weight']} 不一致（一个一级指标只有一个权重）。",
            )
        if category_name and (category is None or category_name != category["name"]):
            category = {"name": category_name, "row": row, "indicators": []}
            reader.check(row, 3, category_name, "二级指标名称", 100)
            group["categories"].append(category)
        elif category is None:
            reader.fail(row, 3, f"一级指标“{group['name']}”下的第一行必须填写二级指标名称。")
            continue
        name = "" if group["note"] else reader.text(row, 4)
        category["indicators"].append(_read_indicator_row(reader, row, name))


def _read_indicator_row(reader: _Reader, row: int, name: str) -> dict:
    values = {}
    for key, column, comparator in (("target", 5, True), ("actual", 6, False)):
        try:
            values[key] = format_value(
                parse_value(reader.text(row, column), allow_comparator=comparator)
            )
        except ValueParseError as error:
            reader.fail(row, column, str(error))
            values[key] = ""
    points = reader.decimal(row, 7, "分值", required=True, maximum=Decimal("100"))
    score = reader.decimal(row, 8, "得分", maximum=Decimal("100"))
    if points is not None and score is not None and score > points:
        reader.fail(row, 8, f"得分 {score} 超过分值 {points}。")
    reader.check(row, 4, name, "三级指标名称", 200)
    reason = reader.text(row, 9)
    reader.check(row, 9, reason, "偏差及原因分析", REASON_MAX_LENGTH, multiline=True)
    return {
        "name": name,
        "target": values["target"],
        "actual": values["actual"],
        "points": str(points) if points is not None else "0.00",
        "score": str(score) if score is not None else None,
        "deviation_reason": reason,
        "row": row,
    }
