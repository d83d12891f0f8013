"""Background tasks of the policies app."""

from celery import shared_task


@shared_task(acks_late=True)
def recompute_target_progress(target_ids: list[int] | None = None) -> int:
    """Recompute targets' progress from every published run (all targets when None).
    Idempotent: safe to deliver twice. Returns the number of progress rows written."""
    from .services import target_progress_recompute

    return target_progress_recompute(target_ids=target_ids)
