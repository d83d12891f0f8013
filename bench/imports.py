"""Import benchmark (issue 13): `make import-bench` or `.venv/bin/python bench/imports.py`.

On PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/portal_bench; the
figures in docs/PERFORMANCE.md were taken on portal_i13_bench) it
  1. loads the reference data (regions, industries) and the framework once,
  2. writes a CSV of N valid enterprise rows (default 20,000) over the real counties and
     industry divisions, a third of them with a key industry,
  3. measures the floor: PostgreSQL's COPY of the same file into a table of text columns,
     and the schema's floor: the same enterprises and history rows written once more by
     PostgreSQL alone into the real tables (indexes, foreign keys), rolled back,
  4. imports the file (all-or-nothing, as the system user) through
     ``enterprises_import`` — new enterprises — and again with every name changed — updates,
  5. imports the same file with 1 % of the USCCs broken in all-or-nothing mode (every bad
     line reported, nothing written),
  6. imports paper filings (``--filings``, default 2,000) of the latest period for
     enterprises of the file through ``submissions_import`` (checking and writing; the two
     phases timed through its ``on_progress``), then measures that import's floors on the
     rows it wrote (COPY into bare temporary tables; into temporary tables with the real
     indexes; into the real tables with every index and foreign key checked, rolled back);
     ``--profile PATH`` writes a cProfile of the paper import,
and prints the rates and the ratios to the COPY floor measured in the same run, and writes
them to bench/results/imports-<timestamp>.json. The rows are deleted again at the end. The
machine is shared and noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import datetime
import io
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("DJANGO_DEBUG", "false")


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def make_file(n: int, serial_base: int, *, broken_share: float = 0.0, seed: int = 7) -> tuple[bytes, list[str]]:
    """A CSV (UTF-8 with BOM) of ``n`` enterprise rows; returns (bytes, USCCs)."""
    from stdnum.cn import uscc as uscc_mod

    from apps.enterprises.resources import IMPORT_COLUMNS
    from apps.reference.models import Industry, IndustryLevel, Region

    rng = random.Random(seed)
    counties = [r for r in Region.objects.filter(is_active=True) if r.is_placeable]
    divisions = list(Industry.objects.filter(level=IndustryLevel.DIVISION, is_active=True).values_list("code", flat=True))
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(IMPORT_COLUMNS)
    codes = []
    for i in range(n):
        region = counties[rng.randrange(len(counties))]
        body = f"91{region.code}{serial_base + i:09d}"[:17]
        code = body + uscc_mod.calc_check_digit(body)
        if broken_share and rng.random() < broken_share:
            code = body + ("0" if code[-1] != "0" else "1")
        codes.append(code)
        writer.writerow([
            code, f"基准测试企业{serial_base + i}有限公司", region.code, divisions[rng.randrange(len(divisions))],
            "" if i % 3 else "电子制造", rng.randrange(5, 3000), f"{rng.uniform(50, 90000):.2f}",
            f"测试路{i}号", "李四", "13800000000", f"u{i}@example.cn",
        ])  # fmt: skip
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8"), codes


def copy_floor(data: bytes) -> float:
    """Seconds for PostgreSQL to COPY the file into a temporary table of text columns."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_import_floor (" + ", ".join(f"c{i} text" for i in range(11)) + ") ON COMMIT DROP")
        start = time.perf_counter()
        with cursor.cursor.copy("COPY bench_import_floor FROM STDIN (FORMAT csv, HEADER true)") as copy:
            copy.write(data[3:])
        return time.perf_counter() - start


class _RollBack(Exception):
    pass


def rolled_back_seconds(write, prepare=None) -> float:
    """Seconds of ``write(cursor)`` with the deferred constraints checked, inside one
    transaction (after ``prepare(cursor)``, not timed) that is then rolled back: a floor's
    writes leave nothing behind."""
    from django.db import connection, transaction

    elapsed = 0.0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if prepare is not None:
                prepare(cursor)
            start = time.perf_counter()
            write(cursor)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            elapsed = time.perf_counter() - start
            raise _RollBack
    except _RollBack:
        pass
    return elapsed


