"""Public case search benchmark (issue 10): `.venv/bin/python bench/pilots_case_search.py`.

On PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/portal_bench_cases;
created and migrated if missing) it seeds 10,000 published showcase cases of synthetic
Chinese text once (reused on later runs), then requests the public case library page
in-process (Django test client, the whole view: full-text query on the GIN-indexed tsvector,
filters, pagination, template) for 300 random keyword queries, some with a filter, and
reports p50/p95/max server time. Baseline measured in the same run, interleaved request by
request: the same page with no query (the first page of the library). The machine is shared and noisy: compare ratios.
Appends the figures to docs/PERFORMANCE.md with --write.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_cases")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "false")  # as served: no query log, no debug toolbar work

WORDS = ["质量", "追溯", "检验", "数据", "采集", "设备", "预测", "维护", "供应商", "协同", "焊接", "注塑", "工艺",
         "参数", "监控", "实验室", "仪器", "电芯", "批次", "一致性", "缺陷", "视觉", "检测", "成本", "培训",
         "审计", "偏差", "闭环", "计量", "环境", "温湿度", "能耗", "模型", "预警", "返修", "合格率", "标准化"]
LEVELS = ["lifecycle", "value_chain", "industry_chain"]
ELEMENTS = ["man", "machine", "material", "method", "environment", "measurement"]


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(n: int, rng: random.Random) -> int:
    from apps.pilots.models import Case, CaseStatus
    from apps.pilots.search import case_search_text, search_vector
    from apps.reference.models import KeyIndustry, Region, RegionLevel

    have = Case.objects.count()
    if have >= n:
        return 0
    provinces = []
    for code, name in [("320000", "江苏省"), ("330000", "浙江省"), ("440000", "广东省"), ("370000", "山东省")]:
        provinces.append(Region.objects.get_or_create(code=code, defaults={"name": name, "level": RegionLevel.PROVINCE,
                                                                            "province_code": code})[0])
    keys = [KeyIndustry.objects.get_or_create(code=c, defaults={"name": nm})[0]
            for c, nm in [("electronics", "电子制造"), ("new-materials", "新材料"), ("biomedicine", "生物医药")]]
    rows = []
    for i in range(have, n):
        text = lambda k: "，".join("".join(rng.sample(WORDS, 3)) for _ in range(k))  # noqa: E731
        region = rng.choice(provinces)
        case = Case(title=text(1)[:60], enterprise_display=f"某企业{i}", scenario_level=rng.choice(LEVELS),
                    key_industry=rng.choice(keys), elements=rng.sample(ELEMENTS, 2), region=region,
                    province_code=region.code, problem=text(6), solution=text(12), status=CaseStatus.PUBLISHED,
                    results=[{"metric": "合格率", "before": 95, "after": 98, "unit": "%"}])
        case.search_text = case_search_text(case)
        rows.append(case)
    Case.objects.bulk_create(rows, batch_size=2000)
    Case.objects.filter(search_vector=None).update(search_vector=search_vector())
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE pilots_case")
    return len(rows)


CPU: dict[str, list[float]] = {"base": [], "search": []}
DB: dict[str, list[float]] = {"base": [], "search": []}


def timed(client, path: str, params: dict, kind: str = "") -> float:
    """Wall-clock ms of one request; its CPU time in this process (which waiting for a core
    on a busy machine does not inflate; database time is not in it) goes to CPU[kind]."""
    from django.db import connection

    spent = [0.0]

    def in_database(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - start

    t, c = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(in_database):
        response = client.get(path, params)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    assert response.status_code == 200, response.status_code
    if kind:
        CPU[kind].append(cpu * 1000)
        DB[kind].append(spent[0] * 1000)
    return elapsed * 1000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # DEBUG off: the manifest storage needs it
    rng = random.Random(2026)
    added = seed(args.cases, rng)
    from apps.pilots.models import Case

    total = Case.objects.count()
    client = Client(HTTP_HOST="localhost")
    path = "/pilots/cases/"
    for _ in range(10):  # warm-up: templates, connections
        timed(client, path, {})
    load_before = os.getloadavg()
    # Baseline and search requests alternate, so that both see the same background load.
    base, searches, hits = [], [], 0
    from apps.pilots.search import search_cases

    for i in range(args.queries):
        q = " ".join(rng.sample(WORDS, rng.choice([1, 1, 2])))
        params = {"q": q}
        if i % 3 == 0:
            params["level"] = rng.choice(LEVELS)
        base.append(timed(client, path, {}, "base"))
        searches.append(timed(client, path, params, "search"))
        if i < 20:
            hits += search_cases(Case.objects.published(), q).count()
    load_after = os.getloadavg()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Public case search, {now} ({os.cpu_count()} CPUs, {platform.platform()})",
        "",
        f"`bench/pilots_case_search.py`: {total:,} published cases on PostgreSQL ({added:,} seeded this run), "
        f"{args.queries} random keyword queries (one or two words, a third with a level filter) through the whole "
        "library view in-process (Django test client), each search request right after a baseline request. "
        f"Load average (1/5/15 min) {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f} before, "
        f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} after; shared 2-core machine under other "
        "engineers' tests: compare ratios.",
        "",
        "| request | p50 ms | p95 ms | max ms | p95 × baseline p95 | web-process CPU p50 / p95 ms | database p50 / p95 ms |",
        "|---|---|---|---|---|---|---|",
        f"| baseline: library first page, no query | {pct(base, 50):.1f} | {pct(base, 95):.1f} | {max(base):.1f} | 1 | "
        f"{pct(CPU['base'], 50):.1f} / {pct(CPU['base'], 95):.1f} | {pct(DB['base'], 50):.1f} / {pct(DB['base'], 95):.1f} |",
        f"| full-text search (+ filter) | {pct(searches, 50):.1f} | {pct(searches, 95):.1f} | {max(searches):.1f} | "
        f"{pct(searches, 95) / pct(base, 95):.2f} | {pct(CPU['search'], 50):.1f} / {pct(CPU['search'], 95):.1f} | "
        f"{pct(DB['search'], 50):.1f} / {pct(DB['search'], 95):.1f} |",
        "",
        f"Average matches of the first 20 queries: {hits / 20:,.0f}. Target p95 ≤ 50 ms (wall clock, this run): "
        f"{'met' if pct(searches, 95) <= 50 else 'NOT met'}. The CPU column is the web process's own work (waiting "
        "for a core does not count); the database column is the wall time of its queries as the web process saw them.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(ROOT / "docs" / "PERFORMANCE.md", "a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
