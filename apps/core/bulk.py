"""Bulk reads and writes that bypass per-row ORM objects where the row count is large.

On PostgreSQL rows go in with COPY; elsewhere (SQLite for the local run) with
bulk_create-style executemany. Both run inside the caller's transaction.
"""

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from django.db import connection

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value) -> str:
    if value is None or value != value:  # None or NaN
        return "\\N"
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    if isinstance(value, bytes | memoryview):
        return "\\\\x" + bytes(value).hex()  # bytea's hex input, its backslash escaped for COPY
    return str(value).translate(_COPY_ESCAPES)


def _copy_text(values, n: int) -> list[str]:
    """One column as the fields of PostgreSQL's text COPY format: NULL (None/NaN) as \\N,
    booleans as t/f, text escaped; a scalar is repeated ``n`` times. Whole columns at a
    time: integers by numpy, text checked for characters to escape in one scan of the
    joined column, anything else (dates, decimals) converted once per distinct value."""
    if not np.ndim(values):
        return [_copy_field(values)] * n
    if isinstance(values, list | tuple) and any(isinstance(v, bytes | memoryview) for v in values):
        return [_copy_field(v) for v in values]  # numpy would cut the trailing zero bytes
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array.astype(str).tolist()
    if array.dtype.kind == "b":
        return np.where(array, "t", "f").tolist()
    if array.dtype.kind == "U":
        array = array.astype(object)
    kind = pd.api.types.infer_dtype(array, skipna=False)
    if kind == "string":
        cells = array.tolist()
        joined = "".join(cells)
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            cells = [c.translate(_COPY_ESCAPES) for c in cells]
        return cells
    if kind == "integer":
        return array.astype(np.int64).astype(str).tolist()
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    texts = np.array([*(_copy_field(u) for u in uniques), "\\N"], dtype=object)
    return texts[codes].tolist()


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence] | Mapping[str, object]) -> int:
    """Insert ``rows`` into ``table``; returns the row count.

    ``rows`` are tuples in ``columns`` order, or — for many rows — a mapping of column name
    to a numpy array / sequence of values, or a scalar for every row (column-wise). On
    PostgreSQL the column-wise form is turned into COPY's text format a column at a time
    and sent in one piece: no Python call per row (psycopg's ``write_row`` costs ~20 µs a
    row of 20 fields)."""
    if isinstance(rows, Mapping):
        n = max((len(v) for v in rows.values() if np.ndim(v)), default=0)
        if connection.vendor == "postgresql":
            if n:
                fields = [_copy_text(rows[c], n) for c in columns]
                payload = "\n".join(map("\t".join, zip(*fields, strict=True))) + "\n"
                cols = ", ".join(connection.ops.quote_name(c) for c in columns)
                with connection.cursor() as cursor:
                    with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN") as copy:
                        copy.write(payload.encode("utf-8"))
            return n
        rows = zip(*(list(rows[c]) if np.ndim(rows[c]) else [rows[c]] * n for c in columns), strict=True)
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
            batch.append(_python_scalars(row))
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


def _python_scalars(row: Sequence) -> tuple:
    """``row`` with numpy scalars as Python ones, for executemany off PostgreSQL: sqlite3
    binds any object with the buffer protocol as a BLOB, numpy scalars included —
    np.int64(7) would go in as 8 raw bytes, which an INTEGER PRIMARY KEY refuses ("datatype
    mismatch") and any other column keeps as a blob equal to no integer. Column-wise rows
    come from numpy arrays (the enterprise import's history ids: every import that wrote
    failed on SQLite, the database of ``make run``)."""
    return tuple(v.item() if isinstance(v, np.generic) else v for v in row)


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
                           [_python_scalars((*row[1:], row[0])) for row in rows])
    return len(rows)


# --- binary COPY straight into and out of numpy arrays (PostgreSQL) ----------------------------
# PostgreSQL's binary COPY format: an 11-byte signature, int32 flags, int32 header-extension
# length (+ extension), then per row an int16 field count and per field an int32 byte length
# followed by the value in network byte order; an int16 -1 ends the stream. When every field
# of a row has a fixed width, the whole stream after the header is one numpy structured array:
# a million rows are parsed without a Python loop.

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"

# numpy dtype of each PostgreSQL binary representation the index engine reads or writes
_BINARY_TYPES = {
    "bigint": ">i8", "integer": ">i4", "smallint": ">i2", "double precision": ">f8", "real": ">f4",
    "boolean": "?",
}


def fixed_text(expression: str, width: int) -> str:
    """SQL for a code column as exactly ``width`` characters (blank-padded; NULL as blanks),
    so that it has a fixed width in a binary COPY. Codes are ASCII, so characters = bytes;
    a longer value is cut, which :func:`copy_out_arrays` callers avoid by passing the
    column's max_length."""
    return f"rpad(coalesce({expression}, ''), {int(width)})"


