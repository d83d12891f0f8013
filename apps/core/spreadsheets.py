"""Spreadsheets: the one place that reads uploaded CSV/XLSX files and writes CSV/XLSX files.

Every app goes through this module: the enterprise import, the paper-filing import and
every export (enterprise lists, insights tables, error reports). It knows nothing about
enterprises or filings: it turns bytes into records of cells and rows of cells into bytes.

Reading
    The bytes are checked before anything is parsed: size, emptiness, extension, and whether
    the content matches the extension (an XLSX is a zip archive starting with ``PK\\x03\\x04``).
    An XLSX is then checked from its zip directory — the declared uncompressed size of all
    its parts and of its shared-strings table — *before* openpyxl opens it (a 144 KB file can
    hold a million rows), and read streaming (openpyxl's read-only mode), stopping at the
    row and column caps. Python's zip reader never inflates a part beyond its declared size,
    so a part that lies about its size cannot get past the check. CSV is decoded as UTF-8
    (with or without BOM) or GB18030, a superset of GBK that also decodes GB2312 files;
    ``auto`` tries UTF-8 first, because a UTF-8 file almost never decodes as valid GB18030
    by accident while the reverse happens; the delimiter is sniffed from the first line
    (comma, or tab for Excel's "Unicode text"). Line numbers are the numbers Excel shows at
    the left of the sheet: header line 1, first data row line 2; blank rows are skipped but
    keep their numbers.

Writing
    Text cells that Excel or LibreOffice would run as formulas are neutralised with a
    leading apostrophe (OWASP "CSV injection"; :func:`neutralise_formula`), control
    characters openpyxl refuses are replaced, CSV is UTF-8 with BOM (Excel then opens
    Chinese correctly). :func:`csv_stream` and :func:`xlsx_write_file` write any number of
    rows in constant memory (a generator for a StreamingHttpResponse, openpyxl's write-only
    mode into a file).

Caps (settings; the ``ENTERPRISE_IMPORT_*`` names are the historical ones)
    ``ENTERPRISE_IMPORT_MAX_BYTES`` (10 MB) the file, ``ENTERPRISE_IMPORT_MAX_ROWS``
    (100,000) non-empty data rows, ``SPREADSHEET_MAX_COLUMNS`` (500) columns,
    ``SPREADSHEET_MAX_UNCOMPRESSED_BYTES`` (200 MB) the inflated parts of an XLSX,
    ``SPREADSHEET_MAX_SHARED_STRINGS_BYTES`` (50 MB) its shared-strings table, which
    openpyxl holds in memory.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import PurePath

import numpy as np
import pandas as pd
import tablib
from django.conf import settings
from django.utils.translation import gettext as _

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_COLUMNS = 500
DEFAULT_MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_SHARED_STRINGS_BYTES = 50 * 1024 * 1024
#: Blank rows allowed among the data rows of an XLSX (at least; as many as the row cap when
#: that is larger): a sheet's row numbers are read one by one, so a file whose one row is
#: numbered 1,000,000,000 must stop early.
MIN_BLANK_ROWS = 10_000

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
HEAD_BYTES = 4096  # what check_upload() needs to see of a file

ENCODING_AUTO, ENCODING_UTF8, ENCODING_GBK = "auto", "utf-8", "gbk"

#: Cells starting with one of these are run as formulas by Excel and LibreOffice
#: (OWASP "CSV injection"); tab and carriage return are on OWASP's list too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SpreadsheetError(Exception):
    """The file as a whole cannot be read; ``message`` says why, in words for a clerk."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowError:
    """One problem in one row of a file: the line (header = 1), the column and what to do."""

    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class FileImportReport:
    """What an import of a spreadsheet did; each import adds its own ``summary()``."""

    file_format: str
    encoding: str
    mode: str
    dry_run: bool
    total_rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    applied: bool = False
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def error_lines(self) -> int:
        return len({e.line for e in self.errors})


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def max_upload_bytes() -> int:
    """The largest file accepted (setting ``ENTERPRISE_IMPORT_MAX_BYTES``, default 10 MB)."""
    return _setting("ENTERPRISE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


def max_rows() -> int:
    """The most non-empty data rows accepted in one file (setting ``ENTERPRISE_IMPORT_MAX_ROWS``)."""
    return _setting("ENTERPRISE_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS)


def max_columns() -> int:
    """The most columns accepted in one file (setting ``SPREADSHEET_MAX_COLUMNS``)."""
    return _setting("SPREADSHEET_MAX_COLUMNS", DEFAULT_MAX_COLUMNS)


def max_uncompressed_bytes() -> int:
    """The largest inflated size of an XLSX's parts (``SPREADSHEET_MAX_UNCOMPRESSED_BYTES``)."""
    return _setting("SPREADSHEET_MAX_UNCOMPRESSED_BYTES", DEFAULT_MAX_UNCOMPRESSED_BYTES)


def max_shared_strings_bytes() -> int:
    """The largest inflated shared-strings table (``SPREADSHEET_MAX_SHARED_STRINGS_BYTES``)."""
    return _setting("SPREADSHEET_MAX_SHARED_STRINGS_BYTES", DEFAULT_MAX_SHARED_STRINGS_BYTES)


def size_text(n: int) -> str:
    """A byte count as a clerk reads it (KB or MB)."""
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _too_many_rows() -> SpreadsheetError:
    return SpreadsheetError(_("数据行超过 %(limit)d 行的上限，请分成几个文件分别导入。") % {"limit": max_rows()})


def _too_many_columns() -> SpreadsheetError:
    return SpreadsheetError(
        _("表格超过 %(limit)d 列的上限（可能有很远处的单元格被误填了内容）。请删除多余的列后再上传。")
        % {"limit": max_columns()}
    )


# --- checking an upload -----------------------------------------------------------------------


def check_upload(*, head: bytes, filename: str, size: int) -> str:
    """Check what can be checked from the first bytes, the name and the size of a file.

    Returns the format ("csv" or "xlsx"); raises :class:`SpreadsheetError` otherwise. Used
    by upload forms (an immediate answer) and again by :func:`read_records`.
    """
    limit = max_upload_bytes()
    if size > limit:
        raise SpreadsheetError(
            _("文件过大（%(size)s），上限为 %(limit)s。请把数据分成几个文件分别导入。")
            % {"size": size_text(size), "limit": size_text(limit)}
        )
    suffix = PurePath(filename or "").suffix.lower()
    if size == 0 or not head.lstrip(codecs.BOM_UTF8 + b" \t\r\n"):
        raise SpreadsheetError(_("文件是空的，没有任何内容。"))
    is_zip = head.startswith(XLSX_MAGIC)
    is_ole = head.startswith(OLE_MAGIC)
    if suffix == ".xls" or (suffix in (".csv", ".xlsx") and is_ole):
        raise SpreadsheetError(
            _("这是旧版 Excel（.xls）或加了密码的 Excel 文件，无法读取。请在 Excel 中取消密码，另存为“Excel 工作簿（*.xlsx）”或“CSV UTF-8（逗号分隔）”后再上传。")
        )
    if suffix == ".xlsx":
        if not is_zip:
            raise SpreadsheetError(
                _("文件扩展名是 .xlsx，但内容不是 Excel 工作簿（看起来是文本文件，可能是把 CSV 文件改了扩展名）。请把扩展名改回 .csv，或在 Excel 中“另存为” .xlsx 格式后再上传。")
            )
        return "xlsx"
    if suffix == ".csv":
        if is_zip:
            raise SpreadsheetError(
                _("文件扩展名是 .csv，但内容是 Excel 工作簿或压缩文件。请把扩展名改为 .xlsx，或在 Excel 中“另存为”CSV 格式后再上传。")
            )
        return "csv"
    raise SpreadsheetError(
        _("不支持的文件类型“%(suffix)s”：请上传 CSV（.csv）或 Excel 工作簿（.xlsx）文件。")
        % {"suffix": suffix or _("无扩展名")}
    )


def validate_uploaded_file(upload):
    """Form-field check of an uploaded spreadsheet (enterprise and submission imports):
    raises a django ValidationError with the clerk-facing message, returns the file."""
    from django import forms

    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    try:
        check_upload(head=head, filename=upload.name, size=upload.size)
    except SpreadsheetError as exc:
        raise forms.ValidationError(exc.message) from exc
    return upload


# --- reading cells ----------------------------------------------------------------------------


def cell_text(value) -> str:
    """A cell as a stripped string (numbers as Excel shows them, our own neutralisation undone)."""
    if type(value) is str:  # the usual case first: every CSV cell, most XLSX text
        text = value.strip()
        if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
            text = text[1:]
        return text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        # Excel stores every number as a float: 320102 arrives as 320102.0.
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value).strip()
    # Undo the neutralisation of our own export ('=… → =…) so that a file can round-trip;
    # values are stored as text and neutralised again on every export.
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]
    return text


