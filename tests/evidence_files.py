"""Files for the evidence tests: real ones of each allowed type, and the hostile
ones an upload must refuse (an executable renamed .pdf, HTML renamed .jpg, an SVG
with a script, an Office file with macros)."""

import io
import struct
import zipfile
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfWriter


def pdf(marker: str = "") -> bytes:
    """A real one-page PDF; `marker` makes files of different content."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    if marker:
        writer.add_metadata({"/Title": marker})
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG, grey."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def office(main_part: str = "word/document.xml", macros: bool = False) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(main_part, "<document/>")
        if macros:
            archive.writestr("word/vbaProject.bin", b"\x00" * 16)
    return output.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64 + b"PE\x00\x00"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
)


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)
