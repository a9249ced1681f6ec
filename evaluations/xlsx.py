"""xlsx files in and out: the limits checked before openpyxl reads an upload, text
cells that can never become formulas, and the one xlsx format the admin's
import/export offers.

openpyxl parses XML with defusedxml when it is installed (it is: see
pyproject.toml), which covers entity expansion. What defusedxml cannot see is a
zip whose members inflate to gigabytes; `check_xlsx` reads the zip's directory
with `zipfile` and refuses such a file before any member is decompressed. The
sizes it checks are the declared ones; `zipfile` stops a member at its declared
size, so a member that lies about its size cannot inflate past it either.

A file inside those limits can still hold far more than a table: 4.66 MB of
sheet XML compressed 1:9 carries 1.6 million cells, and openpyxl (in full mode)
builds every one of them before anything can count them. `check_sheets` reads
the sheets' XML as a stream first, counting rows, cells and bytes, and stops at
the first one over its limit — after reading no more than the limit allows.
"""

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from xml.parsers import expat

import openpyxl
import tablib
from defusedxml import ElementTree
from import_export.formats.base_formats import XLSX
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
# Spreadsheet XML compresses well, rarely beyond 1:30; a zip bomb goes to 1:1000.
MAX_COMPRESSION_RATIO = 100
# Ratios of small members say nothing (a 2 kB styles.xml may compress 1:40).
RATIO_CHECKED_FROM_BYTES = 1024 * 1024
MAX_MEMBERS = 1000
# Rows a bulk import (units, users, the indicator template) may hold.
MAX_IMPORT_ROWS = 20_000
# Columns a bulk import's rows may fill, on average (the widest resource has 9).
MAX_IMPORT_COLUMNS = 20
# The sheets' XML (and the shared strings') a bulk import may inflate to: 20,000
# rows of 20 cells are about 18 MB.
MAX_IMPORT_SHEET_BYTES = 40 * 1024 * 1024

# A text cell starting with one of these would be a formula (or start one) in a
# spreadsheet program. It is written as a string with Excel's quote prefix, so it
# shows exactly as typed and stays text even when the cell is edited.
FORMULA_STARTS = ("=", "+", "-", "@")


class WorkbookError(ValueError):
    """A file that cannot be read as this workbook, with its Chinese reason."""


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


def check_xlsx(content: bytes) -> None:
    """Refuse, in Chinese, a file that is too big, not an xlsx, or a zip bomb."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise WorkbookError(
            f"文件大小 {len(content) / 1024 / 1024:.1f} MB，超过上限 {megabytes(MAX_UPLOAD_BYTES)}。"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as error:
        raise WorkbookError(
            "文件不是有效的 Excel 工作簿（.xlsx），请用 Excel 或 WPS 另存为 .xlsx 后再上传。"
        ) from error
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise WorkbookError("文件结构异常（压缩包内文件过多），已拒绝。")
        total = 0
        for member in members:
            total += member.file_size
            if (
                member.file_size > RATIO_CHECKED_FROM_BYTES
                and member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1)
            ):
                raise WorkbookError(
                    f"文件结构异常（压缩比超过 {MAX_COMPRESSION_RATIO}:1，疑似压缩炸弹），已拒绝。"
                )
        if total > MAX_UNCOMPRESSED_BYTES:
            raise WorkbookError(
                f"文件解压后 {total / 1024 / 1024:.0f} MB，超过上限 "
                f"{megabytes(MAX_UNCOMPRESSED_BYTES)}（疑似压缩炸弹），已拒绝。"
            )
        if "[Content_Types].xml" not in archive.namelist():
            raise WorkbookError(
                "文件不是有效的 Excel 工作簿（.xlsx），请用 Excel 或 WPS 另存为 .xlsx 后再上传。"
            )


@dataclass(frozen=True)
class SheetLimits:
    """What the sheets of an upload may hold, counted before openpyxl reads them."""

    last_row: int  # the last row that may hold a value, on every sheet
    cells: int  # <c> elements of all sheets, empty styled ones included
    xml_bytes: int  # all XML parts (sheets, shared strings, styles …), uncompressed
    # The refusal of a value beyond `last_row`: (sheet title, row) -> Chinese message.
    beyond_last_row: Callable[[str, int], str]
    # Merged ranges must end within `last_row` and this column, if given: opened in
    # full, openpyxl makes an object for every cell a merge covers, so a few bytes
    # declaring A1:XFD1048576 would take the worker down.
    last_column: int | None = None
    # (sheet title, range) -> Chinese message.
    beyond_merge: Callable[[str, str], str] | None = None


MERGE_REFERENCE = re.compile(r"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?")
RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
# workbook.xml and its relationships name the sheets; more than this is no workbook.
NAMES_MEMBER_LIMIT = 1024 * 1024
READ_CHUNK = 64 * 1024
DAMAGED = (
    "无法读取该 Excel 文件（文件可能已损坏或不是 .xlsx 格式），请用 Excel 或 WPS 另存后再上传。"
)


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _local_name(tag) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _sheet_titles(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet titles by member name ("xl/worksheets/sheet1.xml" -> "自评表"), as far as
    workbook.xml says; a member it does not name is called by its file name."""
    try:
        members = {info.filename: info for info in archive.infolist()}
        workbook = members["xl/workbook.xml"]
        relations = members["xl/_rels/workbook.xml.rels"]
        if max(workbook.file_size, relations.file_size) > NAMES_MEMBER_LIMIT:
            return {}
        targets = {
            element.get("Id"): element.get("Target", "")
            for element in ElementTree.fromstring(archive.read(relations)).iter()
            if _local_name(element.tag) == "Relationship"
        }
        titles = {}
        for element in ElementTree.fromstring(archive.read(workbook)).iter():
            if _local_name(element.tag) == "sheet":
                target = targets.get(element.get(RELATIONSHIP_ID), "")
                path = target.lstrip("/") if target.startswith("/") else "xl/" + target
                titles[path] = element.get("name", "")
        return titles
    except Exception:  # the titles only make messages friendlier
        return {}


