"""Enterprise import at file scale: the whole file validated as columns, then written set-based.

:func:`apps.enterprises.imports.enterprises_import` reads the file and hands its table here.

Validating (:func:`flag_rows`, pandas/numpy, no ORM inside)
    Every rule of the import is checked on whole columns: the USCC's characters and check
    character (GB 32100-2015, as python-stdnum computes it) as a numpy array, region and
    industry codes as joins against the reference tables, key industries, numbers, text
    lengths, e-mail addresses, duplicates within the file and the user's jurisdiction. The
    rules are conservative: a row that passes them is valid. A row that does not pass is
    checked again, with the other flagged rows only, by
    :class:`~apps.enterprises.resources.EnterpriseResource` (the django-import-export
    resource the admin uses), which says what is wrong in the very words the import has
    always used; a flagged row the resource accepts is imported like any other. Bad rows are
    usually few, so the per-row work stays small while every message stays the same.

Planning (:func:`plan_rows`)
    The valid rows are matched by USCC against the stored rows (read by one query in
    :func:`load_lookups`) and sorted into new, changed and unchanged by comparing columns;
    key industries are compared as one integer per enterprise (a bit per key industry).
    No dict per row: everything from reading to the COPY payload is a column.

Writing (:func:`write_rows`, one transaction, the caller's)
    New enterprises get their ids from the table's sequence and go in with COPY; changed
    ones are copied into a temporary staging table and updated with one ``UPDATE … FROM``;
    key industries are inserted and deleted as sets. History rows (django-simple-history)
    are written the same way, exactly as the per-row path wrote them: a "+" row for a new
    enterprise and a "~" row when its key industries are set, a "~" row for a changed
    enterprise (its key industries as they were) and one more per removal and addition of
    key industries, each with its snapshot of key industries. Rows whose values and key
    industries equal the stored ones are left alone (no history row).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone

from apps.accounts.scoping import jurisdiction_of, recorded_user
from apps.core.bulk import copy_rows
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel
from apps.reference.size import classify_sizes

from .models import Enterprise
from .resources import (
    ADDRESS,
    CONTACT_EMAIL,
    CONTACT_NAME,
    CONTACT_PHONE,
    COUNTY,
    EMPLOYEES,
    INDUSTRY,
    KEY_INDUSTRIES,
    NAME,
    REVENUE,
    USCC,
    EmployeesWidget,
    KeyIndustriesWidget,
    RevenueWidget,
)
from .validators import normalise_uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
_CHAR_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _CHAR_INDEX[ord(_c)] = _i

_MAX_LENGTH = {NAME: 200, ADDRESS: 300, CONTACT_NAME: 50, CONTACT_PHONE: 30, CONTACT_EMAIL: 254}
# A strict subset of what Django's EmailValidator accepts: a dot-atom of common characters
# and a domain of LDH labels with an alphabetic top-level label.
_EMAIL = r"[A-Za-z0-9_+\-]+(\.[A-Za-z0-9_+\-]+)*@([A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
# ASCII digits only ("\\d" would take any script's digits); anything else goes to the widget.
_EMPLOYEES = r"[0-9]{1,9}(\.0*)?"
_REVENUE = r"[0-9]{1,12}(\.[0-9]{1,2})?"
_QUERY_CHUNK = 5000


def _chunks(values: list, size: int = _QUERY_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- what the database knows, read once per import ----------------------------------------


@dataclass
class Lookups:
    """Reference data and the file's existing enterprises, as columns (no model objects).

    A reference table is an index of its codes and arrays of its values, each array one
    element longer than the index: the last element answers for a code that is not found
    (see :func:`_at`)."""

    #: county codes; region_arrays: id, ok (placeable, active, in the user's jurisdiction),
    #: province_code, prefecture_code
    regions: pd.Index
    region_arrays: dict[str, np.ndarray]
    #: industry codes; industry_arrays: id, ok (a usable level, active), division_code
    industries: pd.Index
    industry_arrays: dict[str, np.ndarray]
    #: key industry code or name, case-folded -> key industry id (its code)
    key_industries: dict[str, int]
    #: key industry id -> its bit in a set of key industries held as one integer
    key_bits: dict[int, int]
    #: the stored values of the file's existing enterprises (every column, as Python
    #: values), indexed by USCC, plus revenue_cents and key_set (their key industries' bits)
    existing: pd.DataFrame
    #: USCCs of existing enterprises the user may change (None: all of them)
    editable: set[str] | None
    #: the key-industry links of the existing enterprises: id, enterprise_id, keyindustry_id
    key_links: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_LINK_COLUMNS))


_LINK_COLUMNS = ["id", "enterprise_id", "keyindustry_id"]


def _reference(keys: list[str], columns: dict[str, list], missing: dict[str, object]) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """An index of ``keys`` and one array per column, each ending with its ``missing`` value."""
    arrays = {}
    for name, values in columns.items():
        arrays[name] = np.array([*values, missing[name]], dtype=bool if isinstance(missing[name], bool) else object)
    return pd.Index(keys, dtype=object), arrays


def _at(index: pd.Index, values) -> np.ndarray:
    """Positions of ``values`` in ``index``; a value not found points at the arrays' last element."""
    positions = index.get_indexer(np.asarray(values, dtype=object))
    positions[positions < 0] = len(index)
    return positions


