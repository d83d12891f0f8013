"""Bulk import and export of enterprises (CSV in UTF-8 or GBK, XLSX).

This module is the single place that runs an import: the portal's background job, the
``import_enterprises`` management command and the admin all end up in
:func:`enterprises_import` (the admin through :class:`EnterpriseCSV` / :class:`EnterpriseXLSX`
and :class:`~apps.enterprises.resources.EnterpriseResource`). Exports go through
:func:`enterprises_export` / :func:`render_export`, the single place where cells that Excel
would run as formulas are neutralised.

Reading a file
    The bytes are checked before anything is parsed: size, emptiness, extension, and whether
    the content matches the extension (an XLSX is a zip archive starting with ``PK\\x03\\x04``).
    CSV is decoded as UTF-8 (with or without BOM) or GB18030, a superset of GBK that also
    decodes GB2312 files; ``auto`` tries UTF-8 first, because a UTF-8 file almost never
    decodes as valid GB18030 by accident while the reverse happens. Line numbers are the
    numbers Excel shows at the left of the sheet: header line 1, first data row line 2;
    blank rows are skipped but keep their numbers.

Modes
    ``all_or_nothing``: if any row is wrong, nothing is written; the report lists every bad
    row. ``valid_rows_only``: good rows are written, bad rows are reported and skipped.
    Either way all writes happen in one transaction, so an unexpected error midway leaves
    the data as it was.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath

import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from import_export.formats import base_formats

from apps.accounts.permissions import can_import_enterprises

from .models import Enterprise, ImportEncoding, ImportJob, ImportJobStatus, ImportMode
from .resources import (
    ALL_COLUMNS,
    EXPORT_ONLY_COLUMNS,
    HEADER_ALIASES,
    IMPORT_COLUMNS,
    REQUIRED_COLUMNS,
    EnterpriseResource,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
HEAD_BYTES = 4096  # what check_upload() needs to see of a file

#: Cells starting with one of these are run as formulas by Excel and LibreOffice
#: (OWASP "CSV injection"); tab and carriage return are on OWASP's list too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def max_upload_bytes() -> int:
    """The largest file accepted (setting ``ENTERPRISE_IMPORT_MAX_BYTES``, default 10 MB)."""
    return int(getattr(settings, "ENTERPRISE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_rows() -> int:
    """The most data rows accepted in one file (setting ``ENTERPRISE_IMPORT_MAX_ROWS``)."""
    return int(getattr(settings, "ENTERPRISE_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


# --- results -----------------------------------------------------------------------------


class ImportFileError(Exception):
    """The file as a whole cannot be imported; ``message`` says why, in words for a clerk."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowError:
    """One problem in one row: the file line (header = 1), the column and what to do."""

    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class ImportTable:
    """A file read into strings: canonical headers, data rows and their line numbers."""

    headers: list[str]
    rows: list[list[str]]
    lines: list[int]
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""  # how a CSV was decoded, for the report ("" for XLSX)
    ignored_columns: list[str] = field(default_factory=list)
    read_errors: list[RowError] = field(default_factory=list)

    def to_dataset(self) -> tablib.Dataset:
        dataset = tablib.Dataset(*self.rows, headers=self.headers)
        # Read by EnterpriseResource.before_import to turn row indexes into file lines.
        dataset.line_numbers = list(self.lines)
        return dataset


@dataclass
class ImportReport:
    """What an import did.

    ``created``/``updated`` count rows written by this run; in a dry run, the rows that would
    be; when an all-or-nothing import is refused, 0. ``unchanged`` counts rows of existing
    enterprises that already had exactly these values (nothing written, no history row).
    ``skipped`` counts rows with errors. ``applied`` says whether anything was committed.
    """

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

    def summary(self) -> str:
        """One or two sentences for a clerk."""
        numbers = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }
        if self.dry_run:
            # One message, not pieces joined in code: the English word order differs.
            return _(
                "试导入（未写入数据库）：共 %(total)d 行数据，%(bad)d 行有错误。"
                "正式导入将新增 %(created)d 家，更新 %(updated)d 家，未变化 %(unchanged)d 家，跳过错误行 %(skipped)d 行。"
            ) % {"total": self.total_rows, "bad": self.error_lines, **numbers}
        counts = _("新增 %(created)d 家，更新 %(updated)d 家，未变化 %(unchanged)d 家，跳过错误行 %(skipped)d 行。") % numbers
        if not self.errors:
            return _("导入完成：共 %(total)d 行数据。") % {"total": self.total_rows} + counts
        if self.applied:
            return (
                _("部分导入：%(bad)d 行有错误，已跳过；其余的行已写入。") % {"bad": self.error_lines} + counts
            )
        if self.mode == ImportMode.ALL_OR_NOTHING:
            return _(
                "未导入：%(bad)d 行有错误。按“全部或全不”方式，没有写入任何数据。请按错误报告改正后重新上传整个文件。"
            ) % {"bad": self.error_lines}
        return _("未导入：没有可以写入的正确行（%(bad)d 行有错误），数据库未作任何改动。") % {"bad": self.error_lines}


