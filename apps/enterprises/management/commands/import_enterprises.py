"""Import enterprises from a CSV (UTF-8 or GBK) or XLSX file, with a per-line report.

Exit status: 0 when every row was imported (or, with --dry-run, would be); 1 when the file
as a whole was refused; 2 when rows had errors (nothing written in all_or_nothing mode,
only the good rows in valid_rows_only mode).
"""

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.scoping import is_system
from apps.core.commands import acting_user, read_input
from apps.core.models import ImportMode
from apps.enterprises.imports import ImportFileError, enterprises_import
from apps.enterprises.models import ImportEncoding


class Command(BaseCommand):
    help = "批量导入企业（CSV：UTF-8/GBK，或 XLSX），逐行报告错误。Import enterprises from CSV/XLSX."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV or XLSX file")
        parser.add_argument("--encoding", choices=ImportEncoding.values, default=ImportEncoding.AUTO)
        parser.add_argument("--mode", choices=ImportMode.values, default=ImportMode.ALL_OR_NOTHING)
        parser.add_argument(
            "--as-user",
            dest="as_user",
            metavar="USERNAME",
            help="import as this user: their jurisdiction applies and history records them "
            "(default: the system, unrestricted, no history user)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")

    def handle(self, *args, **options):
        path = Path(options["file"])
        data = read_input(options["file"])
        user = acting_user(options["as_user"])
        if is_system(user):
            self.stderr.write("未指定 --as-user：以系统身份导入，不受管辖范围限制，变更记录中没有操作人。")

        try:
            report = enterprises_import(
                data=data,
                filename=path.name,
                user=user,
                mode=options["mode"],
                encoding=options["encoding"],
                dry_run=options["dry_run"],
                change_reason=f"命令行导入：{path.name}",
            )
        except ImportFileError as exc:
            raise CommandError(exc.message, returncode=1) from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc), returncode=1) from exc

        fmt = report.file_format.upper() + (f"，编码 {report.encoding}" if report.encoding else "")
        self.stdout.write(f"文件：{path.name}（{fmt}）；方式：{ImportMode(report.mode).label}")
        if report.ignored_columns:
            self.stdout.write(f"忽略的列：{'、'.join(report.ignored_columns)}")
        for error in report.errors:
            column = f"[{error.column}] " if error.column else ""
            self.stdout.write(f"第 {error.line} 行 {column}{error.message}")
        self.stdout.write(
            f"数据行 {report.total_rows}，新增 {report.created}，更新 {report.updated}，未变化 {report.unchanged}，"
            f"错误行 {report.skipped}"
        )
        style = self.style.SUCCESS if not report.errors else self.style.WARNING
        self.stdout.write(style(report.summary()))
        if report.errors:
            raise CommandError(
                "导入未完成：有错误行（见上）。" if not report.applied else "部分导入：错误行已跳过（见上）。",
                returncode=2,
            )