def load_lookups(*, usccs, counties, user) -> Lookups:
    """Read what validating and writing a file needs, in a few set-based queries
    (``values_list`` and one array parameter, no model instances)."""
    jurisdiction = jurisdiction_of(user)
    wanted = [c for c in pd.unique(np.asarray(counties, dtype=object)) if c]
    found: list[tuple] = []
    for chunk in _chunks(sorted(wanted)):
        found += Region.objects.filter(code__in=chunk).values_list(
            "code", "pk", "level", "is_county_equivalent", "is_active", "province_code", "prefecture_code"
        )
    regions = _reference(
        [r[0] for r in found],
        {
            "id": [r[1] for r in found],
            # placeable (a county, or a city without counties), active, and the user's
            "ok": [
                (level == RegionLevel.COUNTY or equivalent) and active and jurisdiction.covers_region_code(code)
                for code, _pk, level, equivalent, active, _p, _f in found
            ],
            "province_code": [r[5] for r in found],
            "prefecture_code": [r[6] for r in found],
        },
        {"id": None, "ok": False, "province_code": "", "prefecture_code": ""},
    )
    usable = (IndustryLevel.DIVISION, IndustryLevel.GROUP)
    rows = list(Industry.objects.values_list("code", "pk", "level", "is_active", "division_code"))
    industries = _reference(
        [r[0] for r in rows],
        {
            "id": [r[1] for r in rows],
            "ok": [level in usable and active for _c, _pk, level, active, _d in rows],
            "division_code": [division or code[:2] for code, _pk, _l, _a, division in rows],
        },
        {"id": None, "ok": False, "division_code": ""},
    )
    key_industries: dict[str, int] = {}
    key_bits: dict[int, int] = {}
    for code, name, pk in KeyIndustry.objects.order_by("pk").values_list("code", "name", "pk"):
        key_industries[code.casefold()] = pk
        key_industries[name.casefold()] = pk
        key_bits[pk] = len(key_bits)

    # Only a valid code can name an existing enterprise (a row with another code is
    # flagged, and the resource looks for itself).
    usccs = np.asarray(usccs, dtype=object)
    existing = _rows_by_uscc(sorted(set(usccs[uscc_valid(usccs)].tolist())))
    editable: set[str] | None = None
    if not jurisdiction.everything:
        editable = set()
        for chunk in _chunks(existing.index.tolist()):
            editable.update(Enterprise.objects.editable_by(user).filter(uscc__in=chunk).values_list("uscc", flat=True))
    links = _links_of(existing["id"].tolist())
    existing["key_set"] = _key_sets(existing["id"], links, key_bits)
    return Lookups(
        *regions, *industries, key_industries=key_industries, key_bits=key_bits, existing=existing,
        editable=editable, key_links=links,
    )  # fmt: skip


