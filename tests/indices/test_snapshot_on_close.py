"""The register snapshot is taken when a period's filing window closes (issue 8): a beat
task (hourly, scheduled by a data migration) takes it once; the period's runs read it."""

import datetime
import time

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.enterprises.models import Enterprise
from apps.indices.models import IndexCell, RegisterSnapshot
from apps.indices.tasks import snapshot_closed_periods
from tests.factories import EnterpriseFactory, county
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.worker
def test_the_worker_takes_the_snapshot_of_a_closed_period_once(celery_worker):
    closed, still_open = build(n=30)
    today = timezone.localdate()
    closed.closes_on = today - datetime.timedelta(days=1)
    closed.save()
    still_open.opens_on, still_open.closes_on = today - datetime.timedelta(days=5), today + datetime.timedelta(days=5)
    still_open.save()

    snapshot_closed_periods.delay()
    assert wait_for(lambda: RegisterSnapshot.objects.filter(period=closed).exists()), celery_worker.log()[-3000:]
    snapshot = RegisterSnapshot.objects.get(period=closed)
    assert snapshot.enterprises == 30
    assert not RegisterSnapshot.objects.filter(period=still_open).exists()

    # after the closing an enterprise registers and another moves: the period's first run
    # counts the register of its closing
    EnterpriseFactory(region=county(("320508", "姑苏区"), ("320500", "苏州市")), name="截止后登记企业")
    mover = Enterprise.objects.filter(county_code="320102").first()
    mover.region = county(("330108", "滨江区"), ("330100", "杭州市"))
    mover.save()
    run = inline_run(closed)
    assert run.provenance["register"]["snapshot"] == snapshot.pk
    assert IndexCell.objects.get(run=run, kind="nation", code="CN").registered == 30
    assert IndexCell.objects.get(run=run, kind="county", code="320102").registered == 6

    # idempotent: a second beat leaves the snapshot as it was
    started = celery_worker.log_size()
    snapshot_closed_periods.delay()
    assert wait_for(lambda: "snapshot_closed_periods" in celery_worker.log(started)
                    and "succeeded" in celery_worker.log(started)), celery_worker.log(started)[-3000:]
    again = RegisterSnapshot.objects.get(period=closed)
    assert (again.pk, again.taken_at, again.digest) == (snapshot.pk, snapshot.taken_at, snapshot.digest)
    assert RegisterSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_the_data_migration_schedules_the_task_hourly():
    """The schedule the migration writes (read from the migration itself: transactional
    tests elsewhere in the suite flush rows that migrations created)."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("apps.indices.migrations.0010_snapshot_schedule")
    PeriodicTask.objects.filter(task="apps.indices.tasks.snapshot_closed_periods").delete()
    migration.create_schedule(apps, None)
    migration.create_schedule(apps, None)  # idempotent
    task = PeriodicTask.objects.get(task="apps.indices.tasks.snapshot_closed_periods")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "hours")
