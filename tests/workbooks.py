"""Real xlsx files for the tests, made with openpyxl: edited exports, WPS-style
dimensions, zip bombs; and counters of the work openpyxl does reading them."""

import functools
import io
import re
import zipfile
from collections.abc import Callable

import openpyxl
from openpyxl.cell.cell import Cell, MergedCell


def load(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def save(workbook: openpyxl.Workbook) -> bytes:
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def cells(content: bytes) -> dict:
    """What a reader sees: every non-empty cell's value, type and number format,
    the merged ranges and the print titles."""
    sheet = load(content).active
    seen = {
        cell.coordinate: (cell.value, cell.data_type, cell.number_format)
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    }
    return {
        "cells": seen,
        "merged": sorted(str(cells) for cells in sheet.merged_cells.ranges),
        "title_rows": sheet.print_title_rows,
    }


def find_row(sheet, column: int, text: str) -> int:
    for row in range(1, sheet.max_row + 1):
        if sheet.cell(row, column).value == text:
            return row
    raise AssertionError(f"{text} not found")


def with_sheet_xml(content: bytes, change) -> bytes:
    """Rewrite the first sheet's XML, keeping every other member as it is."""
    source = zipfile.ZipFile(io.BytesIO(content))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode("utf-8")).encode("utf-8")
            target.writestr(item, data)
    return output.getvalue()


def with_wrong_dimension(content: bytes) -> bytes:
    """What WPS sometimes writes: a dimension of one cell over a full sheet."""

    def shrink(xml: str) -> str:
        xml, count = re.subn(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1"/>', xml)
        assert count == 1
        return xml

    return with_sheet_xml(content, shrink)


@functools.cache
def zip_bomb(inflated_bytes: int = 200 * 1024 * 1024) -> bytes:
    """A small file whose sheet inflates to `inflated_bytes` (made once per run:
    compressing 200 MB takes a second or two)."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b" " * (1024 * 1024)
            for _ in range(inflated_bytes // len(chunk)):
                member.write(chunk)
    return output.getvalue()


@functools.cache
def tall_workbook(rows: int = 178_296, columns: int = 9, seed: int = 17) -> bytes:
    """A workbook inside every file limit that holds far more than a table: by default
    178,296 rows of 9 cells (1.6 million), 4.7 MB compressed about 1:9, like the file
    that stalled the server. The sheet is streamed into the zip: seconds, not the
    minutes openpyxl would take to write it."""
    import random

    generator = random.Random(seed)
    skeleton = zipfile.ZipFile(io.BytesIO(save(openpyxl.Workbook())))
    letters = [openpyxl.utils.get_column_letter(column) for column in range(1, columns + 1)]
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in skeleton.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                archive.writestr(item, skeleton.read(item.filename))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            member.write(
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b"<sheetData>"
            )
            # One row as a format; each cell's value is two random bits.
            cells = "".join(f'<c r="{letter}%(row)d"><v>%({letter})d</v></c>' for letter in letters)
            template = '<row r="%(row)d">' + cells + "</row>"
            shifts = [(letter, 2 * index) for index, letter in enumerate(letters)]
            batch = []
            for row in range(1, rows + 1):
                bits = generator.getrandbits(2 * columns)
                values = {letter: (bits >> shift) & 3 for letter, shift in shifts}
                values["row"] = row
                batch.append(template % values)
                if len(batch) == 1000:
                    member.write("".join(batch).encode())
                    batch = []
            member.write("".join(batch).encode())
            member.write(b"</sheetData></worksheet>")
    return output.getvalue()


def sheet_of(rows: list[str], extra_members: dict[str, bytes] | None = None) -> bytes:
    """A one-sheet workbook whose sheetData is exactly `rows` (raw <row> XML)."""
    skeleton = zipfile.ZipFile(io.BytesIO(save(openpyxl.Workbook())))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in skeleton.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                archive.writestr(
                    item,
                    '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
                    '"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                    + "".join(rows)
                    + "</sheetData></worksheet>",
                )
            else:
                archive.writestr(item, skeleton.read(item.filename))
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
    return output.getvalue()


class RowsRead:
    """Counts the <row> elements the upload check reads before it answers, and makes
    sure openpyxl never opens a refused file."""

    def __init__(self, monkeypatch) -> None:
        import evaluations.xlsx

        counters = self.counters = []

        class Counter(evaluations.xlsx._SheetCounter):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                counters.append(self)

        def refuse(*args, **kwargs):
            raise AssertionError("openpyxl opened a file the check should have refused")

        monkeypatch.setattr(evaluations.xlsx, "_SheetCounter", Counter)
        monkeypatch.setattr(evaluations.xlsx.openpyxl, "load_workbook", refuse)

    @property
    def count(self) -> int:
        return sum(counter.rows_read for counter in self.counters)


def count_cells_made(monkeypatch) -> Callable[[], int]:
    """From now on, count the cell objects openpyxl makes: reading a sheet row by row
    makes one for every cell of every row down to the last, whether the file holds
    it or not."""
    made = 0
    for kind in (Cell, MergedCell):

        def counting(self, *args, __init=kind.__init__, **kwargs):
            nonlocal made
            made += 1
            __init(self, *args, **kwargs)

        monkeypatch.setattr(kind, "__init__", counting)
    return lambda: made
