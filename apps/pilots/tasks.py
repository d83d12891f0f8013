"""Background work of pilot selection: mail to applicants, sent by a worker after the
transition that concerns them has committed (never inside the request)."""

from smtplib import SMTPException

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(autoretry_for=(OperationalError, InterfaceError, SMTPException, OSError), retry_backoff=10, max_retries=5)
def notify_applicant(application_id: int, event_id: int) -> int:
    """Mail the applicant about the outcome recorded by one ApplicationEvent; returns the
    number of recipients. Queued on commit by the workflow services; retried when the
    database or the mail server is briefly unavailable."""
    from .services import application_notify

    return application_notify(application_id=application_id, event_id=event_id)
