"""Real xlsx files for the tests, made with openpyxl: edited exports, WPS-style
dimensions, zip bombs; and counters of the work openpyxl does reading them."""

import functools
import io
import re
import zipfile
from collections.abc import Callable

import openpyxl
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.worksheet._read_only import ReadOnlyWorksheet


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


def count_rows_read(monkeypatch) -> Callable[[], int]:
    """From now on, count the rows read-only sheets hand out (blank ones included)."""
    read = 0
    iter_rows = ReadOnlyWorksheet.iter_rows

    def counting(self, *args, **kwargs):
        nonlocal read
        for row in iter_rows(self, *args, **kwargs):
            read += 1
            yield row

    monkeypatch.setattr(ReadOnlyWorksheet, "iter_rows", counting)
    return lambda: read
