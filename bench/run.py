"""Index-engine benchmark (issue 4): `make bench` or `.venv/bin/python bench/run.py`.

On PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/portal_bench) and
Redis (CELERY_BROKER_URL, default redis://127.0.0.1:6379/9) it
  1. seeds 200,000 enterprises × 2 periods once (seed_demo; reused on later runs),
  2. measures the floor: PostgreSQL reading the period's packed answers (COPY … TO a null sink),
  3. runs a full index run in one process (--inline) in a child process, for time and peak memory,
  4. runs the same through real Celery workers (2 processes) and the fan-out/join,
  5. measures the incremental refresh: one more accepted filing until its score and the
     stale marks are visible,
and appends the figures, as ratios to the floor measured in the same run, to
docs/PERFORMANCE.md and bench/results/<timestamp>.json. The machine is shared and noisy:
compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("CELERY_QUEUE", "portal-bench")
os.environ.setdefault("DJANGO_DEBUG", "false")
PY = sys.executable


def manage(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True, text=True,
                          capture_output=capture, env=os.environ.copy())


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def child_inline_run(period: str) -> dict:
    """A full run in a fresh child process; returns its timings and peak RSS."""
    code = (
        "import django, json, resource, time; django.setup();"
        "from apps.filings.models import Period; from apps.indices.services import index_run_start;"
        "from apps.indices import pipeline;"
        f"p = Period.objects.get(code='{period}'); t = time.perf_counter();"
        "run = index_run_start(period=p, user=None, enqueue=False); run = pipeline.run_inline(run_id=run.pk);"
        "print(json.dumps({'run': run.pk, 'seconds': time.perf_counter() - t, 'status': run.status, 'cells': run.cells,"
        " 'submissions': run.submissions, 'timings': run.timings,"
        " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run([PY, "-c", code], cwd=ROOT, check=True, text=True, capture_output=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def floor_copy_seconds(period_id: int) -> float:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        with cur.copy(
            "COPY (SELECT id, enterprise_id, answer_vector FROM filings_submission "
            f"WHERE period_id = {int(period_id)} AND status = 'accepted') TO STDOUT (FORMAT BINARY)"
        ) as copy:
            for _ in copy:
                pass
        return time.perf_counter() - start


def start_workers(n: int) -> subprocess.Popen:
    log = open(ROOT / "bench" / "results" / "worker.log", "w")
    return subprocess.Popen(
        [PY, "-m", "celery", "-A", "portal", "worker", "-Q", os.environ["CELERY_QUEUE"], "--concurrency", str(n),
         "--loglevel", "warning", "--purge"],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
    )


def wait_for_workers(timeout: float = 180.0) -> None:
    """Until the workers answer a ping: they purge their queue when they start, so a run
    enqueued before that (a fixed sleep on a loaded machine) was erased and stayed queued."""
    from portal.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the Celery workers did not answer within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enterprises", type=int, default=200_000)
    parser.add_argument("--periods", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    ensure_database()
    manage("migrate", "--noinput", "-v0")
    manage("load_reference")
    manage("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish")

    import django

    django.setup()
    from django.db.models import Count

    from apps.enterprises.models import Enterprise
    from apps.filings.models import Period, Submission, SubmissionStatus
    from apps.indices.models import IndexCell, IndexRun, RunStatus
    from apps.indices.services import index_run_publish, index_run_start

    if Enterprise.objects.filter(name__startswith="合成制造企业").count() < args.enterprises:
        t = time.perf_counter()
        manage("seed_demo", "--enterprises", str(args.enterprises), "--periods", str(args.periods), "--seed", "7")
        print(f"seeded in {time.perf_counter() - t:.1f} s")
    periods = list(Period.objects.annotate(n=Count("submissions")).filter(n__gt=0).order_by("opens_on"))
    latest = periods[-1]
    results: dict = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": {
        "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}}
    results["filings"] = Submission.objects.filter(period=latest, status=SubmissionStatus.ACCEPTED).count()
    results["indicators"] = latest.framework.indicators.count()

    # earlier periods first, published, so the latest run has changes and a panel
    for period in periods[:-1]:
        if not IndexRun.objects.filter(period=period, is_published=True).exists():
            run = child_inline_run(period.code)
            index_run_publish(run=IndexRun.objects.get(pk=run["run"]), user=None)

    floors = [floor_copy_seconds(latest.pk) for _ in range(3)]
    results["floor_copy_seconds"] = min(floors)
    inline = child_inline_run(latest.code)
    results["inline_run"] = inline

    worker = start_workers(args.workers)
    try:
        wait_for_workers()
        t = time.perf_counter()
        run = index_run_start(period=latest, user=None)  # enqueued on commit (autocommit here)
        while True:
            run.refresh_from_db()
            if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                break
            time.sleep(0.2)
        results["celery_run"] = {"run": run.pk, "seconds": time.perf_counter() - t, "status": run.status,
                                 "workers": args.workers, "timings": run.timings, "cells": run.cells}
        index_run_publish(run=run, user=None)

        # incremental refresh: one more accepted filing, until score + stale marks show
        results["incremental"] = incremental_refresh(latest, run)
    finally:
        worker.terminate()
        worker.wait(30)

    floor = results["floor_copy_seconds"]
    results["ratios"] = {
        "inline_run_to_floor": results["inline_run"]["seconds"] / floor,
        "celery_run_to_floor": results["celery_run"]["seconds"] / floor,
    }
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (ROOT / "bench" / "results" / f"{stamp}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    write_report(results)
    print(json.dumps(results, indent=1, ensure_ascii=False))
    _ = IndexCell  # imported for clarity of what the run writes


def incremental_refresh(period, run) -> dict:
    import numpy as np
    from django.db import transaction

    from apps.accounts.models import Role, User
    from apps.enterprises.models import Enterprise
    from apps.filings import services
    from apps.filings.models import Submission, SubmissionStatus
    from apps.filings.packing import compiled_for
    from apps.filings.synthetic import synthetic_answers
    from apps.frameworks import scoring
    from apps.indices.models import IndexCell

    ent = Enterprise.objects.exclude(submissions__period=period).filter(name__startswith="合成制造企业").first()
    reviewer, _ = User.objects.get_or_create(username="bench-ministry", defaults={"role": Role.MINISTRY})
    compiled = compiled_for(period.framework)
    row = synthetic_answers(compiled, np.array([3.0]), np.random.default_rng(1))[0]
    row[compiled.module_index >= 0] = np.nan
    with transaction.atomic():
        sub = Submission.objects.create(
            enterprise=ent, period=period, framework=period.framework, status=SubmissionStatus.SUBMITTED,
            province_code=ent.province_code, prefecture_code=ent.prefecture_code, county_code=ent.county_code,
            division_code=ent.division_code, size_class=ent.size_class, answer_vector=scoring.pack_answers(row),
        )
    t = time.perf_counter()
    services.submission_accept(submission=sub, user=reviewer)
    while not IndexCell.objects.filter(run=run, kind="county", code=ent.county_code, stale=True).exists():
        if time.perf_counter() - t > 60:
            return {"seconds": None, "note": "not visible within 60 s"}
        time.sleep(0.05)
    return {"seconds": time.perf_counter() - t, "scored": hasattr(Submission.objects.get(pk=sub.pk), "score")}


def write_report(r: dict) -> None:
    path = ROOT / "docs" / "PERFORMANCE.md"
    inline, celery_run = r["inline_run"], r["celery_run"]
    section = f"""
