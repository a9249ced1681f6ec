"""Real xlsx files for the tests, made with openpyxl: edited exports, WPS-style
dimensions, zip bombs."""

import io
import re
import zipfile

import openpyxl


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


def zip_bomb(inflated_bytes: int = 200 * 1024 * 1024) -> bytes:
    """A small file whose sheet inflates to `inflated_bytes`."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b" " * (1024 * 1024)
            for _ in range(inflated_bytes // len(chunk)):
                member.write(chunk)
    return output.getvalue()
