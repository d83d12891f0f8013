"""Bulk reads and writes that bypass per-row ORM objects where the row count is large.

On PostgreSQL rows go in with COPY; elsewhere (SQLite for the local run) with
bulk_create-style executemany. Both run inside the caller's transaction.
"""

from collections.abc import Iterable, Sequence

import numpy as np
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


def copy_out_arrays(sql: str, fields: Sequence[tuple[str, object]], params: Sequence = ()) -> dict[str, np.ndarray]:
    """Run ``COPY (sql) TO STDOUT (FORMAT BINARY)`` and return one numpy array per field
    (native byte order; text fields as fixed-width ``bytes_`` arrays with their padding).

    Every selected value must have the fixed width its spec gives (coalesce NULLs in the
    SQL, pad text with :func:`fixed_text`); a row that does not raises ``ValueError`` —
    never a silently shifted parse. PostgreSQL only."""
    import io

    import psycopg

    dtype = np.dtype([("_count", ">i2")] + [
        item for i, (name, spec) in enumerate(fields) for item in ((f"_len{i}", ">i4"), (name, _field_dtype(spec)[0]))
    ])
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        # COPY takes no bound parameters: render them client-side, quoted by psycopg
        statement = psycopg.ClientCursor(raw.connection).mogrify(sql, params) if params else sql
        with raw.copy(f"COPY ({statement}) TO STDOUT (FORMAT BINARY)") as copy:
            for block in copy:
                buffer.write(block)
    data = buffer.getbuffer()
    if len(data) < 21 or bytes(data[:11]) != COPY_SIGNATURE:
        raise ValueError("not a binary COPY stream")
    extension = int.from_bytes(data[15:19], "big")
    body = data[19 + extension : len(data) - 2]
    if len(body) % dtype.itemsize:
        raise ValueError("binary COPY rows are not of the expected width (a NULL or a value of another length)")
    rows = np.frombuffer(body, dtype=dtype)
    if len(rows) and (rows["_count"] != len(fields)).any():
        raise ValueError("binary COPY rows have an unexpected number of fields")
    for i, (name, spec) in enumerate(fields):
        width = _field_dtype(spec)[1]
        if len(rows) and (rows[f"_len{i}"] != width).any():
            raise ValueError(f"binary COPY field {name} is not {width} bytes in every row (NULL or another length)")
    out = {}
    for name, _spec in fields:
        column = rows[name]
        out[name] = column.astype(column.dtype.newbyteorder("=")) if column.dtype.byteorder == ">" else column.copy()
    return out  # the arrays are copies: the buffer is freed with this frame


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