def decode_csv(data: bytes, encoding: str) -> tuple[str, str]:
    """Decode CSV bytes as ``encoding`` ("auto", "utf-8" or "gbk"); returns (text, label)."""
    if data.startswith(UTF16_BOMS):
        raise SpreadsheetError(
            _("文件是 UTF-16 编码（Excel 的“Unicode 文本”格式），无法读取。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再上传。")
        )
    has_bom = data.startswith(codecs.BOM_UTF8)

    def utf8() -> tuple[str, str]:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise SpreadsheetError(
                _("按 UTF-8 编码无法读取第 %(line)d 行。文件可能是 GBK 编码（Excel 默认的“CSV（逗号分隔）”），请选择“GBK”或“自动识别”。")
                % {"line": line}
            ) from exc
        return text, _("UTF-8（带 BOM）") if has_bom else _("UTF-8")

    def gbk() -> tuple[str, str]:
        if has_bom:
            raise SpreadsheetError(_("您选择了 GBK 编码，但文件是 UTF-8 编码（带 BOM 标记）。请选择“UTF-8”或“自动识别”。"))
        try:
            return data.decode("gb18030"), _("GBK（GB18030）")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise SpreadsheetError(
                _("按 GBK 编码无法读取第 %(line)d 行。请确认文件编码，或在 Excel 中另存为“CSV UTF-8（逗号分隔）”。")
                % {"line": line}
            ) from exc

    if encoding == ENCODING_UTF8:
        return utf8()
    if encoding == ENCODING_GBK:
        return gbk()
    if has_bom:
        return utf8()
    try:
        return utf8()
    except SpreadsheetError:
        pass
    try:
        return gbk()
    except SpreadsheetError as exc:
        raise SpreadsheetError(
            _("无法识别文件编码：既不是 UTF-8 也不是 GBK。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再上传。")
        ) from exc


