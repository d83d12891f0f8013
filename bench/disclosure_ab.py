"""Disclosure control before/after a change, on a benchmark copy (issue 8, speed).

  python bench/disclosure_ab.py run             one full index run of the latest period in
                                                this process (plan, score every chunk,
                                                join): prints the run id, the aggregate
                                                step and apply_disclosure_control (wall and
                                                CPU seconds) and the load average, as JSON
  python bench/disclosure_ab.py compare A B     every IndexCell of runs A and B (suppressed,
                                                suppression_reason, all values) and their
                                                audit's protection and complements records
                                                (timings left out): identical or not

Run "run" from the checkout to measure (its apps/ is imported from the working
directory), alternating the old and the new code in fresh processes; DATABASE_URL names the
benchmark copy. Each "run" adds an unpublished IndexRun to that database."""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")


def one_run() -> dict:
    from apps.filings.models import Period
    from apps.indices import disclosure, pipeline
    from apps.indices.services import index_run_start

    measured = {}
    inner = disclosure.apply_disclosure_control

    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            measured["disclosure_wall"] = round(time.perf_counter() - wall, 3)
            measured["disclosure_cpu"] = round(time.process_time() - cpu, 3)

    disclosure.apply_disclosure_control = timed
    load_before = os.getloadavg()[0]
    period = Period.objects.order_by("-opens_on").first()
    run = index_run_start(period=period, user=None, enqueue=False)
    for chunk in pipeline.plan_run(run_id=run.pk):
        pipeline.chunk_attempt_started(chunk_id=chunk)
        pipeline.score_chunk(chunk_id=chunk)
    wall, cpu = time.perf_counter(), time.process_time()
    run = pipeline.finalize_run(run_id=run.pk)
    return {
        "run": run.pk,
        "code": os.path.basename(os.getcwd()),
        "finalize_wall": round(time.perf_counter() - wall, 3),
        "finalize_cpu": round(time.process_time() - cpu, 3),
        "aggregate": run.timings.get("aggregate"),
        **measured,
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def without_timings(value):
    """``value`` (an audit record) without its "seconds" entries, at any depth."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def compare(run_a: int, run_b: int) -> dict:
    from apps.indices.models import IndexRun
    from bench.compare_cells import cell_differences

    a, b, fields, differences = cell_differences(run_a, run_b, tolerance=0)
    differing = {}
    for key, field in differences:
        differing.setdefault(field or "(missing)", []).append(key)
    audits = {run: IndexRun.objects.get(pk=run).audit or {} for run in (run_a, run_b)}
    audit_differs = [
        part
        for part in sorted(set(audits[run_a]) | set(audits[run_b]))
        if json.dumps(without_timings(audits[run_a].get(part)), sort_keys=True, default=str)
        != json.dumps(without_timings(audits[run_b].get(part)), sort_keys=True, default=str)
    ]
    return {
        "runs": [run_a, run_b],
        "cells": [len(a), len(b)],
        "suppressed": [sum(r["suppressed"] for r in a.values()), sum(r["suppressed"] for r in b.values())],
        "fields_compared": len(fields),
        "cells_differing_by_field": {f: len(keys) for f, keys in differing.items()},
        "examples": {f: [list(k) for k in keys[:5]] for f, keys in differing.items()},
        "audit_parts": sorted(set(audits[run_a]) | set(audits[run_b])),
        "audit_parts_differing": audit_differs,
        "identical": not differing and not audit_differs,
    }


if __name__ == "__main__":
    import django

    django.setup()
    if sys.argv[1:2] == ["run"]:
        print(json.dumps(one_run()))
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        print(json.dumps(compare(int(sys.argv[2]), int(sys.argv[3])), ensure_ascii=False))
    else:
        sys.exit(__doc__)
