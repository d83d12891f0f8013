"""Bulk import and export of enterprises (CSV in UTF-8 or GBK, XLSX).

This module is the single place that runs an import: the portal's background job, the
``import_enterprises`` management command and the admin all end up in
:func:`enterprises_import` (the admin through :class:`EnterpriseCSV` / :class:`EnterpriseXLSX`
and :class:`~apps.enterprises.resources.EnterpriseResource`). Exports go through
:func:`enterprises_export` / :func:`render_export`, which write through
:mod:`apps.core.spreadsheets`, the single place where cells that Excel would run as formulas
are neutralised.

Reading a file
    Files are checked and read by :mod:`apps.core.spreadsheets` (size, type sniffing, an
    XLSX's zip directory before parsing, streaming reads that stop at the row and column
    caps, CSV encodings); this module maps the header to the enterprise columns. Line
    numbers are the numbers Excel shows at the left of the sheet: header line 1, first data
    row line 2; blank rows are skipped but keep their numbers.

Modes
    ``all_or_nothing``: if any row is wrong, nothing is written; the report lists every bad
    row. ``valid_rows_only``: good rows are written, bad rows are reported and skipped.
    Either way all writes happen in one transaction, so an unexpected error midway leaves
    the data as it was.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np
import pandas as pd
import tablib
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _
from import_export.formats import base_formats

from apps.accounts.permissions import can_import_enterprises
from apps.core.jobs import JobProgress, run_file_import
from apps.core.models import ImportJobStatus, ImportMode
from apps.core.spreadsheets import (
    FileImportReport,
    RowError,
    SpreadsheetError,
    max_rows,
    read_frame,
    render_dataset,
)

from . import bulk_import
from .models import Enterprise, ImportEncoding, ImportJob
from .resources import (
    ADDRESS,
    ALL_COLUMNS,
    CONTACT_EMAIL,
    COUNTY,
    EXPORT_ONLY_COLUMNS,
    HEADER_ALIASES,
    IMPORT_COLUMNS,
    REQUIRED_COLUMNS,
    USCC,
    EnterpriseResource,
)

logger = logging.getLogger(__name__)

#: The errors of a file as a whole are the spreadsheet reader's (one class, two names).
ImportFileError = SpreadsheetError


# --- results -----------------------------------------------------------------------------


@dataclass
class ImportTable:
    """A file read into strings: canonical headers, the data rows as columns (``frame``,
    one column per header) and their line numbers."""

    headers: list[str]
    frame: pd.DataFrame
    lines: list[int]
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""  # how a CSV was decoded, for the report ("" for XLSX)
    ignored_columns: list[str] = field(default_factory=list)
    read_errors: list[RowError] = field(default_factory=list)

    @property
    def rows(self) -> list[list[str]]:
        """The data rows as lists of cells (for the per-row resource)."""
        return self.frame.to_numpy(dtype=object).tolist()

    def to_dataset(self) -> tablib.Dataset:
        dataset = tablib.Dataset(*self.rows, headers=self.headers)
        # Read by EnterpriseResource.before_import to turn row indexes into file lines.
        dataset.line_numbers = list(self.lines)
        return dataset


@dataclass
class ImportReport(FileImportReport):
    """What an enterprise import did.

    ``created``/``updated`` count rows written by this run; in a dry run, the rows that would
    be; when an all-or-nothing import is refused, 0. ``unchanged`` counts rows of existing
    enterprises that already had exactly these values (nothing written, no history row).
    ``skipped`` counts rows with errors. ``applied`` says whether anything was committed.
    """

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


def read_enterprise_table(*, data: bytes, filename: str, encoding: str = ImportEncoding.AUTO) -> ImportTable:
    """Read an uploaded CSV/XLSX file into an :class:`ImportTable`, or raise ImportFileError.

    Checks the file as a whole (size, type, encoding, header row, at least one data row);
    row values are checked later, by the resource. A row with more cells than the header
    (typically an unquoted comma inside a value) is left out and reported in
    ``read_errors``.
    """
    sheet = read_frame(data=data, filename=filename, encoding=encoding)
    header_line, header_cells = sheet.header_line, sheet.header

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
    frame = sheet.frame
    for missing_column in range(frame.shape[1], width):
        frame[missing_column] = ""
    # Rows with more filled cells than the header are left out and reported, one by one
    # (they are few); the rest stay columns.
    extra = (frame.iloc[:, width:] != "").sum(axis=1).to_numpy() if frame.shape[1] > width else np.zeros(len(frame), int)
    wide = extra > 0
    read_errors = [
        RowError(
            line=int(line),
            column="",
            message=_("这一行比表头多出 %(n)d 个有内容的单元格，可能是某个值里有未加引号的逗号。请核对这一行。")
            % {"n": int(n)},
        )
        for line, n in zip(sheet.lines[wide], extra[wide], strict=True)
    ]
    body = frame.iloc[:, :width][~wide].reset_index(drop=True)
    body.columns = headers
    lines = sheet.lines[~wide].tolist()
    if not len(body) and not read_errors:
        raise ImportFileError(_("文件中只有表头，没有数据行。"))
    if len(body) + len(read_errors) > max_rows():
        raise ImportFileError(
            _("数据行超过 %(limit)d 行的上限，请分成几个文件分别导入。") % {"limit": max_rows()}
        )
    ignored += [c for c in EXPORT_ONLY_COLUMNS if c in seen]
    return ImportTable(
        headers=headers,
        frame=body,
        lines=lines,
        file_format=sheet.file_format,
        encoding=sheet.encoding,
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
    on_progress: Callable[[str, int], None] | None = None,
) -> ImportReport:
    """Import enterprises from the bytes of a CSV/XLSX file and report on every row.

    ``user`` is the importing user (rows outside their jurisdiction are errors; history rows
    record them) or the system actor ``SYSTEM`` (command line without ``--as-user``: no
    jurisdiction limit, no history user). Raises :class:`ImportFileError` when the file as a
    whole is unusable and ``PermissionDenied`` when ``user`` may not import at all.

    The file is validated as columns and written set-based (:mod:`.bulk_import`); rows the
    column checks flag are checked again by :class:`EnterpriseResource` for their messages.
    ``on_progress(stage, rows)`` is told the rows checked (stage "checked"), then written
    ("written").
    """
    if not can_import_enterprises(user):
        raise PermissionDenied(_("只有主管部门和平台工作人员可以批量导入企业。"))
    if mode not in ImportMode.values:
        raise ValueError(f"unknown import mode {mode!r}")
    table = read_enterprise_table(data=data, filename=filename, encoding=encoding)
    reason = (change_reason or _("批量导入：%(name)s") % {"name": filename})[:100]  # simple_history's column
    columns = [c for c in table.headers if not c.startswith("__ignored_")]
    frame = table.frame[columns]
    lookups = bulk_import.load_lookups(
        usccs=bulk_import.normalised_usccs(frame[USCC]), counties=frame[COUNTY].to_numpy(dtype=object), user=user
    )
    flagged, parsed = bulk_import.flag_rows(frame, lookups)
    n_rows = len(frame)

    errors = list(table.read_errors)
    crashed = False
    flagged_at = np.flatnonzero(flagged)
    valid = ~flagged
    if len(flagged_at):
        # The resource says what is wrong with each flagged row, in the words it always used.
        sub = tablib.Dataset(*table.frame.iloc[flagged_at].to_numpy(dtype=object).tolist(), headers=table.headers)
        sub.line_numbers = [table.lines[i] for i in flagged_at]
        resource = EnterpriseResource(user=user, change_reason=reason)
        with transaction.atomic():
            result = resource.import_data(sub, dry_run=True, raise_errors=False, use_transactions=True)
        found = _row_errors(resource=resource, result=result, lines=sub.line_numbers)
        crashed = bool(result.base_errors)
        errors += found
        bad_lines = {e.line for e in found}
        for i in flagged_at:
            if table.lines[i] not in bad_lines:
                # a flagged row the resource accepts (a full-width digit, say): its values
                # as the resource's widgets read them
                for name, value in bulk_import.parse_row(dict(zip(columns, frame.iloc[i], strict=True)), lookups).items():
                    parsed[name][i] = value
                valid[i] = True
    errors.sort(key=lambda e: e.line)
    if on_progress:
        on_progress("checked", n_rows + len(table.read_errors))

    plan = bulk_import.plan_rows(
        frame[valid].reset_index(drop=True),
        {name: values[valid] for name, values in parsed.items()},
        lookups,
        has_address=ADDRESS in columns,
        has_email=CONTACT_EMAIL in columns,
    )

    refused = bool(errors) and mode == ImportMode.ALL_OR_NOTHING
    write = not dry_run and not refused and not crashed and bool(len(plan.new) or len(plan.changed))
    if write:
        try:
            with transaction.atomic():
                bulk_import.write_rows(plan=plan, user=user, change_reason=reason, on_progress=on_progress)
        except DatabaseError as exc:
            # Checked above, so only a concurrent change gets here (another import created
            # one of these USCCs a moment ago). Nothing has been written.
            logger.warning("enterprise import failed while writing: %r", exc)
            crashed = True
            errors.append(
                RowError(line=0, column="", message=_("导入失败（%(error)s），没有写入任何数据。") % {"error": type(exc).__name__})
            )
            errors.sort(key=lambda e: e.line)
    rolled_back = crashed or (refused and not dry_run)
    created, updated, unchanged = len(plan.new), len(plan.changed), plan.unchanged
    report = ImportReport(
        file_format=table.file_format,
        encoding=table.encoding,
        mode=mode,
        dry_run=dry_run,
        total_rows=n_rows + len(table.read_errors),
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


def render_export(*, dataset: tablib.Dataset, file_format: str) -> bytes:
    """Serialise an export dataset: CSV as UTF-8 with BOM (Excel opens Chinese correctly), or XLSX."""
    return render_dataset(dataset=dataset, file_format=file_format, title=_("企业名录"))


def enterprises_export(*, user, file_format: str = "csv", queryset=None) -> bytes:
    """Export the enterprises ``user`` may see (the system actor ``SYSTEM``: all) as CSV or XLSX bytes.

    ``queryset`` narrows the export (the admin passes its filtered change list); the user's
    scope is applied on top of it in every case.
    """
    qs = (queryset if queryset is not None else Enterprise.objects.all()).visible_to(user)
    qs = qs.select_related("region", "industry").prefetch_related("key_industries").order_by("province_code", "uscc")
    dataset = EnterpriseResource(user=user).export(queryset=qs, force_native_type=file_format == "xlsx")
    return render_export(dataset=dataset, file_format=file_format)


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


#: row counters of running enterprise import jobs (apps.core.jobs)
PROGRESS = JobProgress("enterprise-import-job")


def import_job_progress_set(*, job_id: int, stage: str, rows: int) -> None:
    """Record how far a running job is (in the cache: see apps.core.jobs)."""
    PROGRESS.set(job_id, stage, rows)


def import_job_progress(job: ImportJob) -> dict:
    """{"checked": rows, "written": rows} of a running job, as far as known."""
    return PROGRESS.get(job.pk)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job to its end: succeeded, or failed with a message.

    Idempotent: a job that has already succeeded or failed is returned untouched. The data
    and the job's result are committed together, under a lock on the job row, so a second
    delivery of the same task waits and then finds the job finished; a job left "running" by
    a worker that died is simply run again. Whatever goes wrong, the job does not stay
    "running" (apps.core.jobs.run_file_import).
    """

    def do_import(job: ImportJob, data: bytes, on_progress):
        return enterprises_import(
            on_progress=on_progress,
            data=data,
            filename=job.original_name,
            user=job.uploaded_by,
            mode=job.mode,
            encoding=job.encoding,
            change_reason=_("批量导入任务 #%(id)d：%(name)s") % {"id": job.pk, "name": job.original_name},
        )

    def record(job: ImportJob, report: ImportReport) -> None:
        job.status = ImportJobStatus.SUCCEEDED if report.applied else ImportJobStatus.FAILED
        job.detected_format, job.detected_encoding = report.file_format, report.encoding
        job.total_rows, job.skipped_count = report.total_rows, report.skipped
        job.created_count, job.updated_count, job.unchanged_count = report.created, report.updated, report.unchanged

    return run_file_import(
        ImportJob.objects.all(), job_id, progress=PROGRESS, do_import=do_import, record=record,
        file_errors=(ImportFileError,),
    )