def sniff_delimiter(first_line: str) -> str:
    """Comma, or tab when the first line has tabs and no comma (Excel's "Unicode text")."""
    return "\t" if "\t" in first_line and "," not in first_line else ","


def _capped(records: Iterable[tuple[int, list]]) -> list[tuple[int, list]]:
    """Non-empty records up to the caps (a header and ``max_rows()`` data rows)."""
    row_cap, column_cap = max_rows(), max_columns()
    kept: list[tuple[int, list]] = []
    for number, values in records:
        # any() alone would take a cell holding 0 or False for empty.
        if not (any(values) or any(v is not None and v != "" for v in values)):
            continue
        if len(values) > column_cap:
            if any(v not in (None, "") for v in values[column_cap:]):
                raise _too_many_columns()
            values = values[:column_cap]
        if len(kept) > row_cap:  # the header plus row_cap data rows are already there
            raise _too_many_rows()
        values = list(values)
        while values and values[-1] in (None, ""):
            values.pop()  # rows read up to the column cap: keep only what is filled
        kept.append((number, values))
    return kept


def csv_records(data: bytes, encoding: str) -> tuple[list[tuple[int, list]], str]:
    """The non-empty records of a CSV file as (line number, cells), and the encoding's label."""
    text, label = decode_csv(data, encoding)
    if "\x00" in text:
        raise SpreadsheetError(_("文件中含有二进制内容，不是 CSV 文本文件。"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text.split("\n", 1)[0]))
    numbered = enumerate(reader, start=1)
    try:
        # A quoted cell may span several physical lines; the record number is what Excel
        # shows as the row number, so that is the line number we report.
        return _capped(numbered), label
    except csv.Error as exc:
        raise SpreadsheetError(
            _("第 %(line)d 行的 CSV 格式有误（%(error)s），请检查引号是否成对。") % {"line": reader.line_num, "error": exc}
        ) from exc


