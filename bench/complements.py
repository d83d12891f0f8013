"""Complements bench (issue 8): the heuristic against the 0/1 program on the seeded population.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_i8b_bench \
        .venv/bin/python bench/complements.py [--period 2026]

Needs the population bench/run.py seeds (200,000 enterprises, two periods). Publishes a run
of the earlier period if none is (the previous pattern both methods see), then runs the
period in one process (``run_inline``, a child process each) once per method, alternating
(heuristic, milp, heuristic, milp) so that load drifts hit both, and prints per method: cells and
contributors hidden as complements, the blocks and how each was solved, the time of the
disclosure step and of the whole run, and the floor of the run (bench/run.py
measure_floor) measured in the same run. Writes bench/results/complements-<timestamp>.json.
The machine is shared: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # bench/run.py's child run
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def child_run(period: str, method: str) -> dict:
    """A full inline run of ``period`` with ``complement_method`` in a fresh process
    (bench/run.py's child run, with the run's audit)."""
    from run import child_inline_run

    return child_inline_run(period, {"complement_method": method}, audit=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--period", default="2026")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import django

    django.setup()
    from apps.filings.models import Period
    from apps.indices import pipeline
    from apps.indices.models import IndexRun, RunStatus
    from apps.indices.services import index_run_publish, index_run_start
    from bench.run import measure_floor

    IndexRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, error_log="interrupted benchmark")
    period = Period.objects.get(code=args.period)
    earlier = Period.objects.filter(opens_on__lt=period.opens_on).order_by("-opens_on").first()
    if earlier is not None and not IndexRun.objects.filter(period=earlier, is_published=True).exists():
        run = pipeline.run_inline(run_id=index_run_start(period=earlier, user=None, enqueue=False).pk)
        index_run_publish(run=run, user=None)
    results: dict[str, list[dict]] = {"heuristic": [], "milp": []}
    for _ in range(args.repeat):
        for method in ("heuristic", "milp"):
            results[method].append(child_run(args.period, method))
            print(method, json.dumps({k: v for k, v in results[method][-1].items() if k != "protection"}), flush=True)
    last = results["milp"][-1]["run"]
    floor = measure_floor(period.pk, last)
    summary = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(), "cpus": os.cpu_count(), "floor": floor, "runs": results,
    }
    for method, runs in results.items():
        best = min(runs, key=lambda r: r["seconds"])
        summary[method] = {
            "secondary_cells": best["complements"].get("secondary_cells"),
            "secondary_contributors": best["complements"].get("secondary_contributors"),
            "suppressed_cells": best["suppressed_cells"], "cells": best["cells"],
            "disclosure_seconds": best["complements"].get("seconds"),
            "run_seconds": round(best["seconds"], 2), "aggregate_seconds": best["timings"].get("aggregate"),
            "run_to_floor": round(best["seconds"] / floor["total"], 2),
            "blocks": [{k: b.get(k) for k in ("cells", "hidden", "constraints", "status", "objective", "seconds")}
                       for b in best["complements"].get("blocks", [])],
        }
    out = ROOT / "bench" / "results" / f"complements-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(json.dumps({k: summary[k] for k in ("date", "load_average", "floor", "heuristic", "milp")}, indent=2))


if __name__ == "__main__":
    main()