def _field_dtype(spec) -> tuple[str, object]:
    """(numpy dtype, byte width) of one field spec: a PostgreSQL type name of
    _BINARY_TYPES, ("text", width), ("bytes", width) or ("float32le", count)."""
    if isinstance(spec, str):
        dt = np.dtype(_BINARY_TYPES[spec])
        return dt, dt.itemsize
    kind, size = spec
    if kind in ("text", "bytes"):
        return np.dtype(f"S{size}"), size
    if kind == "float32le":  # a bytea of float32 little-endian (packed answers, dimension scores)
        return np.dtype(("<f4", (size,))), 4 * size
    raise ValueError(f"unknown binary field {spec!r}")


_SEND = {"bigint": "int8send", "integer": "int4send", "smallint": "int2send", "double precision": "float8send",
         "real": "float4send", "boolean": "boolsend"}
_CAST = {"bigint": "bigint", "integer": "integer", "smallint": "smallint", "double precision": "float8",
         "real": "float4", "boolean": "boolean"}


def copy_out_arrays(sql: str, fields: Sequence[tuple[str, object]], params: Sequence = (),
                    order_by: str | None = None) -> dict[str, np.ndarray]:
    """Read the rows of ``sql`` (a SELECT of exactly ``fields``, in order) as one numpy array
    per field, with one binary COPY and no Python loop over rows, in one of two layouts:

    - **Rows** (when a field is text): an ordinary binary COPY of the rows. Every field has
      a fixed width, so the stream after its header is one numpy structured array (a count,
      then a length and a value per field) read with ``frombuffer``. psycopg hands the rows
      over one message each (about 1 µs of Python a row).
    - **Columns** (numbers and bytes only): one row that holds each column as one ``bytea``
      — PostgreSQL concatenates each field's binary representation (``int8send``,
      ``float8send``, the raw bytea) over all rows with ``string_agg``, so the client gets a
      handful of large messages; each column must stay under PostgreSQL's 1 GB a value.

    Which is cheaper was measured (issue 13, docs/PERFORMANCE.md): the aggregate costs the
    server a few function calls per field and row, which a padded text field multiplies
    (the 200 k run's chunk reads, six code columns: 0.83 s columns, 0.43 s rows; the
    register 0.58 / 0.38 s), while for a few numbers per row the per-row messages cost more
    (the scores: 0.08 s columns, 0.12 s rows).

    Every selected value must have the fixed width its spec gives (coalesce NULLs in the
    SQL, pad text with :func:`fixed_text`); otherwise ``ValueError`` — never a silently
    shifted column. ``order_by`` names a field to sort the rows by (stable), as SQL's ORDER
    BY would. PostgreSQL only."""
    import psycopg
    from django.db import transaction

    rows = any(isinstance(spec, tuple) and spec[0] == "text" for _, spec in fields)
    statement, checks = (_rows_statement(sql, fields), 0) if rows else _columns_statement(sql, fields)
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compiling the query costs ~0.3 s and gains nothing on one pass
        cursor.execute("SET LOCAL jit = off")
        raw = cursor.cursor
        # COPY takes no bound parameters: render them client-side, quoted by psycopg
        if params:
            statement = psycopg.ClientCursor(raw.connection).mogrify(statement, params)
        buffer = bytearray()
        with raw.copy(f"COPY ({statement}) TO STDOUT (FORMAT BINARY)") as copy:
            for block in copy:
                buffer += block
    data = memoryview(buffer)
    if len(data) < 21 or bytes(data[:11]) != COPY_SIGNATURE:
        raise ValueError("not a binary COPY stream")
    start = 19 + int.from_bytes(data[15:19], "big")
    out = _parse_rows(data, start, fields) if rows else _parse_columns(data, start, fields, checks)
    if order_by is not None and len(out[order_by]):
        order = np.argsort(out[order_by], kind="stable")
        out = {k: v[order] for k, v in out.items()}
    return out  # copies: the buffer is freed with this frame


def _rows_statement(sql: str, fields) -> str:
    """The rows layout: each field cast to the type whose binary form its spec reads (a
    number of another type would come with another width and be refused, not misread)."""
    aliases = [f"c{i}" for i in range(len(fields))]
    select = ", ".join(
        f"q.{alias}::{_CAST[spec] if isinstance(spec, str) else 'text' if spec[0] == 'text' else 'bytea'}"
        for alias, (_, spec) in zip(aliases, fields, strict=True)
    )
    return f"SELECT {select} FROM ({sql}) AS q({', '.join(aliases)})"


