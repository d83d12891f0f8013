"""Enterprise name search of one or two characters (issue 13): `.venv/bin/python bench/enterprise_search.py`.

On the benchmark database of `make bench` (DATABASE_URL, default portal_bench: 200,000
enterprises) it times, for searches of one and two characters, the count the list's
paginator takes and the list's first page (50, ordered by province and name), as the lists
ask them now (enterprises.models.enterprise_search_q: the names holding the searched
characters from a GIN index on the generated column name_chars, migration enterprises.0008,
then the substring in those names only) and
as they were asked before (name__icontains: UPPER(name) LIKE '%…%', which pg_trgm cannot
serve under three characters). The two alternate, 7 pairs per query, medians; the answers
must be equal. Appends a section to docs/PERFORMANCE.md unless --no-report.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
os.environ.setdefault("DJANGO_DEBUG", "false")

# (search, what it finds in the benchmark's names "合成制造企业7-0123456")
SEARCHES = [("玄武", "none"), ("钢", "none"), ("99", "some"), ("合成", "every name"), ("7", "every name")]


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection

    from apps.enterprises.models import Enterprise, enterprise_search_q

    ways = {"before": lambda q: Enterprise.objects.filter(name__icontains=q),
            "now": lambda q: Enterprise.objects.filter(enterprise_search_q(q))}
    enterprises = Enterprise.objects.count()
    load = os.getloadavg()
    rows = []
    for q, finds in SEARCHES:
        counts = {way: ways[way](q).count() for way in ways}
        assert counts["before"] == counts["now"], (q, counts)
        times = {(way, part): [] for way in ways for part in ("count", "page")}
        for _ in range(args.pairs):
            for way in ways:
                times[(way, "count")].append(_time(lambda w=way, q=q: ways[w](q).count()))
                times[(way, "page")].append(_time(lambda w=way, q=q: list(ways[w](q).order_by("province_code", "name")[:50])))
        for part in ("count", "page"):
            before, now = (statistics.median(times[(w, part)]) for w in ("before", "now"))
            rows.append((q, finds, counts["now"], part, before, now))
    lines = [
        f"## Enterprise name search of one or two characters (issue 13), "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M')} UTC "
        f"({os.cpu_count()} CPUs, {platform.platform()})",
        "",
        f"`bench/enterprise_search.py` on {enterprises:,} enterprises ({connection.settings_dict['NAME']}), "
        f"{args.pairs} alternating pairs per search, medians in ms (Django ORM, from the query to the rows). "
        f"Load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. \"before\" is "
        "`name__icontains` (a scan under three characters), \"now\" `enterprise_search_q` (the names holding "
        "the characters, GIN index on `name_chars`, then the substring in those). Both give the same answers (checked).",
        "",
        "| search | finds | matches | query | before (ms) | now (ms) | before ÷ now |",
        "|---|---|---|---|---|---|---|",
    ]
    for q, finds, n, part, before, now in rows:
        lines.append(f"| `{q}` | {finds} | {n:,} | {part} | {before:.1f} | {now:.1f} | {before / now:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_report:
        with open(ROOT / "docs" / "PERFORMANCE.md", "a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
