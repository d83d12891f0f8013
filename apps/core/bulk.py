"""Bulk reads and writes that bypass per-row ORM objects where the row count is large.

On PostgreSQL rows go in with COPY; elsewhere (SQLite for the local run) with
bulk_create-style executemany. Both run inside the caller's transaction.
"""

from collections.abc import Iterable, Sequence

from django.db import connection


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns the row count."""
    count = 0
    if connection.vendor == "postgresql":
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    placeholders = ", ".join(["%s"] * len(columns))
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"INSERT INTO {connection.ops.quote_name(table)} ({cols}) VALUES ({placeholders})"
    batch: list[Sequence] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def fetch_rows(sql: str, params: Sequence = (), *, chunk: int = 20000):
    """Yield the rows of a query in chunks, with a server-side cursor on PostgreSQL."""
    if connection.vendor == "postgresql":
        with connection.connection.cursor(name="portal_bulk_fetch") as cursor:
            cursor.itersize = chunk
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk):
                yield rows
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield rows


def update_rows(table: str, key: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """UPDATE ``columns`` of the rows of ``table`` identified by ``key``: each row a tuple of
    (key value, *column values). On PostgreSQL one statement from a temporary table filled
    with COPY (Django's bulk_update builds a CASE per column and row: quadratic); elsewhere
    executemany. Returns the number of rows given."""
    rows = list(rows)
    if not rows:
        return 0
    q = connection.ops.quote_name
    if connection.vendor == "postgresql":
        staging = f"{table}_update_staging"
        cols = ", ".join(q(c) for c in (key, *columns))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {q(staging)}")
            cursor.execute(f"CREATE TEMPORARY TABLE {q(staging)} AS SELECT {cols} FROM {q(table)} WHERE false")  # noqa: S608
        copy_rows(staging, (key, *columns), rows)
        assignments = ", ".join(f"{q(c)} = s.{q(c)}" for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {q(table)} SET {assignments} FROM {q(staging)} AS s WHERE {q(table)}.{q(key)} = s.{q(key)}")  # noqa: S608
            cursor.execute(f"DROP TABLE {q(staging)}")
        return len(rows)
    assignments = ", ".join(f"{q(c)} = %s" for c in columns)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {q(table)} SET {assignments} WHERE {q(key)} = %s",  # noqa: S608
                           [(*row[1:], row[0]) for row in rows])
    return len(rows)