class _SheetCounter:
    """Counts one upload's rows, cells and XML bytes as expat reads them, and raises
    WorkbookError at the first limit crossed. Expat calls back only at element
    starts: a few Python calls per cell, against the hundreds openpyxl spends."""

    def __init__(self, limits: SheetLimits) -> None:
        self.limits = limits
        self.bytes_left = limits.xml_bytes
        self.cells = 0
        self.strings = 0
        self.rows_read = 0  # <row> elements of all sheets: what the tests measure
        self.too_big = (
            f"工作表内容解压后超过 {megabytes(limits.xml_bytes)}，远超本表格应有的大小，"
            "已拒绝。请删除多余的工作表或内容后再上传。"
        )
        self.too_many_cells = (
            f"工作表中的单元格超过 {limits.cells:,} 个，远超本表格应有的大小，已拒绝。"
            "请删除多余的工作表或内容后再上传。"
        )

    def read(self, archive: zipfile.ZipFile, name: str, handler) -> None:
        """Feed member `name` to expat, if it is XML at all (images, printer settings
        and macros are not, and openpyxl could not read them as sheets either)."""
        parser = expat.ParserCreate()
        parser.StartElementHandler = handler
        # No spreadsheet has a DTD; one is how entity bombs start.
        parser.StartDoctypeDeclHandler = self.refuse_declaration
        parser.EntityDeclHandler = self.refuse_declaration
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        try:
            with archive.open(name) as member:
                chunk = member.read(READ_CHUNK)
                if not chunk.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                    return
                while chunk:
                    self.bytes_left -= len(chunk)
                    if self.bytes_left < 0:
                        raise WorkbookError(self.too_big)
                    parser.Parse(chunk, False)
                    chunk = member.read(READ_CHUNK)
                parser.Parse(b"", True)
        except (expat.ExpatError, zipfile.BadZipFile, EOFError, ValueError) as error:
            if isinstance(error, WorkbookError):
                raise
            raise WorkbookError(DAMAGED) from error

    def refuse_declaration(self, *args) -> None:
        raise WorkbookError(DAMAGED)

    def sheet(self, title: str):
        """The handler of one XML part: rows, cells and merges as in a worksheet, the
        strings of a shared-string table."""
        limits = self.limits
        row = rows = 0

        def start(tag: str, attributes: dict) -> None:
            nonlocal row, rows
            tag = tag.rpartition(":")[2]
            if tag == "c":
                self.cells += 1
                if self.cells > limits.cells:
                    raise WorkbookError(self.too_many_cells)
            elif tag in ("v", "is", "f"):
                if row > limits.last_row:
                    raise WorkbookError(limits.beyond_last_row(title, row))
            elif tag == "row":
                self.rows_read += 1
                rows += 1
                number = attributes.get("r", "")
                row = int(number) if number.isdigit() else row + 1
                # Empty rows cost too (openpyxl keeps their heights); rows with
                # values meet the check of `last_row` first.
                if rows > 2 * limits.last_row:
                    raise WorkbookError(
                        f"工作表“{title}”超过 {2 * limits.last_row:,} 行，"
                        "远超本表格应有的大小，已拒绝。"
                    )
            elif tag == "si":
                # More distinct strings than the cells could use is not a table.
                self.strings += 1
                if self.strings > limits.cells:
                    raise WorkbookError(self.too_many_cells)
            elif tag == "mergeCell" and limits.last_column is not None:
                self.merge(title, attributes.get("ref", ""))

        return start

    def merge(self, title: str, reference: str) -> None:
        match = MERGE_REFERENCE.fullmatch(reference)
        if match is None:
            raise WorkbookError(DAMAGED)
        last_row = int(match[4] or match[2])
        if last_row > self.limits.last_row or (
            column_number(match[3] or match[1]) > self.limits.last_column
        ):
            raise WorkbookError(self.limits.beyond_merge(title, reference))