def schema_floor(codes: list[str]) -> float:
    """Seconds for PostgreSQL alone to write the imported enterprises and their history rows
    once more into the real tables (every index, the deferred foreign keys checked), as
    ``INSERT … SELECT`` from the rows just imported; rolled back. What the schema costs."""

    from apps.enterprises.models import Enterprise

    table = Enterprise._meta.db_table
    history = Enterprise.history.model._meta.db_table
    columns = [f.column for f in Enterprise._meta.concrete_fields]
    history_columns = [f.column for f in Enterprise.history.model._meta.concrete_fields]

    def shifted(cols: list[str], key: str) -> str:
        return ", ".join(f"{c} + 1000000000" if c == key else ("'x' || substr(uscc, 2)" if c == "uscc" else c) for c in cols)

    def write(cursor) -> None:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {shifted(columns, 'id')} FROM {table} WHERE uscc = ANY(%s)",
            [codes],
        )
        cursor.execute(
            f"INSERT INTO {history} ({', '.join(history_columns)}) SELECT {shifted(history_columns, 'history_id')} "
            f"FROM {history} WHERE uscc = ANY(%s)",
            [codes],
        )

    return rolled_back_seconds(write)


def delete_rows(codes: list[str]) -> None:
    """Remove the bench's enterprises, their key industries, history and filings: set-based
    SQL (the ORM's cascade took minutes for 40,000 enterprises); the ORM if that is refused."""
    from django.db import DatabaseError, connection, transaction

    from apps.enterprises.models import Enterprise

    history = Enterprise.history.model
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM enterprises_enterprise WHERE uscc = ANY(%s)", [codes])
            ids = [r[0] for r in cursor.fetchall()]
            from apps.filings.models import Submission

            filings = Submission.objects.filter(enterprise_id__in=ids)
            if filings.exists():  # the paper-filing part of the bench (--filings): their cascade
                filings.delete()
            through = Enterprise.key_industries.through._meta.db_table
            cursor.execute(f"DELETE FROM {through} WHERE enterprise_id = ANY(%s)", [ids])
            m2m = f"{history._meta.db_table}_key_industries"
            cursor.execute(
                f"DELETE FROM {m2m} WHERE history_id IN (SELECT history_id FROM {history._meta.db_table} WHERE id = ANY(%s))",
                [ids],
            )
            cursor.execute(f"DELETE FROM {history._meta.db_table} WHERE id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM enterprises_enterprise WHERE id = ANY(%s)", [ids])
        return
    except DatabaseError as exc:
        print("set-based clean-up refused, using the ORM:", exc, file=sys.stderr)
    with transaction.atomic():
        for start in range(0, len(codes), 5000):
            chunk = codes[start : start + 5000]
            ids = list(Enterprise.objects.filter(uscc__in=chunk).values_list("pk", flat=True))
            from apps.filings.models import Submission

            Submission.objects.filter(enterprise_id__in=ids).delete()
            Enterprise.objects.filter(pk__in=ids).delete()
            Enterprise.history.filter(uscc__in=chunk).delete()


def timed_import(data: bytes, name: str, **kwargs) -> tuple[float, object]:
    from apps.accounts.scoping import SYSTEM
    from apps.enterprises.imports import enterprises_import

    start = time.perf_counter()
    report = enterprises_import(data=data, filename=name, user=SYSTEM, **kwargs)
    return time.perf_counter() - start, report


