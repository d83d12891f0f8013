"""Celery application of the portal.

Workers and beat read the same Django settings as the web process; the broker comes from
``CELERY_BROKER_URL`` (Redis in production and CI, kombu's filesystem transport for the
one-command local run, which needs no server).
"""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
# Index runs fan out over worker processes; BLAS threads inside each would only compete
# for the same cores (the disclosure audit slowed 3–5× with default threads on 2 cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _warm_worker_process(**_kwargs) -> None:
    """Each worker process compiles the frameworks in use once, when it starts, instead of
    in the first index-run chunk it takes (apps.filings.packing.warm_compiled_frameworks)."""
    from django.db import connection

    from apps.filings.packing import warm_compiled_frameworks

    warm_compiled_frameworks()
    connection.close()  # the process's tasks open their own connection
