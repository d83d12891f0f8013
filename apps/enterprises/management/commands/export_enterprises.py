"""Export enterprises as CSV (UTF-8 with BOM, opens in Excel) or XLSX."""


from django.core.management.base import BaseCommand

from apps.core.commands import acting_user, write_output
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
        data = enterprises_export(user=acting_user(options["as_user"]), file_format=file_format)
        if write_output(out, data):
            self.stderr.write(f"已导出到 {out}（{file_format.upper()}，{len(data)} 字节）")
