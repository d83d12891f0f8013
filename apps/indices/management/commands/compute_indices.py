"""Start an index run for a period: ``python manage.py compute_indices --period 2026``.

By default the run is queued for the Celery workers and the command waits for it, printing
progress. ``--inline`` computes in this process instead (no worker needed).
"""

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.filings.models import Period
from apps.indices import pipeline
from apps.indices.models import IndexRun, RunStatus
from apps.indices.services import index_run_publish, index_run_start


class Command(BaseCommand):
    help = "计算指定期次的地区和行业指数。Compute the indices of a period."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="期次代码，例如 2026")
        parser.add_argument("--inline", action="store_true", help="在本进程内计算，不经过 Celery")
        parser.add_argument("--no-wait", action="store_true", help="排队后立即返回")
        parser.add_argument("--publish", action="store_true", help="计算成功后立即发布")
        parser.add_argument("--weighting", choices=["none", "size", "revenue"], default=None)
        parser.add_argument("--timeout", type=int, default=3600)

    def handle(self, *args, period, inline, no_wait, publish, weighting, timeout, **options):
        try:
            target = Period.objects.get(code=period)
        except Period.DoesNotExist:
            raise CommandError(f"没有代码为 {period} 的期次。") from None
        params = {"weighting": weighting} if weighting else None
        try:
            run = index_run_start(period=target, user=None, parameters=params, enqueue=not inline)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{run.label}已创建。")
        if inline:
            run = pipeline.run_inline(run_id=run.pk)
        elif no_wait:
            return
        else:
            deadline = time.monotonic() + timeout
            last = -1
            while True:
                run = IndexRun.objects.get(pk=run.pk)
                if run.progress != last:
                    self.stdout.write(f"  {run.get_status_display()} {run.progress}%")
                    last = run.progress
                if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) or time.monotonic() > deadline:
                    break
                time.sleep(1)
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"{run.label}未成功：{run.get_status_display()}\n{run.error_log}")
        seconds = (run.timings or {}).get("wall") or sum(v for v in (run.timings or {}).values() if isinstance(v, int | float))
        self.stdout.write(self.style.SUCCESS(
            f"{run.label}已完成：{run.submissions} 份填报，{run.cells} 个地区和行业单元"
            f"（其中 {run.suppressed_cells} 个不公开），用时约 {seconds:.1f} 秒。"
        ))
        if publish:
            index_run_publish(run=run, user=None)
            self.stdout.write(self.style.SUCCESS(f"{run.label}已发布。"))
