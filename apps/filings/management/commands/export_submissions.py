"""Export the submissions of a period, with answers and scores, as an XLSX workbook."""

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from apps.core.commands import acting_user, write_output
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
        user = acting_user(options["as_user"])
        try:
            data = submissions_export(period=period, user=user)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        out = options["out"]
        if write_output(out, data):
            self.stderr.write(f"已导出到 {out}（XLSX，{len(data)} 字节）")