# --- reading files -----------------------------------------------------------------------


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def validate_uploaded_file(upload):
    """Form-field check of an uploaded import file (enterprise and submission imports):
    raises a django ValidationError with the clerk-facing message, returns the file."""
    from django import forms

    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    try:
        check_upload(head=head, filename=upload.name, size=upload.size)
    except ImportFileError as exc:
        raise forms.ValidationError(exc.message) from exc
    return upload


def check_upload(*, head: bytes, filename: str, size: int) -> str:
    """Check what can be checked from the first bytes, the name and the size of a file.

    Returns the format ("csv" or "xlsx"); raises :class:`ImportFileError` otherwise. Used
    by the upload form (immediate answer) and again by :func:`read_enterprise_table`.
    """
    limit = max_upload_bytes()
    if size > limit:
        raise ImportFileError(
            _("文件过大（%(size)s），上限为 %(limit)s。请把数据分成几个文件分别导入。")
            % {"size": _size_text(size), "limit": _size_text(limit)}
        )
    suffix = PurePath(filename or "").suffix.lower()
    if size == 0 or not head.lstrip(codecs.BOM_UTF8 + b" \t\r\n"):
        raise ImportFileError(_("文件是空的，没有任何内容。"))
    is_zip = head.startswith(XLSX_MAGIC)
    is_ole = head.startswith(OLE_MAGIC)
    if suffix == ".xls" or (suffix in (".csv", ".xlsx") and is_ole):
        raise ImportFileError(
            _("这是旧版 Excel（.xls）或加了密码的 Excel 文件，无法读取。请在 Excel 中取消密码，另存为“Excel 工作簿（*.xlsx）”或“CSV UTF-8（逗号分隔）”后再上传。")
        )
    if suffix == ".xlsx":
        if not is_zip:
            raise ImportFileError(
                _("文件扩展名是 .xlsx，但内容不是 Excel 工作簿（看起来是文本文件，可能是把 CSV 文件改了扩展名）。请把扩展名改回 .csv，或在 Excel 中“另存为” .xlsx 格式后再上传。")
            )
        return "xlsx"
    if suffix == ".csv":
        if is_zip:
            raise ImportFileError(
                _("文件扩展名是 .csv，但内容是 Excel 工作簿或压缩文件。请把扩展名改为 .xlsx，或在 Excel 中“另存为”CSV 格式后再上传。")
            )
        return "csv"
    raise ImportFileError(
        _("不支持的文件类型“%(suffix)s”：请上传 CSV（.csv）或 Excel 工作簿（.xlsx）文件。")
        % {"suffix": suffix or _("无扩展名")}
    )


def _canonical_header(text: str) -> str:
    """Map a header cell to a column name: full-width/half-width, spaces, "*" and case ignored."""
    key = unicodedata.normalize("NFKC", text or "").replace(" ", "").replace("*", "").strip().casefold()
    for column in ALL_COLUMNS:
        if unicodedata.normalize("NFKC", column).casefold() == key:
            return column
    for alias, column in HEADER_ALIASES.items():
        if unicodedata.normalize("NFKC", alias).casefold() == key:
            return column
    return ""


def cell_text(value) -> str:
    """A cell as the stripped string the resource's widgets expect."""
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