def _rows_by_uscc(codes: list[str]) -> pd.DataFrame:
    """The stored values of the enterprises with these (valid) codes, one column per model column
    (Python values: an integer column with NULLs stays integers), indexed by USCC. On
    PostgreSQL one query with the codes as one array parameter: 20,000 separate parameters
    cost more to send and parse than the look-up itself."""
    names = [f.attname for f in Enterprise._meta.concrete_fields]
    if connection.vendor != "postgresql":
        rows = []
        for chunk in _chunks(codes, 500):
            rows += Enterprise.objects.filter(uscc__in=chunk).values_list(*names)
        rows = [(*row, int(row[names.index("revenue")] * 100)) for row in rows]
    else:
        # Time stamps as text: they are only written back (history, staging), and parsing
        # 40,000 of them into datetimes costs more than the query.
        columns = ", ".join(
            f"{connection.ops.quote_name(f.column)}::text" if f.get_internal_type() == "DateTimeField"
            else connection.ops.quote_name(f.column)
            for f in Enterprise._meta.concrete_fields
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns}, (revenue * 100)::bigint FROM {connection.ops.quote_name(Enterprise._meta.db_table)} "  # noqa: S608
                "WHERE uscc = ANY(string_to_array(%s, ','))",
                # valid codes have no comma: one text parameter, not an array of 20,000
                [",".join(codes)],
            )
            rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=[*names, "revenue_cents"], dtype=object)
    return frame.set_index(frame["uscc"].to_numpy(dtype=object))


def _links_of(ids: list[int]) -> pd.DataFrame:
    """The key-industry links (through rows) of these enterprises, in id order."""
    through = Enterprise.key_industries.through
    if connection.vendor == "postgresql":
        # One array parameter, not 20,000 (see _rows_by_uscc).
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, enterprise_id, keyindustry_id FROM {connection.ops.quote_name(through._meta.db_table)} "  # noqa: S608
                "WHERE enterprise_id = ANY(%s) ORDER BY id",
                [ids],
            )
            links = cursor.fetchall()
    else:
        links = []
        for chunk in _chunks(ids, 500):
            links += through.objects.filter(enterprise_id__in=chunk).values_list(*_LINK_COLUMNS).order_by("id")
    # key industries are keyed by their code (a string)
    frame = pd.DataFrame(links, columns=_LINK_COLUMNS, dtype=object)
    return frame.astype({"id": np.int64, "enterprise_id": np.int64})


def _key_sets(enterprise_ids: pd.Series, links: pd.DataFrame, key_bits: dict[int, int]) -> np.ndarray:
    """Each enterprise's set of key industries as one integer (a bit per key industry)."""
    dtype = np.int64 if len(key_bits) < 63 else object  # the national list is short; Python ints beyond
    bit_of = pd.Series({pk: 1 << bit for pk, bit in key_bits.items()}, dtype=dtype)
    bits = pd.Series(bit_of.reindex(links["keyindustry_id"].to_numpy()).to_numpy(), dtype=dtype)
    sets = bits.groupby(links["enterprise_id"].to_numpy()).sum()
    return sets.reindex(enterprise_ids.to_numpy(dtype=np.int64), fill_value=0).to_numpy()


# --- validating the columns -----------------------------------------------------------------


def _cells(column) -> list[str]:
    """A column's cells as a list of str (NaN/None as "")."""
    return ["" if c is None or c != c else str(c) for c in column] if column.hasnans else column.tolist()


def _fullmatch(cells: list[str], pattern: str) -> np.ndarray:
    """Whether each cell matches ``pattern`` in full. The column is first matched as a
    whole (cells joined by NUL, one regular-expression scan in C); only a column with a
    cell that does not match is matched cell by cell."""
    joined = "\x00".join(cells)
    if cells and joined.count("\x00") == len(cells) - 1 and re.fullmatch(f"(?:(?:{pattern})\x00)*(?:{pattern})", joined):
        return np.ones(len(cells), dtype=bool)
    match = re.compile(pattern).fullmatch
    return np.fromiter((match(c) is not None for c in cells), dtype=bool, count=len(cells))


def _contains(cells: list[str], text: str) -> np.ndarray:
    """Whether each cell contains ``text`` (one scan of the joined column first)."""
    if text not in "".join(cells):
        return np.zeros(len(cells), dtype=bool)
    return np.fromiter((text in c for c in cells), dtype=bool, count=len(cells))


