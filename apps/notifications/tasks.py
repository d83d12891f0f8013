"""Scheduled notices."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .services import notify_deadlines


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=5, max_retries=3)
def send_deadline_reminders() -> int:
    """Daily (beat): remind enterprises whose filing is not submitted as the deadline nears.
    Idempotent: one reminder per user and period."""
    return notify_deadlines()
