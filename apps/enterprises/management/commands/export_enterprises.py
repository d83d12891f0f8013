"""Export enterprises as CSV (UTF-8 with BOM, opens in Excel) or XLSX."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.enterprises.imports import enterprises_export


class Command(BaseCommand):
    help = "导出企业名录（CSV：UTF-8 带 BOM，或 XLSX）。Export enterprises as CSV or XLSX."

    def add_arguments(self, parser):
        parser.add_argument("out", help="output file, or - for standard output")
        parser.add_argument(
            "--format", dest="file_format", choices=["csv", "xlsx"], help="default: from the file's extension, else csv"
        )
        parser.add_argument(
            "--as-user", dest="as_user", metavar="USERNAME", help="export only what this user may see (default: all)"
        )

    def handle(self, *args, **options):
        out = options["out"]
        file_format = options["file_format"] or ("xlsx" if out.lower().endswith(".xlsx") else "csv")
        user = None
        if options["as_user"]:
            try:
                user = get_user_model().objects.get(username=options["as_user"])
            except get_user_model().DoesNotExist as exc:
                raise CommandError(f"用户“{options['as_user']}”不存在。") from exc
        data = enterprises_export(user=user, file_format=file_format)
        if out == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        try:
            Path(out).write_bytes(data)
        except OSError as exc:
            raise CommandError(f"无法写入 {out}：{exc.strerror or exc}") from exc
        self.stderr.write(f"已导出到 {out}（{file_format.upper()}，{len(data)} 字节）")
