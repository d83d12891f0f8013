"""A chunk delivered twice at the same moment (acks_late: a worker's connection to the broker
drops while it scores, the broker hands the message to another worker) on PostgreSQL: two
threads, two connections, real transactions. The second delivery must roll back quietly —
the run succeeds with each filing's score once.

To make the two deliveries overlap every time (not by luck), the test holds a SHARE lock on
the scores table while both threads score: neither can write scores until the test lets go,
and the test lets go only when both are waiting on a lock. Without a lock on the chunk row
taken before the writes, both threads then write: the second one's COPY waits on the first
one's uncommitted rows and fails on the unique (run, enterprise) index when the first commits,
which fails the run.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from apps.indices import pipeline, tasks
from apps.indices.models import IndexCell, RunChunk, RunScore, RunStatus
from apps.indices.services import index_run_start
from tests.indices.population import build

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_on_locks(count: int, timeout: float = 20) -> bool:
    """True once ``count`` other backends of this database wait on a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # within a transaction it is read once
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return True
            time.sleep(0.05)
    return False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_a_chunk_delivered_twice_at_once_is_scored_once_and_the_run_succeeds(settings):
    period = build(n=40, periods=("2026",))[0]
    settings.INDEX_RUN_CHUNKS = 1
    run = index_run_start(period=period, user=None, enqueue=False)
    (chunk_id,) = pipeline.plan_run(run_id=run.pk)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            tasks.score_run_chunk(chunk_id)  # the task's body, as a worker runs it
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {RunScore._meta.db_table} IN SHARE MODE")
        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for t in threads:
            t.start()
        both_waiting = _waiting_on_locks(2)
    for t in threads:
        t.join(timeout=60)

    assert both_waiting, "the two deliveries never overlapped"
    assert not errors, errors
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING, run.error_log
    assert run.chunks_done == run.chunks_total == 1
    assert RunChunk.objects.get(pk=chunk_id).done
    filings = period.submissions.filter(status="accepted").count()
    assert RunScore.objects.filter(run=run).count() == filings
    assert RunScore.objects.filter(run=run).values("enterprise_id").distinct().count() == filings

    finished = pipeline.finalize_run(run_id=run.pk)
    assert finished.status == RunStatus.SUCCEEDED, finished.error_log
    assert IndexCell.objects.filter(run=run).exists()
