"""Reviewer assignment end to end (issue 10): `.venv/bin/python bench/pilots_assignment_service.py`.

bench/pilots_assignment.py times the solver on matrices; this times what staff wait for when
they press 自动分配 on a call's page: ``apps.pilots.services.assignment_auto`` — reading the
eligible applications (with scenarios), the experts (with key industries) and the recorded
conflicts from PostgreSQL, building the allowed/affinity matrices, the min-cost-flow solve and
writing the assignments, in one transaction. Instance: 3,000 eligible applications × 400
experts, 3 reviewers each, 5 % of the pairs conflicted by recorded conflicts (60,000 rows),
seeded once into DATABASE_URL (default portal_bench_assign, created and migrated if missing).

Reported per repetition: total, and the parts (matrices = reads + numpy; solve; write), with
the solver alone on the same matrices as the baseline the ratio is taken against. Appends the
figures to docs/PERFORMANCE.md with --write. The machine is shared: compare ratios.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_assign")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "false")

N_APPS, N_EXPERTS, K, CONFLICTED = 3000, 400, 3, 0.05
TITLE = "基准测试：自动分配评审专家"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(f'create database "{name}"')


def seed():
    """The call (in its review stage), 3,000 eligible applications of seeded enterprises with
    1–3 scenarios, 400 experts and 5 % conflicted pairs. Reused when present."""
    import numpy as np
    from django.core.management import call_command
    from django.utils import timezone

    from apps.accounts.models import Role, User
    from apps.accounts.scoping import recommending_unit_for
    from apps.enterprises.models import Enterprise
    from apps.pilots import services
    from apps.pilots.models import Application, ApplicationStatus, Call, Conflict, ConflictSource, Expert, Scenario
    from apps.reference.models import KeyIndustry, Region
    from tests.pilots.builders import CRITERIA, dates_for

    call = Call.objects.filter(title=TITLE).first()
    if call is not None:
        Call.objects.filter(pk=call.pk).update(**dates_for("review"))
        return Call.objects.get(pk=call.pk)
    if not Region.objects.exists():
        call_command("load_reference", verbosity=0)
        call_command("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish", verbosity=0)
    if Enterprise.objects.count() < N_APPS:
        call_command("seed_demo", "--enterprises", str(N_APPS), "--periods", "1", verbosity=0)
    staff = User.objects.filter(username="bench-staff").first() or User.objects.create_user(
        username="bench-staff", password="x" * 12, role=Role.MINISTRY)
    keys = list(KeyIndustry.objects.order_by("pk"))
    fields = {"title": TITLE, "year": 2026, "scenario_levels": ["lifecycle", "value_chain", "industry_chain"],
              "quota_per_unit": 500, "reviewers_per_application": K, **dates_for("application")}
    call = services.call_publish(call=services.call_create(user=staff, criteria=CRITERIA, key_industries=keys, **fields),
                                 user=staff)
    rng = np.random.default_rng(2026)
    enterprises = list(Enterprise.objects.select_related("region").order_by("pk")[:N_APPS])
    now = timezone.now()
    levels = ["lifecycle", "value_chain", "industry_chain"]
    apps = Application.objects.bulk_create([
        Application(call=call, enterprise=e, recommending_unit=recommending_unit_for(e),
                    key_industry=keys[int(rng.integers(len(keys)))], status=ApplicationStatus.ELIGIBLE,
                    created_by=staff, submitted_at=now)
        for e in enterprises
    ])
    Scenario.objects.bulk_create([
        Scenario(application=a, title=f"场景{j + 1}", level=levels[(i + j) % 3], elements=["measurement"],
                 text="质量数据自动采集与分析。", order=j)
        for i, a in enumerate(apps) for j in range(1 + i % 3)
    ])
    experts = Expert.objects.bulk_create([
        Expert(name=f"专家{j:03d}", employer=f"某研究院{j:03d}",
               scenario_levels=sorted({levels[j % 3], levels[int(rng.integers(3))]}))
        for j in range(N_EXPERTS)
    ])
    through = Expert.key_industries.through
    through.objects.bulk_create([through(expert_id=x.pk, keyindustry_id=keys[j % len(keys)].pk)
                                 for j, x in enumerate(experts)])
    conflicted = np.argwhere(rng.random((N_APPS, N_EXPERTS)) < CONFLICTED)
    Conflict.objects.bulk_create([
        Conflict(expert=experts[j], enterprise_id=apps[i].enterprise_id, source=ConflictSource.STAFF,
                 reason="基准测试", created_by=staff)
        for i, j in conflicted
    ], batch_size=10000)
    Call.objects.filter(pk=call.pk).update(**dates_for("review"))
    return Call.objects.get(pk=call.pk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="append the figures to docs/PERFORMANCE.md")
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    import apps.pilots.services as services
    from apps.accounts.models import User
    from apps.pilots import assignment as solver
    from apps.pilots.models import Assignment, Expert

    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    call = seed()
    print(f"instance ready in {time.perf_counter() - t:.1f} s")
    staff = User.objects.get(username="bench-staff")

    # Time the parts by wrapping the two module-level steps the service calls.
    parts: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    matrices, solve = services.assignment_matrices, solver.solve_assignment
    services.assignment_matrices = timed("matrices", matrices)
    services.solver.solve_assignment = timed("solve", solve)
    rows = []
    for rep in range(args.repeat):
        parts.clear()
        Assignment.objects.filter(application__call=call).delete()
        t0 = time.perf_counter()
        result = services.assignment_auto(call=call, user=staff)
        total = time.perf_counter() - t0
        assert not result.problems and result.created == N_APPS * K, (result.problems, result.message)
        # baseline: the solver alone on the same matrices, in the same run
        with transaction.atomic():
            apps = services._eligible_applications(call)
            experts = list(Expert.objects.filter(is_active=True).select_related("region")
                           .prefetch_related("key_industries").order_by("pk"))
            allowed, affinity = matrices(call, apps, experts)
        t1 = time.perf_counter()
        solve(allowed, affinity, K)
        base = time.perf_counter() - t1
        rows.append((total, parts.get("matrices", 0), parts.get("solve", 0), base))
        print(f"run {rep + 1}: total {total:.2f} s = matrices {parts.get('matrices', 0):.2f} + solve "
              f"{parts.get('solve', 0):.2f} + rest (reads, write) {total - sum(parts.values()):.2f}; "
              f"solver alone {base:.2f} s; total/solver {total / base:.2f}")
    services.assignment_matrices, services.solver.solve_assignment = matrices, solve
    best = min(rows)
    load = os.getloadavg()
    line = (f"| {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC | {platform.machine()}, {os.cpu_count()} cores, "
            f"load {load[0]:.1f} | {N_APPS}×{N_EXPERTS}×{K}, {CONFLICTED:.0%} conflicted | "
            f"{best[0]:.2f} s (matrices {best[1]:.2f}, solve {best[2]:.2f}, reads+write {best[0] - best[1] - best[2]:.2f}) "
            f"| {best[3]:.2f} s | {best[0] / best[3]:.2f} |")
    print(line)
    if args.write:
        path = ROOT / "docs" / "PERFORMANCE.md"
        text = path.read_text(encoding="utf-8")
        header = "### Reviewer assignment end to end (bench/pilots_assignment_service.py)"
        if header not in text:
            text += (f"\n{header}\n\n`assignment_auto` as staff wait for it: database reads, matrices, "
                     "min-cost-flow solve, bulk write, one transaction; best of the repetitions. Goal ≤ 10 s.\n\n"
                     "| when | machine | instance | service total | solver alone (same run) | ratio |\n"
                     "|---|---|---|---|---|---|\n")
        path.write_text(text.rstrip("\n") + "\n" + line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