def _decode_csv(data: bytes, encoding: str) -> tuple[str, str]:
    """Decode CSV bytes; returns (text, label of the encoding used)."""
    if data.startswith(UTF16_BOMS):
        raise ImportFileError(
            _("文件是 UTF-16 编码（Excel 的“Unicode 文本”格式），无法读取。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再上传。")
        )
    has_bom = data.startswith(codecs.BOM_UTF8)

    def utf8() -> tuple[str, str]:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ImportFileError(
                _("按 UTF-8 编码无法读取第 %(line)d 行。文件可能是 GBK 编码（Excel 默认的“CSV（逗号分隔）”），请选择“GBK”或“自动识别”。")
                % {"line": line}
            ) from exc
        return text, _("UTF-8（带 BOM）") if has_bom else _("UTF-8")

    def gbk() -> tuple[str, str]:
        if has_bom:
            raise ImportFileError(_("您选择了 GBK 编码，但文件是 UTF-8 编码（带 BOM 标记）。请选择“UTF-8”或“自动识别”。"))
        try:
            return data.decode("gb18030"), _("GBK（GB18030）")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ImportFileError(
                _("按 GBK 编码无法读取第 %(line)d 行。请确认文件编码，或在 Excel 中另存为“CSV UTF-8（逗号分隔）”。")
                % {"line": line}
            ) from exc

    if encoding == ImportEncoding.UTF8:
        return utf8()
    if encoding == ImportEncoding.GBK:
        return gbk()
    if has_bom:
        return utf8()
    try:
        return utf8()
    except ImportFileError:
        pass
    try:
        return gbk()
    except ImportFileError as exc:
        raise ImportFileError(
            _("无法识别文件编码：既不是 UTF-8 也不是 GBK。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再上传。")
        ) from exc


def csv_records(data: bytes, encoding: str) -> tuple[list[tuple[int, list]], str]:
    text, label = _decode_csv(data, encoding)
    if "\x00" in text:
        raise ImportFileError(_("文件中含有二进制内容，不是 CSV 文本文件。"))
    first_line = text.split("\n", 1)[0]
    # Excel's "Unicode text" and some exports separate columns with tabs.
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list]] = []
    try:
        # A quoted cell may span several physical lines; the record number is what Excel
        # shows as the row number, so that is the line number we report.
        for number, record in enumerate(reader, start=1):
            records.append((number, record))
    except csv.Error as exc:
        raise ImportFileError(
            _("第 %(line)d 行的 CSV 格式有误（%(error)s），请检查引号是否成对。") % {"line": len(records) + 1, "error": exc}
        ) from exc
    return records, label


def xlsx_records(data: bytes) -> list[tuple[int, list]]:
    import openpyxl  # imported here: only XLSX uploads need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(
            _("无法打开这个 Excel 文件：文件可能已损坏，或不是 .xlsx 格式。请在 Excel 中重新“另存为” .xlsx 后再上传。")
        ) from exc
    try:
        if not book.worksheets:
            raise ImportFileError(_("Excel 文件中没有工作表。"))
        sheet = book.worksheets[0]
        # Some generators write a wrong <dimension>; without it the rows are read as found.
        sheet.reset_dimensions()
        records = []
        for cells in sheet.iter_rows():
            cells = list(cells)
            row_number = next((c.row for c in cells if getattr(c, "row", None)), None)
            if row_number is None:
                continue  # an empty row: only its absence matters, numbering comes from cells
            records.append((row_number, [c.value for c in cells]))
        return records
    finally:
        book.close()