def _replace_all(cells: list[str], old: str, new: str = "") -> list[str]:
    return [c.replace(old, new) for c in cells] if old in "".join(cells) else cells


def uscc_valid(codes) -> np.ndarray:
    """Whether each (normalised) code is a valid USCC: 18 characters of the code alphabet,
    the first eight digits, and the right check character — computed on the whole column
    (the code points as an n × 18 integer array)."""
    values = np.asarray(codes, dtype=object)
    ok = np.fromiter(map(len, values.tolist()), dtype=np.int64, count=len(values)) == 18
    result = np.zeros(len(values), dtype=bool)
    if not ok.any():
        return result
    points = np.array(values[ok].tolist(), dtype="<U18").view(np.uint32).reshape(-1, 18)
    index = np.where(points < 256, _CHAR_INDEX[np.minimum(points, 255)], -1)
    good = (index >= 0).all(axis=1) & (index[:, :8] < 10).all(axis=1)
    check = (31 - (np.where(index[:, :17] >= 0, index[:, :17], 0) @ USCC_WEIGHTS) % 31) % 31
    good &= index[:, 17] == check
    result[ok] = good
    return result


def normalised_usccs(column) -> np.ndarray:
    """The column's codes as the model stores them (python-stdnum's compact form), as an
    object array; the usual 18 upper-case characters pass as they are."""
    cells = [c.strip() for c in _cells(pd.Series(column, dtype=object))]
    usual = _fullmatch(cells, "[0-9A-Z]{18}")
    codes = np.array(cells, dtype=object)
    if not usual.all():
        codes[~usual] = [normalise_uscc(c) for c in codes[~usual]]
    return codes


def _number_text(cells: list[str]) -> list[str]:
    # as the widgets read numbers: thousands separators and spaces dropped
    return _replace_all(_replace_all(_replace_all(cells, ","), "，"), " ")


def key_industry_ids(text: str, key_industries: dict[str, int]) -> tuple[int, ...] | None:
    """The key industries named in a cell, in order and without repeats; None when one is unknown."""
    found: list[int] = []
    for part in (p.strip() for p in KeyIndustriesWidget.SPLIT.split(text or "")):
        if not part:
            continue
        pk = key_industries.get(part.casefold())
        if pk is None:
            return None
        if pk not in found:
            found.append(pk)
    return tuple(found)


def industry_codes(cells: list[str]) -> list[str]:
    """The industry codes as the import reads them ("C39" as printed in some forms is 39)."""
    cells = [c.strip().upper() for c in cells]
    if "C" in "".join(cells):
        prefixed = re.compile("C[0-9]+").fullmatch
        cells = [c[1:] if prefixed(c) else c for c in cells]
    return cells


#: parsed values of a row: what :func:`flag_rows` returns for every row, :func:`parse_row` for one
PARSED = ("uscc", "region_id", "province_code", "prefecture_code", "county_code", "industry_id", "division_code",
          "employees", "revenue_cents", "keys", "key_set")  # fmt: skip


