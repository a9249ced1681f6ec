"""xlsx files in and out: the limits checked before openpyxl reads an upload, text
cells that can never become formulas, and the one xlsx format the admin's
import/export offers.

openpyxl parses XML with defusedxml when it is installed (it is: see
pyproject.toml), which covers entity expansion. What defusedxml cannot see is a
zip whose members inflate to gigabytes; `check_xlsx` reads the zip's directory
with `zipfile` and refuses such a file before any member is decompressed. The
sizes it checks are the declared ones; `zipfile` stops a member at its declared
size, so a member that lies about its size cannot inflate past it either.
"""

import io
import re
import zipfile
from decimal import Decimal

import openpyxl
import tablib
from import_export.formats.base_formats import XLSX
from openpyxl.cell.cell import Cell
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


MERGE_REFERENCE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number


def check_merged_ranges(content: bytes, *, max_row: int, max_column: int) -> None:
    """Refuse merged ranges beyond the table before openpyxl opens the file: opened
    in full, it makes an object for every cell a merge covers, so a few kilobytes
    declaring A1:XFD1048576 would take the worker down. (Call after check_xlsx.)"""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            for match in MERGE_REFERENCE.finditer(archive.read(name)):
                last_column = match[3] or match[1]
                last_row = int(match[4] or match[2])
                if last_row > max_row or column_number(last_column) > max_column:
                    reference = match[0].split(b'"')[1].decode()
                    raise WorkbookError(
                        f"工作表中的合并单元格 {reference} 超出自评表的范围"
                        f"（最多 {max_row:,} 行、{max_column} 列），已拒绝。"
                    )


def load_workbook(content: bytes, *, read_only: bool) -> openpyxl.Workbook:
    """An uploaded workbook, checked first. Values, not formulas: a formula cell
    yields the value Excel or WPS last computed for it."""
    check_xlsx(content)
    try:
        return openpyxl.load_workbook(io.BytesIO(content), read_only=read_only, data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a damaged file
        raise WorkbookError(
            "无法读取该 Excel 文件（文件可能已损坏或不是 .xlsx 格式），请用 Excel 或 WPS 另存后再上传。"
        ) from error


def set_text(cell: Cell, text: str) -> None:
    """Write `text` as a string cell that no spreadsheet program evaluates."""
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
        workbook = load_workbook(in_stream, read_only=True)
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
