"""``manage.py load_framework FILE [--publish]``: load a framework version from its JSON file.

Idempotent: loading the same file again changes nothing. A published version is never
changed; a file that differs from it is refused and needs a new version number.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.frameworks.exchange import FrameworkFileError, load_json
from apps.frameworks.services import framework_load

ACTIONS = {"created": "已创建草稿", "replaced": "已用文件内容替换草稿", "unchanged": "内容相同，未作改动"}


class Command(BaseCommand):
    help = "从 JSON 文件（qmd-framework/1）导入评估框架版本；可选 --publish 同时发布。"

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="框架文件，例如 fixtures/frameworks/qmd-2026.1.json")
        parser.add_argument("--publish", action="store_true", help="导入后发布（须通过校验）")

    def handle(self, *args, file: Path, publish: bool, **options):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"无法读取文件 {file}：{exc.strerror or exc}") from None
        try:
            outcome = framework_load(data=load_json(raw), publish=publish)
        except FrameworkFileError as exc:
            raise CommandError(f"{file} 有 {len(exc.problems)} 处问题，未导入：\n" + "\n".join(exc.problems)) from None
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from None
        fw = outcome.framework
        message = f"{fw.code} {fw.version}（{fw.name}）：{ACTIONS[outcome.action]}"
        if outcome.published:
            message += "，已发布"
        elif publish:
            message += f"，状态为{fw.get_status_display()}"
        self.stdout.write(self.style.SUCCESS(message))