def flag_rows(frame: pd.DataFrame, lookups: Lookups) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Check every rule of the import on whole columns.

    ``frame`` holds the file's cells as stripped strings under the canonical column names
    (optional columns may be absent). Returns (flagged, parsed): ``flagged`` marks the rows
    that break or might break a rule; ``parsed`` holds, as one array per name of
    :data:`PARSED`, the values to write for the other rows (revenue in hundredths of 万元;
    ``keys`` a tuple of key industry ids, or None when the file has no such column;
    ``key_set`` the same as one integer, see :attr:`Lookups.key_bits`).
    """
    n = len(frame)
    flagged = np.zeros(n, dtype=bool)
    text = {c: _cells(frame[c]) for c in frame.columns}

    uscc = normalised_usccs(text[USCC])
    flagged |= ~uscc_valid(uscc)
    flagged |= pd.Series(uscc).duplicated(keep=False).to_numpy() & (uscc != "")

    for column, limit in _MAX_LENGTH.items():
        if column in text:
            flagged |= np.fromiter(map(len, text[column]), dtype=np.int64, count=n) > limit
    for column in (NAME, CONTACT_NAME, CONTACT_PHONE):  # cells arrive stripped (read_frame)
        flagged |= np.array(text[column], dtype=object) == ""
    for column in text.values():
        flagged |= _contains(column, "\x00")
    if CONTACT_EMAIL in text:
        email = text[CONTACT_EMAIL]
        flagged |= ~((np.array(email, dtype=object) == "") | _fullmatch(email, _EMAIL))

    county = np.array(text[COUNTY], dtype=object)
    region = _at(lookups.regions, county)
    flagged |= ~lookups.region_arrays["ok"][region].astype(bool)
    industry = _at(lookups.industries, industry_codes(text[INDUSTRY]))
    flagged |= ~lookups.industry_arrays["ok"][industry].astype(bool)

    if KEY_INDUSTRIES in text:
        # A handful of distinct cells ("", "电子制造", …): each is read once.
        codes, uniques = pd.factorize(np.array(text[KEY_INDUSTRIES], dtype=object))
        resolved = np.empty(len(uniques), dtype=object)
        resolved[:] = [key_industry_ids(u, lookups.key_industries) for u in uniques]
        keys = resolved[codes]
        flagged |= np.array([r is None for r in resolved], dtype=bool)[codes]
        key_sets = np.array([_key_set(r, lookups.key_bits) for r in resolved], dtype=object)[codes]
    else:
        keys = np.full(n, None, dtype=object)
        key_sets = np.zeros(n, dtype=object)

    employees = _number_text(text[EMPLOYEES])
    employees_ok = _fullmatch(employees, _EMPLOYEES)
    revenue = _number_text(text[REVENUE])
    revenue_ok = _fullmatch(revenue, _REVENUE)
    flagged |= ~employees_ok | ~revenue_ok

    # An existing enterprise outside the user's jurisdiction may not be changed.
    if lookups.editable is not None:
        exists = lookups.existing.index.get_indexer(uscc) >= 0
        flagged |= exists & ~pd.Series(uscc).isin(lookups.editable).to_numpy(dtype=bool)

    # The patterns above leave whole numbers of at most 9 digits and amounts of at most
    # 12 + 2 digits: exact in a float64, so the hundredths round exactly.
    employees_value = pd.to_numeric(np.where(employees_ok, np.array(employees, dtype=object), "0")).astype(np.float64)
    revenue_value = pd.to_numeric(np.where(revenue_ok, np.array(revenue, dtype=object), "0")).astype(np.float64)
    parsed = {
        "uscc": uscc,
        "region_id": lookups.region_arrays["id"][region],
        "province_code": lookups.region_arrays["province_code"][region],
        "prefecture_code": lookups.region_arrays["prefecture_code"][region],
        "county_code": county,
        "industry_id": lookups.industry_arrays["id"][industry],
        "division_code": lookups.industry_arrays["division_code"][industry],
        "employees": employees_value.astype(np.int64),
        "revenue_cents": np.rint(revenue_value * 100).astype(np.int64),
        "keys": keys,
        "key_set": key_sets,
    }
    return flagged, parsed


def parse_row(values: dict[str, str], lookups: Lookups) -> dict:
    """The values to write (as in :func:`flag_rows`) for one row that the resource has
    accepted — a flagged row that is valid after all — read by the resource's own widgets."""
    keys = key_industry_ids(values[KEY_INDUSTRIES], lookups.key_industries) if KEY_INDUSTRIES in values else None
    region = _at(lookups.regions, [values[COUNTY]])[0]
    industry = _at(lookups.industries, industry_codes([values[INDUSTRY]]))[0]
    return {
        "uscc": normalise_uscc(values[USCC].strip()),
        "region_id": lookups.region_arrays["id"][region],
        "province_code": lookups.region_arrays["province_code"][region],
        "prefecture_code": lookups.region_arrays["prefecture_code"][region],
        "county_code": values[COUNTY],
        "industry_id": lookups.industry_arrays["id"][industry],
        "division_code": lookups.industry_arrays["division_code"][industry],
        "employees": EmployeesWidget().clean(values[EMPLOYEES]),
        "revenue_cents": int(RevenueWidget().clean(values[REVENUE]) * 100),
        "keys": keys,
        "key_set": _key_set(keys, lookups.key_bits),
    }


