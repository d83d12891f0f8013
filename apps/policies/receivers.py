"""Follow the index engine: a published (or re-published, i.e. rolled back) run changes
what every target reads, so their progress is recomputed on a worker."""

from django.dispatch import receiver

from apps.indices.signals import run_published


@receiver(run_published, dispatch_uid="policies.recompute_on_publish")
def recompute_on_publish(sender, run_id: int, **kwargs) -> None:
    from .services import target_progress_enqueue

    target_progress_enqueue()
