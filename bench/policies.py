"""Policy-tracking benchmark (issue 11): `.venv/bin/python bench/policies.py`.

On its own PostgreSQL database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/portal_i11_bench) and Redis (CELERY_BROKER_URL, default
redis://127.0.0.1:6379/13) it
  1. seeds 200,000 enterprises × 2 periods once (seed_demo; reused on later runs) and
     computes and publishes both periods' index runs (in a child process, once);
  2. measures the floor: PostgreSQL copying the two published runs' RunScore rows and cells
     to a null sink;
  3. creates 1,000 targets over provinces, prefectures, divisions and the nation (mean,
     median, coverage, level share) and times ``target_progress_recompute`` after a
     publish — every target from every published run, full and public view, with the
     caches emptied as a publish does (new run version);
  4. times the support impact for 20,000 supported enterprises against the rest of the
     panel: the whole service (``support_impact``: RunScore and filing rows read from the
     database, matching, t interval) and the pure estimate on exactly 20,000 supported vs
     180,000 candidates (``estimate_impact`` on a synthetic frame);
and prints the figures with ratios to the floor (JSON to bench/results/policies-<time>.json;
add a section to docs/PERFORMANCE.md by hand, or with --report). The machine is shared and
noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_i11_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("CELERY_QUEUE", "portal-i11-bench")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from run import child_inline_run, ensure_database, manage  # noqa: E402  (bench/run.py helpers)

TARGETS = 1000
SUPPORTED = 20_000


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def floor_seconds(run_ids: list[int]) -> float:
    import psycopg

    ids = ",".join(str(int(i)) for i in run_ids)
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        for sql in (f"COPY (SELECT enterprise_id, submission_id, composite FROM indices_runscore WHERE run_id IN ({ids})) TO STDOUT",
                    f"COPY (SELECT * FROM indices_indexcell WHERE run_id IN ({ids})) TO STDOUT"):
            with cur.copy(sql) as copy:
                for _ in copy:
                    pass
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enterprises", type=int, default=200_000)
    args = parser.parse_args()
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    ensure_database()
    manage("migrate", "--noinput", "-v0")
    manage("load_reference")
    manage("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish")

    import django

    django.setup()
    import numpy as np
    import pandas as pd
    from django.core.cache import cache
    from django.db.models import Count

    from apps.accounts.models import Role, User
    from apps.enterprises.models import Enterprise
    from apps.filings.models import Period
    from apps.indices.models import IndexRun, RunScore
    from apps.indices.readers import public_memo
    from apps.indices.services import index_run_publish
    from apps.policies.impact import estimate_impact
    from apps.policies.models import Measure, Metric, Policy, SupportRecord, Target, TargetProgress
    from apps.policies.services import support_impact, target_progress_recompute
    from apps.reference.models import Industry, IndustryLevel, Region, RegionLevel

    if Enterprise.objects.filter(name__startswith="合成制造企业").count() < args.enterprises:
        t = time.perf_counter()
        manage("seed_demo", "--enterprises", str(args.enterprises), "--periods", "2", "--seed", "7")
        print(f"seeded in {time.perf_counter() - t:.1f} s", flush=True)
    periods = list(Period.objects.annotate(n=Count("submissions")).filter(n__gt=0).order_by("opens_on"))[-2:]
    for period in periods:
        if not IndexRun.objects.filter(period=period, is_published=True).exists():
            run = child_inline_run(period.code)
            index_run_publish(run=IndexRun.objects.get(pk=run["run"]), user=None)
            print(f"published run of {period.code} ({run['seconds']:.1f} s)", flush=True)
    runs = [IndexRun.objects.get(period=p, is_published=True) for p in periods]

    results: dict = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": {
        "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_avg": os.getloadavg()}}
    results["floor_seconds"] = min(floor_seconds([r.pk for r in runs]) for _ in range(3))

    # 1,000 targets over real cells
    SupportRecord.objects.filter(measure__policy__issuing_body="基准测试").delete()
    Policy.objects.filter(issuing_body="基准测试").delete()
    policy = Policy.objects.create(title="基准测试政策", doc_number="BENCH-1", issuing_body="基准测试", level="national",
                                   issued_on=datetime.date(2025, 1, 1), instrument="service")
    measure = Measure.objects.create(policy=policy, title="基准测试措施")
    cells = [("nation", "CN")]
    cells += [("province", c) for c in Region.objects.filter(level=RegionLevel.PROVINCE).values_list("code", flat=True)]
    cells += [("division", c) for c in Industry.objects.filter(level=IndustryLevel.DIVISION, code__gte="13", code__lte="43")
              .values_list("code", flat=True)]
    cells += [("prefecture", c) for c in Region.objects.filter(level=RegionLevel.PREFECTURE).values_list("code", flat=True)]
    metrics = [(Metric.MEAN, None), (Metric.MEDIAN, None), (Metric.COVERAGE, None), (Metric.LEVEL_SHARE, 3)]
    rows = []
    for i in range(TARGETS):
        kind, code = cells[i % len(cells)]
        metric, level_min = metrics[(i // len(cells)) % len(metrics)]
        rows.append(Target(measure=measure, metric=metric, level_min=level_min, cell_kind=kind, cell_code=code,
                           baseline_period=periods[0], target_year=periods[-1].opens_on.year + 2, value=60.0))
    Target.objects.bulk_create(rows)
    results["targets"] = Target.objects.filter(measure=measure).count()

    def recompute_after_publish():
        cache.clear()
        public_memo.clear()
        return target_progress_recompute()

    seconds, written = timed(recompute_after_publish)
    results["progress_seconds"] = seconds
    results["progress_rows"] = written
    results["progress_statuses"] = dict(TargetProgress.objects.filter(view="full").values_list("status").annotate(n=Count("id")))

    # support impact: 20,000 supported enterprises of the panel
    panel_ids = sorted(set(RunScore.objects.filter(run=runs[0]).values_list("enterprise_id", flat=True))
                       & set(RunScore.objects.filter(run=runs[1]).values_list("enterprise_id", flat=True)))
    rng = np.random.default_rng(11)
    chosen = rng.choice(np.array(panel_ids), size=min(SUPPORTED, len(panel_ids) // 2), replace=False)
    SupportRecord.objects.filter(measure=measure).delete()
    granted = periods[0].opens_on + datetime.timedelta(days=30)
    SupportRecord.objects.bulk_create([SupportRecord(enterprise_id=int(e), measure=measure, granted_on=granted)
                                       for e in chosen], batch_size=5000)
    ministry, _ = User.objects.get_or_create(username="bench-ministry", defaults={"role": Role.MINISTRY})
    seconds, est = timed(lambda: support_impact(user=ministry, measures=[measure], before_period=periods[0],
                                                after_period=periods[1]))
    results["impact_service_seconds"] = seconds
    results["impact_service"] = {"panel": len(panel_ids), "supported": int(len(chosen)), "treated": est.treated,
                                 "controls": est.controls, "candidates": est.candidates, "did": est.did,
                                 "ci": [est.ci_low, est.ci_high]}
    # the pure estimate at exactly 20,000 vs 180,000
    n = SUPPORTED + 180_000
    frame = pd.DataFrame({"enterprise_id": np.arange(n), "division": rng.integers(13, 44, n).astype(str),
                          "size": rng.choice(["large", "medium", "small", "micro"], n),
                          "before": rng.uniform(20, 90, n)})
    frame["after"] = frame["before"] + rng.normal(2, 5, n)
    seconds, est = timed(lambda: estimate_impact(frame, np.arange(SUPPORTED)))
    results["impact_pure_seconds"] = seconds
    results["impact_pure"] = {"treated": est.treated, "controls": est.controls, "candidates": est.candidates}

    floor = results["floor_seconds"]
    print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    print(f"floor {floor:.3f} s | progress of {results['targets']} targets {results['progress_seconds']:.2f} s "
          f"(×{results['progress_seconds'] / floor:.1f}) | impact service {results['impact_service_seconds']:.2f} s "
          f"(×{results['impact_service_seconds'] / floor:.1f}) | impact pure 20k vs 180k {results['impact_pure_seconds']:.2f} s")
    out = ROOT / "bench" / "results" / f"policies-{results['date'].replace(':', '')}.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