def read_enterprise_table(*, data: bytes, filename: str, encoding: str = ImportEncoding.AUTO) -> ImportTable:
    """Read an uploaded CSV/XLSX file into an :class:`ImportTable`, or raise ImportFileError.

    Checks the file as a whole (size, type, encoding, header row, at least one data row);
    row values are checked later, by the resource. A row with more cells than the header
    (typically an unquoted comma inside a value) is left out and reported in
    ``read_errors``.
    """
    file_format = check_upload(head=data[:HEAD_BYTES], filename=filename, size=len(data))
    if file_format == "xlsx":
        records, label = xlsx_records(data), ""
    else:
        records, label = csv_records(data, encoding)

    cleaned = [(line, [cell_text(v) for v in values]) for line, values in records]
    cleaned = [(line, values) for line, values in cleaned if any(values)]
    if not cleaned:
        raise ImportFileError(_("文件是空的，没有表头也没有数据。"))
    header_line, header_cells = cleaned[0]

    headers: list[str] = []
    ignored: list[str] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(header_cells, start=1):
        column = _canonical_header(cell)
        if column and column in seen:
            raise ImportFileError(
                _("表头（第 %(line)d 行）中“%(column)s”出现了两次（第 %(a)d 列和第 %(b)d 列），请删除其中一列。")
                % {"line": header_line, "column": column, "a": seen[column], "b": index}
            )
        if column:
            seen[column] = index
            headers.append(column)
        else:
            # Unknown or empty header: keep the position, the resource ignores the column.
            headers.append(f"__ignored_{index}")
            if cell:
                ignored.append(cell)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise ImportFileError(
            _("表头（第 %(line)d 行）缺少必需的列：%(missing)s。表头应包含：%(expected)s（可先导出一份作为模板）。")
            % {"line": header_line, "missing": "、".join(missing), "expected": "、".join(IMPORT_COLUMNS)}
        )

    width = len(headers)
    rows: list[list[str]] = []
    lines: list[int] = []
    read_errors: list[RowError] = []
    for line, values in cleaned[1:]:
        extra = [v for v in values[width:] if v]
        if extra:
            read_errors.append(
                RowError(
                    line=line,
                    column="",
                    message=_("这一行比表头多出 %(n)d 个有内容的单元格，可能是某个值里有未加引号的逗号。请核对这一行。")
                    % {"n": len(extra)},
                )
            )
            continue
        rows.append((values + [""] * width)[:width])
        lines.append(line)
    if not rows and not read_errors:
        raise ImportFileError(_("文件中只有表头，没有数据行。"))
    if len(rows) + len(read_errors) > max_rows():
        raise ImportFileError(
            _("数据行超过 %(limit)d 行的上限，请分成几个文件分别导入。") % {"limit": max_rows()}
        )
    ignored += [c for c in EXPORT_ONLY_COLUMNS if c in seen]
    return ImportTable(
        headers=headers,
        rows=rows,
        lines=lines,
        file_format=file_format,
        encoding=label,
        ignored_columns=ignored,
        read_errors=read_errors,
    )


# --- importing ---------------------------------------------------------------------------


def _row_errors(*, resource: EnterpriseResource, result, lines: list[int]) -> list[RowError]:
    """Flatten import_export's Result into RowErrors with file lines and column names."""

    def line_of(number: int | None) -> int:
        if number and 0 < number <= len(lines):
            return lines[number - 1]
        return 0

    errors: list[RowError] = []
    for invalid in result.invalid_rows:
        for attribute, messages in invalid.error_dict.items():
            column = "" if attribute == NON_FIELD_ERRORS else resource.column_of(attribute) or attribute
            for message in messages:
                errors.append(RowError(line=line_of(invalid.number), column=column, message=str(message)))
    for error_row in result.error_rows:
        for error in error_row.errors:
            # Not a validation error: the database refused the row (for example another
            # import created the same USCC a moment ago). import_data has rolled back.
            logger.warning("enterprise import: row %s failed: %r", error_row.number, error.error)
            errors.append(
                RowError(
                    line=line_of(error_row.number),
                    column="",
                    message=_("这一行保存失败（%(error)s），整个导入已撤销。请稍后重试；如果反复出现，请联系管理员。")
                    % {"error": type(error.error).__name__},
                )
            )
    for base in result.base_errors:
        logger.warning("enterprise import failed: %r", base.error)
        errors.append(
            RowError(line=0, column="", message=_("导入失败（%(error)s），没有写入任何数据。") % {"error": type(base.error).__name__})
        )
    order = {c: i for i, c in enumerate(IMPORT_COLUMNS)}
    errors.sort(key=lambda e: (e.line, order.get(e.column, len(order))))
    return errors


