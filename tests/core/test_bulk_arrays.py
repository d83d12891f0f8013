"""Binary COPY into and out of numpy arrays (apps.core.bulk, issue 13): values, order,
refusal of NULLs or odd widths instead of a shifted parse, and a write–read round trip."""

import numpy as np
import pytest
from django.db import connection

from apps.core import bulk

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's"),
]


def test_columns_come_back_typed_and_in_the_asked_order():
    out = bulk.copy_out_arrays(
        "SELECT g::bigint, (g * 1.5)::float8, g::smallint, " + bulk.fixed_text("(g * 7)::text", 6)
        + ", float4send(g::real) || float4send((g + 0.5)::real) FROM generate_series(1, 5000) AS g ORDER BY random()",
        [("id", "bigint"), ("x", "double precision"), ("small", "smallint"), ("code", ("text", 6)),
         ("pair", ("bytes", 8))],
        order_by="id",
    )
    assert out["id"].tolist() == list(range(1, 5001))
    assert np.allclose(out["x"], out["id"] * 1.5) and out["small"].dtype.itemsize == 2
    assert bulk.decode_codes(out["code"])[:3].tolist() == ["7", "14", "21"]
    pair = np.frombuffer(out["pair"].tobytes(), dtype=">f4").reshape(-1, 2)
    assert np.allclose(pair[:, 0], out["id"]) and np.allclose(pair[:, 1], out["id"] + 0.5)


def test_parameters_are_quoted_and_an_empty_result_gives_empty_arrays():
    out = bulk.copy_out_arrays("SELECT g::bigint FROM generate_series(1, 3) AS g WHERE %s = 'x''; DROP'",
                               [("id", "bigint")], ["nothing"])
    assert out["id"].tolist() == []


@pytest.mark.parametrize("value", ["NULL::bytea", "CASE WHEN g = 7 THEN '\\x00'::bytea ELSE '\\x0000'::bytea END"])
def test_a_null_or_a_value_of_another_width_is_refused(value):
    with pytest.raises(ValueError, match="not of the fixed width|not 2 bytes"):
        bulk.copy_out_arrays(f"SELECT g::bigint, {value} FROM generate_series(1, 10) AS g",
                             [("id", "bigint"), ("blob", ("bytes", 2))])


@pytest.mark.parametrize("value", [
    bulk.fixed_text("CASE WHEN g = 7 THEN 'é' ELSE 'a' END", 2),  # two bytes where one is padded to two
    # one byte more in one row and one less in another: the stream's length is right
    "CASE g WHEN 3 THEN 'abc' WHEN 7 THEN 'a' ELSE 'ab' END",
])
def test_rows_with_text_of_another_width_are_refused(value):
    # a field of text reads the rows layout; a wider value would shift every later row
    with pytest.raises(ValueError, match="not of the fixed width"):
        bulk.copy_out_arrays(f"SELECT g::bigint, {value} FROM generate_series(1, 10) AS g",
                             [("id", "bigint"), ("code", ("text", 2))])


def test_a_null_beside_text_is_refused():
    with pytest.raises(ValueError, match="not of the fixed width"):
        bulk.copy_out_arrays(
            "SELECT g::bigint, " + bulk.fixed_text("'a'", 1)
            + ", CASE WHEN g = 5 THEN NULL ELSE '\\x0000'::bytea END FROM generate_series(1, 10) AS g",
            [("id", "bigint"), ("code", ("text", 1)), ("blob", ("bytes", 2))])


def test_both_layouts_read_the_same_numbers():
    numbers = [("id", "bigint"), ("x", "double precision"), ("small", "smallint"), ("blob", ("bytes", 4))]
    sql = "SELECT g, g / 3.0, (g % 7), int4send(g * 11), {} FROM generate_series(1, 3000) AS g ORDER BY g DESC"
    columns = bulk.copy_out_arrays(sql.format("1").replace(", 1 FROM", " FROM"), numbers)
    rows = bulk.copy_out_arrays(sql.format(bulk.fixed_text("g::text", 4)), [*numbers, ("code", ("text", 4))])
    assert columns["id"].tolist() == list(range(3000, 0, -1))
    for name, _ in numbers:
        assert np.array_equal(columns[name], rows[name]), name
    assert bulk.decode_codes(rows["code"])[:2].tolist() == ["3000", "2999"]


def test_arrays_written_with_binary_copy_read_back_equal():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bulk_arrays (id bigint, part integer, value double precision, "
                       "level smallint, dims bytea)")
    n = 250_001  # more than one write batch
    rng = np.random.default_rng(1)
    dims = rng.random((n, 5)).astype("<f4")
    value = rng.normal(size=n)
    written = bulk.copy_in_arrays(
        "bulk_arrays", [("id", "bigint"), ("part", "integer"), ("value", "double precision"), ("level", "smallint"),
                        ("dims", ("float32le", 5))],
        {"id": np.arange(n), "part": 3, "value": value, "level": np.arange(n) % 5 + 1, "dims": dims},
    )
    assert written == n
    out = bulk.copy_out_arrays("SELECT id, part, value, level, dims FROM bulk_arrays",
                               [("id", "bigint"), ("part", "integer"), ("value", "double precision"),
                                ("level", "smallint"), ("dims", ("float32le", 5))], order_by="id")
    assert out["id"].tolist() == list(range(n)) and set(out["part"].tolist()) == {3}
    assert np.array_equal(out["value"], value) and np.array_equal(out["dims"], dims)
    assert np.array_equal(out["level"], np.arange(n) % 5 + 1)