def _unreadable_xlsx() -> SpreadsheetError:
    return SpreadsheetError(
        _("无法打开这个 Excel 文件：文件可能已损坏，或不是 .xlsx 格式。请在 Excel 中重新“另存为” .xlsx 后再上传。")
    )


def check_xlsx_directory(data: bytes) -> None:
    """Refuse an XLSX whose parts would inflate beyond the caps, from the zip directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _unreadable_xlsx() from exc
    total = sum(p.file_size for p in parts)
    strings = sum(p.file_size for p in parts if p.filename.lower().endswith("sharedstrings.xml"))
    if total > max_uncompressed_bytes() or strings > max_shared_strings_bytes():
        raise SpreadsheetError(
            _("这个 Excel 文件解压后有 %(size)s，超过了 %(limit)s 的上限（文件可能含有大量空行或异常内容）。请只保留数据所在的工作表和行，或分成几个文件后再上传。")
            % {"size": size_text(total), "limit": size_text(max_uncompressed_bytes())}
        )


_ROW_REF = re.compile(rb'<row r="([0-9]+)"')
_CELL_COLUMN = re.compile(rb'<c r="([A-Z]+)[0-9]')


def _last_row() -> int:
    """The last row number a sheet within the row cap may use (blank rows allowed)."""
    return 1 + max_rows() + max(max_rows(), MIN_BLANK_ROWS)


def _positions_within_caps(data: bytes) -> bool:
    """Whether every row and cell of every sheet names its position (``r="…"``) and all
    lie within the row and column caps — read streaming from the zip, in bounded memory.

    calamine (the fast reader) builds the whole rectangle from A1 to the farthest cell, so
    it may only read a sheet whose farthest cell is known to be near; any other sheet (no
    ``r`` attributes, prefixed tags, a cell far out) is read by openpyxl, row by row."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sheets = [p for p in archive.infolist() if p.filename.startswith("xl/worksheets/") and p.filename.endswith(".xml")]
            if not sheets:
                return False
            for part in sheets:
                rows = cells = row_refs = cell_refs = 0
                last_row, columns = 0, set()
                with archive.open(part) as stream:
                    rest = b""
                    while chunk := stream.read(1 << 20):
                        chunk = rest + chunk
                        cut = chunk.rfind(b">") + 1  # a tag never spans two pieces
                        chunk, rest = chunk[:cut], chunk[cut:]
                        rows += chunk.count(b"<row ") + chunk.count(b"<row>")
                        cells += chunk.count(b"<c ") + chunk.count(b"<c>")
                        numbers = _ROW_REF.findall(chunk)
                        row_refs += len(numbers)
                        last_row = max([last_row, *map(int, numbers)])
                        cell_refs += chunk.count(b'<c r="')
                        columns.update(_CELL_COLUMN.findall(chunk))
                if not rows or rows != row_refs or cells != cell_refs or last_row > _last_row():
                    return False
                width = max((_column_number(c) for c in columns), default=0)
                if width > max_columns():
                    return False
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError):
        return False
    return True


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _calamine_records(data: bytes) -> list[tuple[int, list]]:
    """The non-empty rows of the first sheet by calamine (Rust; ~20 times openpyxl's pace).
    Dates come back as datetimes, as openpyxl gives them."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise SpreadsheetError(_("Excel 文件中没有工作表。"))
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (CalamineError, ValueError, TypeError, OSError) as exc:
        raise _unreadable_xlsx() from exc
    date, combine, midnight = datetime.date, datetime.datetime.combine, datetime.time()
    return _capped(
        (number, [combine(v, midnight) if type(v) is date else v for v in values])
        for number, values in enumerate(rows, start=1)
    )


def xlsx_records(data: bytes) -> list[tuple[int, list]]:
    """The non-empty rows of an XLSX's first sheet as (row number, cell values).

    The zip directory is checked first (:func:`check_xlsx_directory`). A sheet whose rows
    and cells all lie within the caps (:func:`_positions_within_caps`) is read whole by
    calamine; any other is read by openpyxl one row at a time, stopping at the first row
    beyond a cap, so neither time nor memory grows with what the file claims to hold.
    """
    check_xlsx_directory(data)
    if _positions_within_caps(data):
        return _calamine_records(data)
    return _openpyxl_records(data)


def _openpyxl_records(data: bytes) -> list[tuple[int, list]]:
    import openpyxl  # imported here: only XLSX uploads need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _unreadable_xlsx() from exc
    try:
        if not book.worksheets:
            raise SpreadsheetError(_("Excel 文件中没有工作表。"))
        sheet = book.worksheets[0]
        # Some generators write a wrong <dimension>; without it the rows are read as found.
        sheet.reset_dimensions()
        # openpyxl yields every row number up to the last row in the file, empty ones
        # included: stop at a row number that no file within the row cap needs (a sheet
        # whose one row is numbered 1,000,000,000 must not take minutes). A row is as wide
        # as its last cell (at most 16,384 columns); one beyond the column cap is refused.
        last_row = _last_row()
        rows = sheet.iter_rows(values_only=True)

        def numbered():
            for number, values in enumerate(rows, start=1):
                if number > last_row:
                    raise SpreadsheetError(
                        _("工作表超过 %(limit)d 行（包括空行）。请删除数据下方多余的行（含只设置了格式的空行），或分成几个文件后再上传。")
                        % {"limit": last_row}
                    )
                yield number, values

        try:
            return _capped(numbered())
        except (KeyError, ValueError, TypeError, SyntaxError, zipfile.BadZipFile) as exc:  # malformed sheet XML
            raise _unreadable_xlsx() from exc
    finally:
        book.close()


def read_records(*, data: bytes, filename: str, encoding: str = ENCODING_AUTO) -> tuple[str, str, list[tuple[int, list[str]]]]:
    """Check and read a CSV/XLSX file: (format, encoding label, non-empty records as texts).

    Records are (line number, stripped cell texts); the first one is the header. Raises
    :class:`SpreadsheetError` for a file that cannot be read or breaks a cap.
    """
    file_format = check_upload(head=data[:HEAD_BYTES], filename=filename, size=len(data))
    if file_format == "xlsx":
        records, label = xlsx_records(data), ""
    else:
        records, label = csv_records(data, encoding)
    cleaned = [(line, [cell_text(v) for v in values]) for line, values in records]
    cleaned = [(line, values) for line, values in cleaned if any(values)]
    if not cleaned:
        raise SpreadsheetError(_("文件是空的，没有表头也没有数据。"))
    return file_format, label, cleaned


# --- reading as columns -----------------------------------------------------------------------


@dataclass
class SheetFrame:
    """A sheet read as columns by :func:`read_frame`.

    ``frame`` holds the data rows (blank rows left out) as stripped strings, "" for an empty
    cell, under positional column labels 0, 1, … as wide as the widest row (wider than the
    header when a row has more cells). ``lines`` holds each data row's line number (header
    = its own line, usually 1; blank rows keep their numbers, as Excel shows them).
    """

    file_format: str  # "csv" or "xlsx"
    encoding: str  # how a CSV was decoded, for a report ("" for XLSX)
    header: list[str]
    header_line: int
    frame: pd.DataFrame
    lines: np.ndarray


def _cell_texts(cells: list[str]) -> list[str]:
    """:func:`cell_text` on a whole column of strings: stripped, our own "'=" prefix undone
    (looked for only when the column holds an apostrophe at all)."""
    cells = [c.strip() for c in cells]
    if "'" in "".join(cells):
        cells = [c[1:] if len(c) > 1 and c[0] == "'" and c[1] in "=+-@" else c for c in cells]
    return cells


def _csv_frame(data: bytes, encoding: str) -> tuple[pd.DataFrame, str]:
    """A CSV file as a frame of cell texts, one row per record (blank ones included, so
    that row i is record i + 1), read by pandas' C parser."""
    text, label = decode_csv(data, encoding)
    if "\x00" in text:
        raise SpreadsheetError(_("文件中含有二进制内容，不是 CSV 文本文件。"))
    delimiter = sniff_delimiter(text.split("\n", 1)[0])
    # The parser needs the width up front (it refuses a record wider than the first one):
    # the most delimiters on one physical line. A record spanning lines, or a quoted
    # delimiter, can make this wrong; then the csv module reads the file (below).
    width = max(map(methodcaller("count", delimiter), text.split("\n"))) + 1
    if width > max_columns() + 1:
        width = None  # let the csv module apply the column cap with its message
    try:
        if width is None:
            raise pd.errors.ParserError("too wide")
        raw = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            names=range(width),
            dtype=object,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
        return pd.DataFrame({c: _cell_texts(raw[c].tolist()) for c in raw.columns}, index=raw.index), label
    except (pd.errors.ParserError, ValueError):
        # Unbalanced quotes or a record wider than its lines: the csv module reads it (and
        # says which line is wrong). Rare, so its per-cell pace does not matter here.
        records, label = csv_records(data, encoding)
        return _records_frame(records), label