## Index engine, {r['date']} ({r['machine']['cpus']} CPUs, {r['machine']['memory_gb']} GB, {r['machine']['platform']})

{r['filings']:,} accepted filings in the period, {r['indicators']} indicators, PostgreSQL, Redis.

| measure | seconds | ratio to floor | target |
|---|---|---|---|
| floor: COPY the period's packed answers to a null sink | {r['floor_copy_seconds']:.2f} | 1.0 | — |
| full run in one process (score every filing, every cell) | {inline['seconds']:.1f} | {r['ratios']['inline_run_to_floor']:.1f} | ≤ 60 s (aim 20 s) |
| full run through Celery ({celery_run['workers']} worker processes, fan-out + join) | {celery_run['seconds']:.1f} | {r['ratios']['celery_run_to_floor']:.1f} | ≤ 60 s |
| incremental refresh: one accepted filing until its score and stale marks show | {r['incremental']['seconds'] if r['incremental']['seconds'] is None else round(r['incremental']['seconds'], 2)} | — | ≤ 5 s |

Peak memory of the one-process run: {inline['peak_rss_mb']:.0f} MB (target ≤ 2 GB). Cells: {inline['cells']:,}.
Step timings of the one-process run (s): {json.dumps(inline['timings'], ensure_ascii=False)}.
Step timings through Celery (s of work, summed over chunks): {json.dumps(celery_run['timings'], ensure_ascii=False)}.
"""
    text = path.read_text() if path.exists() else "# Performance\n\nHow to reproduce: `make bench` (see bench/run.py).\n"
    path.write_text(text.rstrip("\n") + "\n" + section)


if __name__ == "__main__":
    main()
