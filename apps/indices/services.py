"""Starting, publishing and staling index runs."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.filings.models import Period, Submission

from .aggregation import IndexParameters
from .models import CellKind, IndexCell, IndexRun, RunStatus

# Parameters for failure drills (e.g. drill_chunk_delay_seconds: each chunk waits before
# scoring, so that a drill or a test can kill a worker mid-chunk). Recorded with the run;
# they never change a number.
DRILL_PREFIX = "drill_"


def index_parameters(run: IndexRun) -> IndexParameters:
    """The run's computation parameters (without drill settings)."""
    return IndexParameters.from_dict({k: v for k, v in run.parameters.items() if not k.startswith(DRILL_PREFIX)})


@transaction.atomic
def index_run_start(*, period: Period, user, parameters: dict | None = None, enqueue: bool = True) -> IndexRun:
    """Queue a run for ``period``; refused while another run of the period is active."""
    given = {**getattr(settings, "INDEX_DEFAULT_PARAMETERS", {}), **(parameters or {})}
    drills = {k: v for k, v in given.items() if k.startswith(DRILL_PREFIX)}
    params = IndexParameters.from_dict({k: v for k, v in given.items() if not k.startswith(DRILL_PREFIX)})
    try:
        with transaction.atomic():
            run = IndexRun.objects.create(
                period=period, framework=period.framework, parameters={**params.to_dict(), **drills},
                code_version=settings.PORTAL_CODE_VERSION, created_by=user, heartbeat_at=timezone.now(),
            )
    except IntegrityError:
        raise ValidationError(_("该期次已有指数计算正在排队或进行中，请等待其完成。")) from None
    if enqueue:
        from .tasks import start_index_run

        transaction.on_commit(lambda: start_index_run.delay(run.pk))
    return run


@transaction.atomic
def index_run_publish(*, run: IndexRun, user) -> IndexRun:
    """Switch what readers see for the run's period to ``run`` in one transaction; the
    previously published run stays, for comparison and rollback (publish it again)."""
    run = IndexRun.objects.select_for_update().get(pk=run.pk)
    if run.status != RunStatus.SUCCEEDED:
        raise ValidationError(_("只有计算成功的批次可以发布。"))
    if run.is_published:
        return run
    IndexRun.objects.filter(period=run.period, is_published=True).update(is_published=False)
    run.is_published, run.published_at, run.published_by = True, timezone.now(), user
    run.save(update_fields=["is_published", "published_at", "published_by"])
    return run


def published_run(period: Period) -> IndexRun | None:
    """The run readers see for ``period`` (None before anything is published)."""
    return IndexRun.objects.filter(period=period, is_published=True).select_related("period", "framework").first()


def cell_keys_of(submission: Submission) -> list[tuple[str, str]]:
    """The cells a filing contributes to."""
    keys = [
        (CellKind.NATION, "CN"),
        (CellKind.PROVINCE, submission.province_code),
        (CellKind.PREFECTURE, submission.prefecture_code),
        (CellKind.COUNTY, submission.county_code),
        (CellKind.DIVISION, submission.division_code),
        (CellKind.SIZE, submission.size_class),
        (CellKind.PROVINCE_DIVISION, f"{submission.province_code}|{submission.division_code}"),
        (CellKind.PREFECTURE_DIVISION, f"{submission.prefecture_code}|{submission.division_code}"),
    ]
    keys += [(CellKind.KEY_INDUSTRY, k) for k in submission.enterprise.key_industries.values_list("pk", flat=True)]
    return keys


def index_mark_stale(*, submission: Submission) -> int:
    """After a filing is accepted (or rescored) past a published run: flag the cells it
    belongs to as stale, so pages can say their numbers are out of date. Returns the count."""
    run = published_run(submission.period)
    if run is None:
        return 0
    from django.db.models import Q

    condition = Q()
    for kind, code in cell_keys_of(submission):
        condition |= Q(kind=kind, code=code)
    updated = IndexCell.objects.filter(condition, run=run, stale=False).update(stale=True)
    IndexRun.objects.filter(pk=run.pk, stale_since__isnull=True).update(stale_since=timezone.now())
    return updated


def previously_published_run(period: Period) -> IndexRun | None:
    """The run that was published for ``period`` before the current one (None if none)."""
    return (
        IndexRun.objects.filter(period=period, is_published=False, published_at__isnull=False, status=RunStatus.SUCCEEDED)
        .select_related("period").order_by("-published_at").first()
    )


@transaction.atomic
def index_run_rollback(*, period: Period, user) -> IndexRun:
    """Publish again the run that was published for ``period`` before the current one."""
    previous = previously_published_run(period)
    if previous is None:
        raise ValidationError(_("该期次没有更早发布的批次，无法回滚。"))
    return index_run_publish(run=previous, user=user)