def _records_frame(records: list[tuple[int, list]]) -> pd.DataFrame:
    """Numbered records (as :func:`csv_records` / :func:`xlsx_records` return them) as a frame
    of cell texts indexed by record number - 1."""
    width = max((len(values) for _n, values in records), default=0)
    rows = [list(values) + [""] * (width - len(values)) for _n, values in records]
    raw = pd.DataFrame(rows, columns=range(width), dtype=object)
    return pd.DataFrame(
        {c: _column_texts(raw[c].to_numpy(dtype=object)) for c in raw.columns},
        index=[n - 1 for n, _v in records],
        columns=range(width),
        dtype=object,
    )


def _column_texts(values: np.ndarray) -> list[str]:
    """:func:`cell_text` of a column of cell values: text and whole numbers (how Excel
    stores codes and counts: floats) a column at a time, anything else cell by cell."""
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if kind == "string":
        return _cell_texts(values.tolist())
    if kind == "floating":
        numbers = values.astype(np.float64)
        if (np.isfinite(numbers) & (numbers == np.floor(numbers)) & (np.abs(numbers) < 2**53)).all():
            return numbers.astype(np.int64).astype(str).tolist()
    return [cell_text(v) for v in values.tolist()]


def read_frame(*, data: bytes, filename: str, encoding: str = ENCODING_AUTO) -> SheetFrame:
    """Check and read a CSV/XLSX file as columns: a :class:`SheetFrame`.

    The same checks and caps as :func:`read_records` (size, type, zip directory, rows,
    columns; :class:`SpreadsheetError` with a clerk's message), the same cell texts
    (:func:`cell_text`) and line numbers; the first non-blank row is the header. A CSV is
    parsed by pandas' C parser straight into columns, so per-cell Python work is left to
    the caller's column operations.
    """
    file_format = check_upload(head=data[:HEAD_BYTES], filename=filename, size=len(data))
    if file_format == "xlsx":
        frame, label = _records_frame(xlsx_records(data)), ""
    else:
        frame, label = _csv_frame(data, encoding)
    filled = (frame != "").to_numpy()
    kept = filled.any(axis=1)
    if not kept.any():
        raise SpreadsheetError(_("文件是空的，没有表头也没有数据。"))
    if frame.shape[1] > max_columns():
        if filled[:, max_columns() :].any():
            raise _too_many_columns()
        frame = frame.iloc[:, : max_columns()]
    frame = frame[kept]
    if len(frame) - 1 > max_rows():
        raise _too_many_rows()
    numbers = frame.index.to_numpy(dtype=np.int64) + 1
    header = frame.iloc[0].tolist()
    while header and header[-1] == "":
        header.pop()
    body = frame.iloc[1:].reset_index(drop=True)
    return SheetFrame(
        file_format=file_format,
        encoding=label,
        header=header,
        header_line=int(numbers[0]),
        frame=body,
        lines=numbers[1:],
    )


