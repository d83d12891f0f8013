"""Background tasks of the core app."""

from celery import shared_task
from django.contrib.auth.models import Group


@shared_task
def record_heartbeat(token: str) -> int:
    """Create the auth ``Group`` named ``heartbeat-<token>`` and return its primary key.

    This task exists only to prove the worker/broker/database wiring end to end: a caller
    enqueues it with a fresh token, a worker (another process) picks it up from the broker and
    writes a row to the shared database, and the caller sees that row appear. ``make run``'s
    smoke check and ``tests/test_infrastructure.py`` use it. It deliberately needs no model
    of its own; callers delete the group afterwards if they care.
    """
    group, _created = Group.objects.get_or_create(name=f"heartbeat-{token}")
    return group.pk


WORKER_HEARTBEAT = "worker"


@shared_task
def worker_heartbeat() -> None:
    """Record that a worker is consuming the queue (scheduled every minute by beat; the
    ministry workbench shows how long ago it last ran)."""
    from django.utils import timezone

    from .models import Heartbeat

    Heartbeat.objects.update_or_create(name=WORKER_HEARTBEAT, defaults={"at": timezone.now()})