# --- planning ------------------------------------------------------------------------------------

_COMPARED = ("name", "region_id", "industry_id", "employees", "revenue_cents", "address", "contact_name",
             "contact_phone", "contact_email")  # fmt: skip


@dataclass
class WritePlan:
    """What a file changes, as columns: enterprises to create and to update (every column
    of the table as it will be, plus ``keys``: the key industry ids to hold, or None to
    leave them), and how many rows are unchanged."""

    new: pd.DataFrame = field(default_factory=pd.DataFrame)
    changed: pd.DataFrame = field(default_factory=pd.DataFrame)
    unchanged: int = 0
    #: the key-industry links the changed enterprises have now
    old_links: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_LINK_COLUMNS))


def _cents_text(cents: np.ndarray) -> np.ndarray:
    """Hundredths as the decimal text PostgreSQL reads exactly (12345 -> "123.45")."""
    cents = np.asarray(cents, dtype=np.int64)
    if not len(cents):
        return np.zeros(0, dtype=object)
    return np.char.add(np.char.add((cents // 100).astype(str), "."), np.char.zfill((cents % 100).astype(str), 2)).astype(object)


def plan_rows(frame: pd.DataFrame, parsed: dict[str, np.ndarray], lookups: Lookups, *, has_address: bool,
              has_email: bool) -> WritePlan:  # fmt: skip
    """Sort valid rows into new, changed and unchanged enterprises by comparing columns.

    ``frame`` holds the text cells of the valid rows, ``parsed`` their parsed values (see
    :func:`flag_rows`), row for row. Existing enterprises are matched by USCC against the
    rows :func:`load_lookups` read; fields the import does not set keep their values."""
    incoming = pd.DataFrame({name: parsed[name] for name in PARSED if name not in ("keys", "key_set")})
    incoming["keys"] = pd.Series(parsed["keys"], dtype=object)
    incoming["key_set"] = pd.Series(parsed["key_set"], dtype=object)
    for column, name in ((NAME, "name"), (CONTACT_NAME, "contact_name"), (CONTACT_PHONE, "contact_phone"),
                         (ADDRESS, "address"), (CONTACT_EMAIL, "contact_email")):  # fmt: skip
        if column in frame:
            incoming[name] = frame[column].to_numpy(dtype=object)
    incoming["size_class"] = classify_sizes(employees=incoming["employees"].to_numpy(), revenue_cents=incoming["revenue_cents"].to_numpy())
    incoming["revenue"] = _cents_text(incoming["revenue_cents"].to_numpy())
    # an import never changes the confirmation of a self-registered enterprise; a new one
    # comes from the authority and needs none
    imported = [c for c in incoming.columns if c not in ("keys", "key_set", "revenue_cents")]

    position = lookups.existing.index.get_indexer(incoming["uscc"].to_numpy(dtype=object))
    is_new = position < 0

    new = incoming[is_new].reset_index(drop=True)
    for f in Enterprise._meta.concrete_fields:
        if f.attname not in new and f.attname not in ("id", "created_at", "updated_at"):
            new[f.attname] = f.get_default()

    before = lookups.existing.iloc[position[~is_new]].reset_index(drop=True)
    mine = incoming[~is_new].reset_index(drop=True)
    after = before.copy()
    for name in imported:
        after[name] = mine[name].to_numpy(dtype=object)
    after["revenue_cents"] = mine["revenue_cents"].to_numpy(dtype=object)
    differs = np.zeros(len(after), dtype=bool)
    for name in _COMPARED:
        differs |= after[name].to_numpy(dtype=object) != before[name].to_numpy(dtype=object)
    given = mine["keys"].notna().to_numpy()
    differs |= given & (mine["key_set"].to_numpy(dtype=object) != before["key_set"].to_numpy(dtype=object))
    changed = after[differs].reset_index(drop=True)
    changed["keys"] = mine["keys"][differs].to_numpy(dtype=object)
    links = lookups.key_links
    old_links = links[links["enterprise_id"].isin(changed["id"])]
    return WritePlan(new=new, changed=changed, unchanged=int((~differs).sum()), old_links=old_links)


def _key_set(keys, key_bits: dict[int, int]):
    return sum(1 << key_bits[k] for k in keys) if keys is not None else 0


# --- writing -------------------------------------------------------------------------------------


def allocate_ids(model, count: int) -> np.ndarray:
    """``count`` new primary keys for ``model``'s table, taken from its sequence."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array value, not 20,000 one-value rows.
            cursor.execute(
                "SELECT array_agg(nextval(pg_get_serial_sequence(%s, %s))) FROM generate_series(1, %s)", [table, column, count]
            )
            return np.array(cursor.fetchone()[0], dtype=np.int64)
        # SQLite (local runs): one writer at a time, and this runs in the import's transaction.
        cursor.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")  # noqa: S608 - names from _meta
        start = cursor.fetchone()[0] + 1
    return np.arange(start, start + count, dtype=np.int64)


def _enterprise_columns() -> tuple[str, ...]:
    """Every column of the enterprise table (attname = column for all its fields)."""
    return tuple(f.attname for f in Enterprise._meta.concrete_fields)


def _columns(frame: pd.DataFrame, names) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy(dtype=object) for name in names}


def _explode(frame: pd.DataFrame) -> pd.DataFrame:
    """(enterprise_id, keyindustry_id) for each key industry in ``frame``'s ``keys``, in order."""
    keys = frame["keys"].to_numpy(dtype=object)
    given = np.array([k is not None for k in keys], dtype=bool)
    lengths = np.array([len(k) if k is not None else 0 for k in keys], dtype=np.int64)
    flat = [k for ks in keys[given] for k in ks]  # a key industry or two on some rows
    return pd.DataFrame(
        {
            "enterprise_id": np.repeat(frame["id"].to_numpy(dtype=np.int64), lengths),
            "keyindustry_id": np.array(flat, dtype=object),
        }
    )


def _pairs(links: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([links["enterprise_id"].to_numpy(np.int64), links["keyindustry_id"].to_numpy(object)])


def write_rows(
    *, plan: WritePlan, user, change_reason: str, on_progress: Callable[[str, int], None] | None = None
) -> None:
    """Write a plan in the caller's transaction: enterprises, key industries and history,
    each as one COPY (or one UPDATE from a COPY-filled staging table) of whole columns."""
    now = timezone.now()
    history_model = Enterprise.history.model
    through = Enterprise.key_industries.through
    m2m_history_model = django_apps.get_model("enterprises", f"{history_model.__name__}_key_industries")
    user_id = getattr(recorded_user(user), "pk", None)  # none for the system actor
    columns = _enterprise_columns()
    new, changed = plan.new.copy(), plan.changed.copy()
    new["id"] = allocate_ids(Enterprise, len(new))
    # The rows as written, as object arrays (the time stamps kept out of the frames, where
    # they would become datetime64 columns that hand out a Timestamp per row).
    stamps = {"created_at": np.full(len(new), now, dtype=object), "updated_at": np.full(len(new), now, dtype=object)}
    new_columns = {c: stamps[c] if c in stamps else new[c].to_numpy(dtype=object) for c in columns}
    stamps = {"updated_at": np.full(len(changed), now, dtype=object)}
    changed_columns = {c: stamps[c] if c in stamps else changed[c].to_numpy(dtype=object) for c in columns}

    # Enterprises: new ones straight in, changed ones through a staging table.
    copy_rows(Enterprise._meta.db_table, columns, new_columns)
    if on_progress:
        on_progress("written", len(new))
    _update_from_staging(changed_columns)
    if on_progress:
        on_progress("written", len(new) + len(changed))

    # Key industries: the links to add and remove, as sets of (enterprise, key industry).
    old = plan.old_links
    given = changed[changed["keys"].notna()]
    wanted = pd.concat([_explode(new), _explode(given)], ignore_index=True)
    old_given = old[old["enterprise_id"].isin(given["id"])]
    removed = old_given[~_pairs(old_given).isin(_pairs(wanted))]
    kept = old[~old["id"].isin(removed["id"])]
    added = wanted[~_pairs(wanted).isin(_pairs(old))].copy()
    added.insert(0, "id", allocate_ids(through, len(added)))
    for chunk in _chunks(removed["id"].tolist()):
        through.objects.filter(pk__in=chunk).delete()
    copy_rows(through._meta.db_table, _LINK_COLUMNS, _columns(added, _LINK_COLUMNS))

    # History, as the per-row saves and m2m signals wrote it: a "+" row for a new
    # enterprise and a "~" row when its key industries are set; a "~" row for a changed
    # enterprise (its key industries as they were), one more after removals and one after
    # additions of key industries. Each row one microsecond after the one before it.
    after = {c: np.concatenate([new_columns[c], changed_columns[c]]) for c in columns}
    position = pd.Series(np.arange(len(after["id"])), index=after["id"].astype(np.int64))
    added_to = added["enterprise_id"].unique()
    removed_from = removed["enterprise_id"].unique()
    changed_ids = changed["id"].to_numpy(np.int64)
    steps = [  # (enterprise ids, type, microseconds, the links the row's snapshot holds)
        (new["id"].to_numpy(np.int64), "+", 0, None),
        (added_to[np.isin(added_to, new["id"])], "~", 1, added),
        (changed_ids, "~", 0, old),
        (changed_ids[np.isin(changed_ids, removed_from)], "~", 1, kept),
    ]
    late = changed_ids[np.isin(changed_ids, added_to)]
    steps.append((late, "~", np.where(np.isin(late, removed_from), 2, 1), pd.concat([kept, added])))
    ids = np.concatenate([s[0] for s in steps])
    kinds = np.concatenate([np.full(len(s[0]), s[1], dtype=object) for s in steps])
    micros = np.concatenate([np.broadcast_to(np.asarray(s[2]), len(s[0])) for s in steps]).astype(np.int64)
    history_ids = allocate_ids(history_model, len(ids))
    rows = position.reindex(ids).to_numpy()
    tracked = [f.attname for f in history_model.tracked_fields]
    history = {name: after[name][rows] for name in tracked}
    dates = np.array([now + datetime.timedelta(microseconds=m) for m in range(3)], dtype=object)
    history.update(
        history_id=history_ids, history_date=dates[micros], history_change_reason=change_reason or None,
        history_type=kinds, history_user_id=user_id,
    )  # fmt: skip
    copy_rows(history_model._meta.db_table, (*tracked, "history_id", "history_date", "history_change_reason",
              "history_type", "history_user_id"), history)  # fmt: skip
    snapshots = []
    offset = 0
    for enterprise_ids, _kind, _micros, links in steps:
        if links is not None and len(enterprise_ids):
            rows_of = pd.DataFrame({"enterprise_id": enterprise_ids, "history_id": history_ids[offset : offset + len(enterprise_ids)]})
            snapshots.append(links[_LINK_COLUMNS].merge(rows_of, on="enterprise_id"))
        offset += len(enterprise_ids)
    snapshot = pd.concat(snapshots, ignore_index=True) if snapshots else pd.DataFrame(columns=[*_LINK_COLUMNS, "history_id"])
    copy_rows(m2m_history_model._meta.db_table, (*_LINK_COLUMNS, "history_id"),
              _columns(snapshot, (*_LINK_COLUMNS, "history_id")))  # fmt: skip


def _update_from_staging(rows: dict[str, np.ndarray]) -> None:
    """UPDATE the enterprises of ``rows`` (columns) from a temporary table filled with COPY."""
    if not len(rows["id"]):
        return
    table = connection.ops.quote_name(Enterprise._meta.db_table)
    staging = connection.ops.quote_name("enterprise_import_staging")
    all_columns = _enterprise_columns()
    columns = [c for c in all_columns if c not in ("id", "created_at")]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT * FROM {table} WHERE 1 = 0")  # noqa: S608
    copy_rows("enterprise_import_staging", all_columns, rows)
    assignments = ", ".join(f"{connection.ops.quote_name(c)} = s.{connection.ops.quote_name(c)}" for c in all_columns if c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {staging} AS s WHERE {table}.id = s.id")  # noqa: S608
        cursor.execute(f"DROP TABLE {staging}")
