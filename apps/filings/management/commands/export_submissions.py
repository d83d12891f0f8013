"""Export the submissions of a period, with answers and scores, as an XLSX workbook."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from apps.filings.models import Period
from apps.filings.transfer import submissions_export


class Command(BaseCommand):
    help = "导出某期次的诊断填报（XLSX，含答案和得分）。Export a period's submissions as XLSX."

    def add_arguments(self, parser):
        parser.add_argument("out", help="output .xlsx file, or - for standard output")
        parser.add_argument("--period", required=True, metavar="CODE", help="period code, e.g. 2026")
        parser.add_argument(
            "--as-user", dest="as_user", metavar="USERNAME", help="export only what this user may see (default: all)"
        )

    def handle(self, *args, **options):
        period = Period.objects.select_related("framework").filter(code=options["period"]).first()
        if period is None:
            raise CommandError(f"期次“{options['period']}”不存在。")
        user = None
        if options["as_user"]:
            try:
                user = get_user_model().objects.get(username=options["as_user"])
            except get_user_model().DoesNotExist as exc:
                raise CommandError(f"用户“{options['as_user']}”不存在。") from exc
        try:
            data = submissions_export(period=period, user=user)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        out = options["out"]
        if out == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        try:
            Path(out).write_bytes(data)
        except OSError as exc:
            raise CommandError(f"无法写入 {out}：{exc.strerror or exc}") from exc
        self.stderr.write(f"已导出到 {out}（XLSX，{len(data)} 字节）")
