"""Import paper filings of a period from an XLSX file, with a per-row report.

The import runs as a named authority or ministry user (--as-user is required): their
jurisdiction applies and the answers and events record them. Exit status: 0 when every row
was imported (or, with --dry-run, would be); 1 when the file or the user was refused; 2
when rows had errors (nothing written in all_or_nothing mode, only the good rows in
valid_rows_only mode).
"""

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from apps.core.commands import acting_user, read_input
from apps.core.models import ImportMode
from apps.core.spreadsheets import SpreadsheetError
from apps.filings.models import Period
from apps.filings.transfer import submissions_import


class Command(BaseCommand):
    help = "导入纸质诊断填报（XLSX），逐行报告错误。Import paper filings of a period from XLSX."

    def add_arguments(self, parser):
        parser.add_argument("file", help="XLSX file (the period's template or export)")
        parser.add_argument("--period", required=True, metavar="CODE", help="period code, e.g. 2026")
        parser.add_argument("--mode", choices=ImportMode.values, default=ImportMode.ALL_OR_NOTHING)
        parser.add_argument(
            "--as-user", dest="as_user", required=True, metavar="USERNAME",
            help="the authority or ministry user who imports (jurisdiction, Answer.updated_by, events)",
        )
        parser.add_argument("--accept", action="store_true", help="accept the imported filings at once (同时审核通过)")
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")

    def handle(self, *args, **options):
        path = Path(options["file"])
        data = read_input(options["file"])
        user = acting_user(options["as_user"])
        period = Period.objects.select_related("framework").filter(code=options["period"]).first()
        if period is None:
            raise CommandError(f"期次“{options['period']}”不存在。", returncode=1)
        try:
            report = submissions_import(
                data=data, filename=path.name, period=period, user=user, mode=options["mode"],
                accept=options["accept"], dry_run=options["dry_run"],
            )
        except (SpreadsheetError, PermissionDenied) as exc:
            raise CommandError(getattr(exc, "message", None) or str(exc), returncode=1) from exc

        self.stdout.write(f"文件：{path.name}；期次：{period.code}；方式：{ImportMode(report.mode).label}")
        if report.ignored_columns:
            self.stdout.write(f"忽略的列：{'、'.join(report.ignored_columns)}")
        for error in report.errors:
            column = f"[{error.column}] " if error.column else ""
            self.stdout.write(f"第 {error.line} 行 {column}{error.message}")
        style = self.style.SUCCESS if not report.errors else self.style.WARNING
        self.stdout.write(style(report.summary()))
        if report.errors:
            raise CommandError(
                "导入未完成：有错误行（见上）。" if not report.applied else "部分导入：错误行已跳过（见上）。",
                returncode=2,
            )