def paper_filings(codes: list[str], n: int, profile: str = "") -> dict:
    """Import ``n`` paper filings of the latest period for enterprises of ``codes`` (with
    ``profile``: under cProfile, the statistics written to that path)."""
    import openpyxl
    from django.utils import timezone

    from apps.accounts.models import Role, User
    from apps.filings.models import Period
    from apps.filings.transfer import (
        LEADING_COLUMNS,
        TRAILING_COLUMNS,
        framework_indicators,
        indicator_header,
        submissions_import,
    )
    from apps.frameworks.models import Framework, FrameworkStatus, IndicatorKind

    today = timezone.localdate()
    period = Period.objects.filter(opens_on__lte=today, closes_on__gte=today).select_related("framework").first()
    if period is None:
        framework = Framework.objects.filter(status=FrameworkStatus.PUBLISHED).first()
        period = Period.objects.create(
            code="bench", name="导入基准测试期次", framework=framework,
            opens_on=today - datetime.timedelta(days=10), closes_on=today + datetime.timedelta(days=30),
        )  # fmt: skip
    from apps.enterprises.models import Enterprise
    from apps.filings.transfer import _modules_by_enterprise

    indicators = [i for i in framework_indicators(period.framework) if i.module_id is None]
    # Enterprises no industry module applies to: their sheet has the common indicators only.
    enterprises = list(Enterprise.objects.filter(uscc__in=codes).prefetch_related("key_industries"))
    modules = _modules_by_enterprise(period.framework, enterprises)
    codes = [e.uscc for e in enterprises if not modules[e.pk]]
    user = User.objects.filter(role=Role.MINISTRY, is_active=True).first() or User.objects.create_user(
        username="bench-ministry", password="x-bench-only", role=Role.MINISTRY
    )
    rng = random.Random(11)

    def answer(ind):
        if ind.kind == IndicatorKind.RUBRIC:
            return rng.randrange(0, 6)
        if ind.kind == IndicatorKind.CHECKLIST:
            items = [c.code for c in ind.checklist_items.all()]
            return ";".join(rng.sample(items, k=max(1, len(items) // 2))) if items else "无"
        if ind.kind == IndicatorKind.KPI:
            low = ind.min_value if ind.min_value is not None else 0
            high = ind.max_value if ind.max_value is not None else 100
            return round(rng.uniform(low, high), 1)
        return "否"

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append([*LEADING_COLUMNS, *(indicator_header(i) for i in indicators), *TRAILING_COLUMNS])
    n = min(n, len(codes))
    for code in codes[:n]:
        sheet.append([code, "", period.code, "", *(answer(i) for i in indicators), None, None])
    out = io.BytesIO()
    book.save(out)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    stages = {}
    start = time.perf_counter()
    report = submissions_import(data=out.getvalue(), filename="bench.xlsx", period=period, user=user,
                                on_progress=lambda stage, rows: stages.setdefault(stage, time.perf_counter()))
    seconds = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    out = {"filings": n, "seconds": seconds, "per_second": n / seconds, "created": report.created,
           "errors": len(report.errors), "first_errors": [e.message for e in report.errors[:3]],
           "read_and_check_seconds": stages.get("checked", start) - start,
           "write_and_commit_seconds": start + seconds - stages.get("checked", start)}
    from apps.filings.models import Submission

    ids = list(Submission.objects.filter(period=period, enterprise__uscc__in=codes[:n]).values_list("pk", flat=True))
    out.update(paper_floor(ids))
    out["ratio_to_schema_floor"] = seconds / out["schema_floor_seconds"]
    out["ratio_to_copy_floor"] = seconds / out["copy_floor_seconds"]
    return out


def paper_floor(submission_ids: list[int]) -> dict:
    """The floors of a paper-filing import, measured on the rows it wrote: PostgreSQL's COPY
    of the same submission, answer and event rows (as text, read back with COPY TO) into
    temporary tables without indexes or constraints (``copy_floor_seconds``), and into the
    real tables (every index, the foreign keys checked) after deleting them, rolled back
    (``schema_floor_seconds``); between them, into temporary tables with the real tables'
    indexes but no foreign keys (``indexes_floor_seconds``). Best of two."""
    from django.db import connection

    from apps.filings.models import Answer, Submission, SubmissionEvent

    tables = [(Submission._meta.db_table, "id"), (Answer._meta.db_table, "submission_id"),
              (SubmissionEvent._meta.db_table, "submission_id")]
    ids = ",".join(str(i) for i in submission_ids)
    dumps = {}
    with connection.cursor() as cursor:
        for table, key in tables:
            buffer = bytearray()
            with cursor.cursor.copy(f"COPY (SELECT * FROM {table} WHERE {key} IN ({ids})) TO STDOUT") as copy:
                for block in copy:
                    buffer += block
            dumps[table] = bytes(buffer)

    def timed(into_real: bool, indexes: bool = False) -> float:
        targets = {}

        def prepare(cursor) -> None:
            for table, _key in tables:
                if into_real:
                    targets[table] = table
                else:
                    targets[table] = f"floor_{table}"
                    including = " INCLUDING INDEXES" if indexes else ""
                    cursor.execute(f"CREATE TEMP TABLE floor_{table} (LIKE {table}{including}) ON COMMIT DROP")
            if into_real:
                for table, key in reversed(tables):
                    cursor.execute(f"DELETE FROM {table} WHERE {key} IN ({ids})")

        def write(cursor) -> None:
            for table, _key in tables:
                with cursor.cursor.copy(f"COPY {targets[table]} FROM STDIN") as copy:
                    copy.write(dumps[table])

        return rolled_back_seconds(write, prepare)

    return {"copy_floor_seconds": min(timed(False) for _ in range(2)),
            "indexes_floor_seconds": min(timed(False, indexes=True) for _ in range(2)),
            "schema_floor_seconds": min(timed(True) for _ in range(2)),
            "rows_written": {table: data.count(b"\n") for table, data in dumps.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--filings", type=int, default=2_000)
    parser.add_argument("--profile", default="", help="write a cProfile of the paper-filing import to this path")
    args = parser.parse_args()
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    from apps.frameworks.models import Framework
    from apps.reference.models import Region

    if not Region.objects.exists():
        call_command("load_reference", verbosity=0)
    if not Framework.objects.exists():
        call_command("load_framework", str(ROOT / "fixtures/frameworks/qmd-2026.1.json"), "--publish", verbosity=0)
    from apps.enterprises.models import ImportMode

    serial = int(time.time()) % 100_000 * 1000
    data, codes = make_file(args.rows, serial)
    broken, broken_codes = make_file(args.rows, serial + args.rows, broken_share=0.01)
    results: dict = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "rows": args.rows, "file_mb": round(len(data) / 1024 / 1024, 2),
    }  # fmt: skip
    try:
        results["copy_floor_seconds"] = min(copy_floor(data) for _ in range(3))
        seconds, report = timed_import(data, "bench-new.csv")
        assert report.applied and report.created == args.rows, report.summary()
        results["import_new"] = {"seconds": seconds, "rows_per_second": args.rows / seconds}
        results["schema_floor_seconds"] = min(schema_floor(codes) for _ in range(2))
        renamed = data.replace("有限公司".encode(), "股份有限公司".encode())
        seconds, report = timed_import(renamed, "bench-update.csv")
        assert report.applied and report.updated == args.rows, report.summary()
        results["import_update"] = {"seconds": seconds, "rows_per_second": args.rows / seconds}
        seconds, report = timed_import(broken, "bench-broken.csv", mode=ImportMode.ALL_OR_NOTHING)
        assert not report.applied and report.errors
        results["import_one_percent_bad"] = {
            "seconds": seconds, "rows_per_second": args.rows / seconds, "bad_lines": report.skipped,
        }  # fmt: skip
        if args.filings:
            results["paper_filings"] = paper_filings(codes, args.filings, args.profile)
    finally:
        delete_rows(codes)
        delete_rows(broken_codes)
    floor = results["copy_floor_seconds"]
    results["ratios_to_copy"] = {
        k: results[k]["seconds"] / floor for k in ("import_new", "import_update", "import_one_percent_bad")
    }
    results["ratio_new_to_schema_floor"] = results["import_new"]["seconds"] / results["schema_floor_seconds"]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / f"imports-{stamp}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