def enterprises_import(
    *,
    data: bytes,
    filename: str,
    user,
    mode: str = ImportMode.ALL_OR_NOTHING,
    encoding: str = ImportEncoding.AUTO,
    dry_run: bool = False,
    change_reason: str = "",
) -> ImportReport:
    """Import enterprises from the bytes of a CSV/XLSX file and report on every row.

    ``user`` is the importing user (rows outside their jurisdiction are errors; history rows
    record them) or the system actor ``SYSTEM`` (command line without ``--as-user``: no
    jurisdiction limit, no history user). Raises :class:`ImportFileError` when the file as a
    whole is unusable and ``PermissionDenied`` when ``user`` may not import at all.
    """
    if not can_import_enterprises(user):
        raise PermissionDenied(_("只有主管部门和平台工作人员可以批量导入企业。"))
    if mode not in ImportMode.values:
        raise ValueError(f"unknown import mode {mode!r}")
    table = read_enterprise_table(data=data, filename=filename, encoding=encoding)
    dataset = table.to_dataset()
    resource = EnterpriseResource(user=user, change_reason=change_reason or _("批量导入：%(name)s") % {"name": filename})

    with transaction.atomic():
        # import_data opens its own (nested) transaction, rolls it back on a dry run or on
        # an unexpected row error, and — with rollback_on_validation_errors — on any
        # invalid row, which is what all-or-nothing means. Rows that fail validation are
        # never saved in the first place, which is what valid-rows-only relies on.
        result = resource.import_data(
            dataset,
            dry_run=dry_run or bool(table.read_errors and mode == ImportMode.ALL_OR_NOTHING),
            raise_errors=False,
            use_transactions=True,
            rollback_on_validation_errors=mode == ImportMode.ALL_OR_NOTHING,
        )
    errors = sorted(
        table.read_errors + _row_errors(resource=resource, result=result, lines=table.lines),
        key=lambda e: e.line,
    )
    crashed = result.has_errors()
    refused = bool(errors) and mode == ImportMode.ALL_OR_NOTHING
    rolled_back = crashed or (refused and not dry_run)
    created = result.totals["new"]
    updated = result.totals["update"]
    unchanged = result.totals["skip"]
    report = ImportReport(
        file_format=table.file_format,
        encoding=table.encoding,
        mode=mode,
        dry_run=dry_run,
        total_rows=len(table.rows) + len(table.read_errors),
        created=0 if rolled_back else created,
        updated=0 if rolled_back else updated,
        unchanged=0 if rolled_back else unchanged,
        skipped=len({e.line for e in errors}),
        # A file that changes nothing (every row unchanged) has been applied, too.
        applied=not dry_run and not rolled_back and (created + updated + unchanged) > 0,
        errors=errors,
        ignored_columns=table.ignored_columns,
    )
    logger.info(
        "enterprise import by %s (%s, %s): %d rows, %d created, %d updated, %d unchanged, %d bad lines, applied=%s",
        getattr(user, "username", "system"), mode, "dry run" if dry_run else "real",
        report.total_rows, report.created, report.updated, report.unchanged, report.skipped, report.applied,
    )  # fmt: skip
    return report


# --- export ------------------------------------------------------------------------------


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


def neutralised(dataset: tablib.Dataset) -> tablib.Dataset:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(value):
        value = neutralise_formula(value)
        if isinstance(value, str):
            # Control characters make openpyxl refuse the whole workbook.
            value = ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value)
        return value

    out = tablib.Dataset(headers=dataset.headers, title=dataset.title)
    for row in dataset:
        out.append([clean(v) for v in row])
    return out


def render_export(*, dataset: tablib.Dataset, file_format: str) -> bytes:
    """Serialise an export dataset: CSV as UTF-8 with BOM (Excel opens Chinese correctly), or XLSX."""
    safe = neutralised(dataset)
    if file_format == "csv":
        return codecs.BOM_UTF8 + safe.export("csv").encode("utf-8")
    if file_format == "xlsx":
        safe.title = safe.title or _("企业名录")
        return safe.export("xlsx")
    raise ValueError(f"unknown export format {file_format!r}")


def enterprises_export(*, user, file_format: str = "csv", queryset=None) -> bytes:
    """Export the enterprises ``user`` may see (the system actor ``SYSTEM``: all) as CSV or XLSX bytes.

    ``queryset`` narrows the export (the admin passes its filtered change list); the user's
    scope is applied on top of it in every case.
    """
    qs = (queryset if queryset is not None else Enterprise.objects.all()).visible_to(user)
    qs = qs.select_related("region", "industry").prefetch_related("key_industries").order_by("province_code", "uscc")
    dataset = EnterpriseResource(user=user).export(queryset=qs, force_native_type=file_format == "xlsx")
    return render_export(dataset=dataset, file_format=file_format)


def errors_csv(*, errors: list[dict]) -> bytes:
    """An error report as CSV (UTF-8 with BOM): 行号, 列, 错误说明."""
    dataset = tablib.Dataset(headers=[_("行号"), _("列"), _("错误说明")])
    for error in errors:
        dataset.append([error.get("line") or "", error.get("column", ""), error.get("message", "")])
    return render_export(dataset=dataset, file_format="csv")


# --- import formats for the admin ----------------------------------------------------------


class _AdminFormatMixin:
    """Admin formats that read and write through this module.

    They claim to be binary so that the admin hands over the raw bytes (the encoding is
    detected here, not fixed to UTF-8) and sends our bytes unchanged on export.
    """

    file_format = ""

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        data = in_stream if isinstance(in_stream, bytes) else in_stream.encode("utf-8")
        table = read_enterprise_table(data=data, filename=f"upload.{self.file_format}")
        if table.read_errors:
            # The admin has no place for errors found while reading: refuse the file.
            raise ImportFileError(
                "；".join(_("第 %(line)d 行：%(message)s") % {"line": e.line, "message": e.message} for e in table.read_errors[:5])
            )
        return table.to_dataset()

    def export_data(self, dataset, **kwargs):
        return render_export(dataset=dataset, file_format=self.file_format)