def check_sheets(content: bytes, limits: SheetLimits) -> _SheetCounter:
    """Refuse, in Chinese, a workbook whose sheets hold more than `limits`: their XML
    is read as a stream, and reading stops at the first limit crossed. (Call after
    check_xlsx.) Every XML part is read, wherever it lies: openpyxl finds sheets and
    shared strings through the package's relationships, which a file may point
    anywhere. Returns the counts."""
    counter = _SheetCounter(limits)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        titles = _sheet_titles(archive)
        for info in archive.infolist():
            if not info.is_dir():
                title = titles.get(info.filename) or info.filename.rsplit("/", 1)[-1]
                counter.read(archive, info.filename, counter.sheet(title))
    return counter


def load_workbook(content: bytes, *, read_only: bool, limits: SheetLimits) -> openpyxl.Workbook:
    """An uploaded workbook, checked first. Values, not formulas: a formula cell
    yields the value Excel or WPS last computed for it."""
    check_xlsx(content)
    check_sheets(content, limits)
    try:
        return openpyxl.load_workbook(io.BytesIO(content), read_only=read_only, data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a damaged file
        raise WorkbookError(DAMAGED) from error


def storable(text: str) -> str:
    """`text` as a workbook can hold it: a control character no workbook can hold —
    refused on input, but perhaps stored before that rule — becomes U+FFFD (�),
    visibly, rather than failing the whole file."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)


def set_text(cell: Cell, text: str) -> None:
    """Write `text` as a string cell that no spreadsheet program evaluates."""
    text = storable(text)
    cell.value = text
    if text.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True


def set_value(cell: Cell, value) -> None:
    """Numbers stay numbers; text goes through `set_text`."""
    if isinstance(value, str):
        set_text(cell, value)
    else:
        cell.value = value


def is_blank(values) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


class SafeXLSX(XLSX):
    """The admin's only import and export format.

    Import: the upload limits above, WPS's wrong sheet dimension reset, trailing
    blank rows dropped (blank rows in between are kept so that the admin's row
    numbers stay those of the sheet; the resources skip them) and a row limit.
    Export: text that would start a formula stays text, numbers stay numbers,
    blanks stay blank — which `IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT` does not do.
    """

    def create_dataset(self, in_stream):
        limits = SheetLimits(
            # The heads, then the rows: blank ones count, as below.
            last_row=MAX_IMPORT_ROWS + 1,
            cells=(MAX_IMPORT_ROWS + 1) * MAX_IMPORT_COLUMNS,
            xml_bytes=MAX_IMPORT_SHEET_BYTES,
            beyond_last_row=lambda title, row: (
                f"工作表“{title}”超过 {MAX_IMPORT_ROWS:,} 行数据（第 {row:,} 行仍有内容），"
                "请分成几个文件导入。"
            ),
        )
        workbook = load_workbook(in_stream, read_only=True, limits=limits)
        try:
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            headers = next(rows, None)
            if headers is None or is_blank(headers):
                raise WorkbookError(f"工作表“{sheet.title}”第 1 行应为列名，但它是空的。")
            width = max(index for index, value in enumerate(headers, 1) if value is not None)
            headers = [str(value).strip() if value is not None else "" for value in headers]
            dataset = tablib.Dataset(headers=headers[:width])
            pending_blank = []
            for row in rows:
                # Blank rows count too, as they are read: a lone cell at row
                # 1,048,576 would otherwise have a million of them held first.
                if len(dataset) + len(pending_blank) >= MAX_IMPORT_ROWS:
                    raise WorkbookError(
                        f"工作表“{sheet.title}”超过 {MAX_IMPORT_ROWS:,} 行数据，请分成几个文件导入。"
                    )
                values = list(row[:width]) + [None] * (width - len(row[:width]))
                if is_blank(values):
                    pending_blank.append(values)
                    continue
                dataset.extend(pending_blank)
                pending_blank = []
                dataset.append(values)
            return dataset
        finally:
            workbook.close()

    def export_data(self, dataset, **kwargs):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = (dataset.title or "数据")[:31]
        bold = Font(bold=True)
        for column, header in enumerate(dataset.headers or [], start=1):
            cell = sheet.cell(row=1, column=column)
            set_text(cell, str(header))
            cell.font = bold
            width = max(10, min(40, 2 * len(str(header)) + 4))
            sheet.column_dimensions[cell.column_letter].width = width
        for row_number, row in enumerate(dataset, start=2):
            for column, value in enumerate(row, start=1):
                if value is None or value == "":
                    continue
                cell = sheet.cell(row=row_number, column=column)
                if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
                    cell.value = value
                else:
                    set_text(cell, str(value))
                    if "\n" in str(value):
                        cell.alignment = Alignment(wrap_text=True)
        sheet.freeze_panes = "A2"
        output = io.BytesIO()
        workbook.save(output)
        return output.getvalue()
