"""Spreadsheet files for tests, written without openpyxl: XLSX "decompression bombs" of
millions of rows that are small on disk, and plain workbooks with exact row counts."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _column(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value) -> str:
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _write(target, rows) -> None:
    """``rows``: (row number, [values]) in increasing row order."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode())
            batch = []
            for number, values in rows:
                cells = "".join(_cell(f"{_column(i)}{number}", v) for i, v in enumerate(values, start=1) if v is not None)
                batch.append(f'<row r="{number}">{cells}</row>')
                if len(batch) >= 10_000:
                    sheet.write("".join(batch).encode())
                    batch = []
            sheet.write("".join(batch).encode())
            sheet.write(_SHEET_TAIL.encode())


def xlsx_bytes(rows) -> bytes:
    """A workbook of ``rows`` ((row number, values) pairs) as bytes."""
    out = io.BytesIO()
    _write(out, rows)
    return out.getvalue()


def xlsx_table(header: list[str], data: list[list]) -> bytes:
    """A workbook with ``header`` in row 1 and ``data`` from row 2."""
    return xlsx_bytes(enumerate([header, *data], start=1))


def write_bomb(path: Path, *, rows: int, cells_per_row: int = 1) -> Path:
    """An XLSX of ``rows`` rows of ``cells_per_row`` one-digit cells, small on disk: rows and
    cells carry no ``r`` attribute (allowed; readers count them), so the sheet XML is one
    pattern repeated, which deflate packs about a thousand to one."""
    row = ("<row>" + "<c><v>1</v></c>" * cells_per_row + "</row>").encode()
    block = row * 10_000
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode())
            full, rest = divmod(rows, 10_000)
            for _ in range(full):
                sheet.write(block)
            sheet.write(row * rest)
            sheet.write(_SHEET_TAIL.encode())
    return path


def declared_size(data: bytes) -> int:
    """The uncompressed size of all parts, as the zip directory declares it."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(p.file_size for p in archive.infolist())