# --- writing ----------------------------------------------------------------------------------


def neutralise_formula(value):
    """Prefix a text cell that Excel would run as a formula with an apostrophe.

    django-import-export's ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` (4.4) only strips a
    leading "=" (so "==HYPERLINK(…)" stays a formula, and + - @ are not handled at all);
    this is applied instead, to CSV and XLSX alike. The apostrophe keeps the value readable
    and our importer removes it again.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_cell(value):
    """A cell as written to any file: formulas neutralised, control characters replaced."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = neutralise_formula(value)
    if isinstance(value, str):
        # Control characters make openpyxl refuse the whole workbook.
        value = ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value)
    return value


def neutralised(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy of ``dataset`` with every cell passed through :func:`safe_cell`."""
    out = tablib.Dataset(headers=dataset.headers, title=dataset.title)
    for row in dataset:
        out.append([safe_cell(v) for v in row])
    return out


def render_dataset(*, dataset: tablib.Dataset, file_format: str, title: str = "") -> bytes:
    """Serialise a (small) dataset: CSV as UTF-8 with BOM, or XLSX; formulas neutralised."""
    safe = neutralised(dataset)
    if file_format == "csv":
        return codecs.BOM_UTF8 + safe.export("csv").encode("utf-8")
    if file_format == "xlsx":
        safe.title = safe.title or title or "Sheet1"
        return safe.export("xlsx")
    raise ValueError(f"unknown export format {file_format!r}")


def errors_csv(*, errors: list[dict]) -> bytes:
    """An import's error report as CSV (UTF-8 with BOM): 行号, 列, 错误说明."""
    dataset = tablib.Dataset(headers=[_("行号"), _("列"), _("错误说明")])
    for error in errors:
        dataset.append([error.get("line") or "", error.get("column", ""), error.get("message", "")])
    return render_dataset(dataset=dataset, file_format="csv")


class _Line:
    """A file-like object csv.writer writes one line into."""

    def __init__(self):
        self.text = ""

    def write(self, text: str) -> None:
        self.text = text


def csv_stream(*, headers: list[str], rows: Iterable[Iterable], batch: int = 500) -> Iterator[bytes]:
    """A CSV file (UTF-8 with BOM, formulas neutralised) as chunks of bytes, in constant memory.

    For a ``StreamingHttpResponse``: each chunk holds ``batch`` rows.
    """
    line = _Line()
    writer = csv.writer(line)
    writer.writerow([safe_cell(h) for h in headers])
    yield codecs.BOM_UTF8 + line.text.encode("utf-8")
    pending: list[str] = []
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        pending.append(line.text)
        if len(pending) >= batch:
            yield "".join(pending).encode("utf-8")
            pending = []
    if pending:
        yield "".join(pending).encode("utf-8")


def xlsx_write_file(*, path: str, title: str, headers: list[str], rows: Iterable[Iterable]) -> int:
    """Write one sheet to an XLSX file at ``path`` in constant memory (openpyxl write-only
    mode); formulas neutralised. Returns the number of data rows written."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=(title or "Sheet1")[:31])
    sheet.append([safe_cell(h) for h in headers])
    count = 0
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
        count += 1
    book.save(path)
    return count


def xlsx_temp_file(*, title: str, headers: list[str], rows: Iterable[Iterable]):
    """An XLSX written by :func:`xlsx_write_file` into an anonymous temporary file, rewound
    for reading (a FileResponse closes it, and the file disappears with it)."""
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        xlsx_write_file(path=path, title=title, headers=headers, rows=rows)
        fh = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    finally:
        os.unlink(path)  # POSIX: the open handle keeps the data until it is closed
    return fh


@dataclass(frozen=True)
class Spreadsheet:
    """A file to send: its bytes or an open binary file, its content type and its name."""

    content: bytes | object
    content_type: str
    filename: str