def _parse_rows(data: memoryview, start: int, fields) -> dict[str, np.ndarray]:
    widths = [_field_dtype(spec) for _, spec in fields]
    dtype = np.dtype([("_count", ">i2")] + [
        item for i, ((name, _), (dt, _w)) in enumerate(zip(fields, widths, strict=True))
        for item in ((f"_len{i}", ">i4"), (name, dt))
    ])
    body = len(data) - start - 2  # the stream ends with an int16 -1
    refused = ValueError("values are NULL or not of the fixed width their column needs")
    if body < 0 or body % dtype.itemsize or int.from_bytes(data[-2:], "big", signed=True) != -1:
        raise refused
    table = np.frombuffer(data[start : start + body], dtype=dtype)
    # a NULL has length -1 and a value of another width shifts every later row: either way
    # some count or length below is not what the layout says
    if len(table) and ((table["_count"] != len(fields)).any()
                       or any((table[f"_len{i}"] != w).any() for i, (_, w) in enumerate(widths))):
        raise refused
    out = {}
    for name, _ in fields:
        column = table[name]
        out[name] = column.astype(column.dtype.newbyteorder("=")) if column.dtype.byteorder == ">" else column.copy()
    return out


def _columns_statement(sql: str, fields) -> tuple[str, int]:
    """The columns layout: one row of the count, a count of odd-width values per bytes
    field and one ``bytea`` per field (numbers cast to the type their spec reads, as in
    the rows layout)."""
    aliases = [f"c{i}" for i in range(len(fields))]
    aggregates, checks = [], []
    for alias, (_, spec) in zip(aliases, fields, strict=True):
        if isinstance(spec, str):
            aggregates.append(f"coalesce(string_agg({_SEND[spec]}(q.{alias}::{_CAST[spec]}), ''::bytea), ''::bytea)")
        else:  # bytea: its bytes; a NULL or another length is counted
            aggregates.append(f"coalesce(string_agg(q.{alias}, ''::bytea), ''::bytea)")
            checks.append(f"count(*) FILTER (WHERE octet_length(q.{alias}) IS DISTINCT FROM {_field_dtype(spec)[1]})")
    statement = (
        f"SELECT count(*), {', '.join(checks) + ', ' if checks else ''}{', '.join(aggregates)} "
        f"FROM ({sql}) AS q({', '.join(aliases)})"
    )
    return statement, len(checks)


def _parse_columns(data: memoryview, pos: int, fields, checks: int) -> dict[str, np.ndarray]:
    if int.from_bytes(data[pos : pos + 2], "big") != 1 + checks + len(fields):
        raise ValueError("binary COPY row has an unexpected number of fields")
    pos += 2
    values = []
    for _ in range(1 + checks + len(fields)):
        length = int.from_bytes(data[pos : pos + 4], "big", signed=True)
        pos += 4
        values.append(data[pos : pos + length])
        pos += length
    n = int.from_bytes(values[0], "big")
    bad = [int.from_bytes(v, "big") for v in values[1 : 1 + checks]]
    if any(bad):
        raise ValueError(f"{sum(bad)} values are NULL or not of the fixed width their column needs")
    out = {}
    for (name, spec), blob in zip(fields, values[1 + checks :], strict=True):
        dtype, width = _field_dtype(spec)
        if len(blob) != n * width:
            raise ValueError(f"binary COPY field {name} is not {width} bytes in every row (NULL or another length)")
        column = np.frombuffer(blob, dtype=dtype, count=n)
        out[name] = column.astype(column.dtype.newbyteorder("=")) if column.dtype.byteorder == ">" else column.copy()
    return out


def decode_codes(values: np.ndarray) -> np.ndarray:
    """Fixed-width padded code bytes (from :func:`copy_out_arrays`) as an object array of
    str, decoding each distinct code once (a few thousand codes for a million rows)."""
    uniques, inverse = np.unique(values, return_inverse=True)
    decoded = np.array([u.decode("utf-8").rstrip() for u in uniques.tolist()] + [""], dtype=object)
    return decoded[inverse.reshape(-1)] if len(values) else np.array([], dtype=object)


def copy_in_arrays(table: str, columns: Sequence[tuple[str, object]], arrays: dict[str, np.ndarray],
                   *, batch: int = 200_000) -> int:
    """Insert the rows given column-wise as numpy arrays into ``table`` with binary COPY
    (PostgreSQL): ``columns`` are (column name, spec) as for :func:`copy_out_arrays`, with
    the column's exact PostgreSQL type (binary COPY checks widths, not types). Scalars are
    broadcast. Written in batches of ``batch`` rows, so memory stays bounded. Returns the
    row count."""
    n = max((len(np.atleast_1d(a)) for a in arrays.values() if np.ndim(a)), default=0)
    dtype = np.dtype([("_count", ">i2")] + [
        item for i, (name, spec) in enumerate(columns) for item in ((f"_len{i}", ">i4"), (name, _field_dtype(spec)[0]))
    ])
    cols = ", ".join(connection.ops.quote_name(c) for c, _ in columns)
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(COPY_SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00")
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            rows = np.empty(stop - start, dtype=dtype)
            rows["_count"] = len(columns)
            for i, (name, spec) in enumerate(columns):
                rows[f"_len{i}"] = _field_dtype(spec)[1]
                value = arrays[name]
                rows[name] = value[start:stop] if np.ndim(value) and len(value) == n else value
            copy.write(rows.tobytes())
        copy.write(b"\xff\xff")
    return n