class EnterpriseCSV(_AdminFormatMixin, base_formats.CSV):
    file_format = "csv"


class EnterpriseXLSX(_AdminFormatMixin, base_formats.XLSX):
    file_format = "xlsx"


# --- background jobs ---------------------------------------------------------------------


def import_job_create(*, uploaded_file, user, mode: str, encoding: str, language: str) -> ImportJob:
    """Store an uploaded file as a queued ImportJob and enqueue it once the row is committed."""
    from .tasks import run_import_job  # the task module imports this one

    with transaction.atomic():
        job = ImportJob(
            original_name=PurePath(uploaded_file.name or "upload").name[:255],
            uploaded_by=user,
            mode=mode,
            encoding=encoding,
            language=language or settings.LANGUAGE_CODE,
        )
        job.file.save(uploaded_file.name or "upload", uploaded_file, save=False)
        job.save()
        job_id = job.pk
        # A worker must not look for a row that is not committed yet.
        transaction.on_commit(lambda: run_import_job.delay(job_id))
    return job


def _finish_job(*, job_id: int, status: str, message: str, **values) -> None:
    ImportJob.objects.filter(pk=job_id).update(status=status, message=message, finished_at=timezone.now(), **values)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job to its end: succeeded, or failed with a message.

    Idempotent: a job that has already succeeded or failed is returned untouched. The data
    and the job's result are committed together, under a lock on the job row, so a second
    delivery of the same task waits and then finds the job finished; a job left "running" by
    a worker that died is simply run again. Whatever goes wrong, the job does not stay
    "running".
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("import job %s does not exist", job_id)
            return None
        if job.is_finished:
            return job
        job.status = ImportJobStatus.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at"])

    done = False
    try:
        with translation.override(job.language):
            try:
                with job.file.open("rb") as fh:
                    data = fh.read()
            except OSError as exc:
                logger.warning("import job %s: cannot read %s: %s", job_id, job.file.name, exc)
                _finish_job(
                    job_id=job_id,
                    status=ImportJobStatus.FAILED,
                    message=_("无法读取上传的文件（文件已不存在或无法访问），没有导入任何数据。请重新上传。"),
                )
                done = True
                return ImportJob.objects.get(pk=job_id)
            try:
                with transaction.atomic():
                    locked = ImportJob.objects.select_for_update().get(pk=job_id)
                    if locked.is_finished:
                        done = True
                        return locked
                    report = enterprises_import(
                        data=data,
                        filename=job.original_name,
                        user=job.uploaded_by,
                        mode=job.mode,
                        encoding=job.encoding,
                        change_reason=_("批量导入任务 #%(id)d：%(name)s") % {"id": job.pk, "name": job.original_name},
                    )
                    locked.status = ImportJobStatus.SUCCEEDED if report.applied else ImportJobStatus.FAILED
                    locked.detected_format = report.file_format
                    locked.detected_encoding = report.encoding
                    locked.total_rows = report.total_rows
                    locked.created_count = report.created
                    locked.updated_count = report.updated
                    locked.unchanged_count = report.unchanged
                    locked.skipped_count = report.skipped
                    locked.errors = [e.as_dict() for e in report.errors]
                    locked.message = report.summary()
                    locked.finished_at = timezone.now()
                    locked.save()
            except ImportFileError as exc:
                _finish_job(job_id=job_id, status=ImportJobStatus.FAILED, message=exc.message)
            except PermissionDenied as exc:
                _finish_job(job_id=job_id, status=ImportJobStatus.FAILED, message=str(exc) or _("您没有导入权限。"))
            done = True
            return ImportJob.objects.get(pk=job_id)
    finally:
        if not done:
            # An unexpected error (or a time limit) is on its way up to Celery, which logs
            # it; the import's transaction has been rolled back. Say so on the job page.
            with translation.override(job.language):
                _finish_job(
                    job_id=job_id,
                    status=ImportJobStatus.FAILED,
                    message=_("导入过程中发生意外错误，没有写入任何数据。请稍后重试；如果反复出现，请联系管理员。"),
                )
