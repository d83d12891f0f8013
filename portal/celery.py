"""Celery application of the portal.

Workers and beat read the same Django settings as the web process; the broker comes from
``CELERY_BROKER_URL`` (Redis in production and CI, kombu's filesystem transport for the
one-command local run, which needs no server).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
