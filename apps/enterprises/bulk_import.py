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
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone

from apps.accounts.scoping import jurisdiction_of, recorded_user
from apps.core.bulk import copy_rows
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region
from apps.reference.size import classify_size

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
    """Reference data and the file's existing enterprises, as plain maps (no ORM below)."""

    #: county code -> (region id, placeable, active, province code, prefecture code, in scope)
    regions: dict[str, tuple]
    #: industry code -> (industry id, usable level, active, division code)
    industries: dict[str, tuple]
    #: key industry code or name, case-folded -> key industry id
    key_industries: dict[str, int]
    #: uscc -> the stored values of an existing enterprise (see :func:`load_lookups`)
    existing: dict[str, dict]
    #: USCCs of existing enterprises the user may change (None: all of them)
    editable: set[str] | None
    #: existing enterprise id -> [(through row id, key industry id), ...]
    key_links: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


def load_lookups(*, usccs: list[str], counties: list[str], user) -> Lookups:
    """Read what validating and writing a file needs, in a few set-based queries."""
    jurisdiction = jurisdiction_of(user)
    regions: dict[str, tuple] = {}
    wanted = sorted({c for c in counties if c})
    for chunk in _chunks(wanted):
        for r in Region.objects.filter(code__in=chunk):
            in_scope = jurisdiction.everything or jurisdiction.covers_region(r)
            regions[r.code] = (r.pk, r.is_placeable, r.is_active, r.province_code, r.prefecture_code, in_scope)
    industries = {
        i.code: (i.pk, i.level in (IndustryLevel.DIVISION, IndustryLevel.GROUP), i.is_active, i.division_code or i.code[:2])
        for i in Industry.objects.all()
    }
    key_industries: dict[str, int] = {}
    for ki in KeyIndustry.objects.all():
        key_industries[ki.code.casefold()] = ki.pk
        key_industries[ki.name.casefold()] = ki.pk
    codes = sorted(set(usccs) - {""})
    existing = {row["uscc"]: row for row in _rows_by_uscc(codes)}
    editable: set[str] | None = None
    if not jurisdiction.everything:
        editable = set()
        for chunk in _chunks(sorted(existing)):
            editable.update(Enterprise.objects.editable_by(user).filter(uscc__in=chunk).values_list("uscc", flat=True))
    key_links: dict[int, list[tuple[int, int]]] = {}
    through = Enterprise.key_industries.through
    ids = [row["id"] for row in existing.values()]
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
            links += through.objects.filter(enterprise_id__in=chunk).values_list("id", "enterprise_id", "keyindustry_id").order_by("id")
    for pk, enterprise_id, ki_id in links:
        key_links.setdefault(enterprise_id, []).append((pk, ki_id))
    return Lookups(regions, industries, key_industries, existing, editable, key_links)


def _rows_by_uscc(codes: list[str]):
    """The stored values of the enterprises with these codes. On PostgreSQL one query with
    the codes as one array parameter: 20,000 separate parameters cost more to send and parse
    than the look-up itself."""
    if connection.vendor != "postgresql":
        for chunk in _chunks(codes, 500):
            yield from Enterprise.objects.filter(uscc__in=chunk).values()
        return
    names = [f.attname for f in Enterprise._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Enterprise._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {connection.ops.quote_name(Enterprise._meta.db_table)} WHERE uscc = ANY(%s)",  # noqa: S608
            [codes],
        )
        for values in cursor.fetchall():
            yield dict(zip(names, values, strict=True))


# --- validating the columns -----------------------------------------------------------------


def uscc_valid(codes: pd.Series) -> np.ndarray:
    """Whether each (normalised) code is a valid USCC: 18 characters of the code alphabet,
    the first eight digits, and the right check character — computed on the whole column."""
    values = codes.to_numpy(dtype=object)
    ok = np.array([isinstance(v, str) and len(v) == 18 and v.isascii() for v in values], dtype=bool)
    result = np.zeros(len(values), dtype=bool)
    if not ok.any():
        return result
    raw = np.frombuffer("".join(values[ok]).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    index = _CHAR_INDEX[raw]
    good = (index >= 0).all(axis=1) & (index[:, :8] < 10).all(axis=1)
    check = (31 - (np.where(index[:, :17] >= 0, index[:, :17], 0) @ USCC_WEIGHTS) % 31) % 31
    good &= index[:, 17] == check
    result[ok] = good
    return result


def normalised_usccs(column: pd.Series) -> pd.Series:
    """The column's codes as the model stores them (python-stdnum's compact form); the
    usual 18 upper-case characters pass as they are."""
    codes = column.fillna("").astype(str).str.strip()
    usual = codes.str.fullmatch(r"[0-9A-Z]{18}")
    if not usual.all():
        codes = codes.copy()
        codes[~usual] = codes[~usual].map(normalise_uscc)
    return codes


def _number_text(column: pd.Series) -> pd.Series:
    return column.str.strip().str.replace(",", "", regex=False).str.replace("，", "", regex=False).str.replace(
        " ", "", regex=False
    )


def key_industry_ids(text: str, key_industries: dict[str, int]) -> list[int] | None:
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
    return found


def industry_code(text: str) -> str:
    """The industry code as the import reads it ("C39" as printed in some forms is 39)."""
    code = text.strip().upper()
    if len(code) > 1 and code.startswith("C") and code[1:].isdigit():
        code = code[1:]
    return code


def flag_rows(frame: pd.DataFrame, lookups: Lookups) -> tuple[np.ndarray, pd.DataFrame]:
    """Check every rule of the import on whole columns.

    ``frame`` holds the file's cells as stripped strings under the canonical column names
    (optional columns may be absent). Returns (flagged, parsed): ``flagged`` marks the rows
    that break or might break a rule; ``parsed`` has, for the other rows, the values to
    write (uscc, region and industry ids, key industry ids or None, employees, revenue).
    """
    n = len(frame)
    flagged = np.zeros(n, dtype=bool)
    text = {c: frame[c].fillna("").astype(str) for c in frame.columns}

    uscc = normalised_usccs(text[USCC])
    flagged |= ~uscc_valid(uscc)
    flagged |= uscc.duplicated(keep=False).to_numpy() & (uscc != "").to_numpy()

    for column, limit in _MAX_LENGTH.items():
        if column in text:
            flagged |= (text[column].str.len() > limit).to_numpy()
    for column in (NAME, CONTACT_NAME, CONTACT_PHONE):  # cells arrive stripped (cell_text)
        flagged |= (text[column] == "").to_numpy()
    for column in text:
        flagged |= text[column].str.contains("\x00", regex=False).to_numpy()
    if CONTACT_EMAIL in text:
        email = text[CONTACT_EMAIL]
        flagged |= ~((email == "") | email.str.fullmatch(_EMAIL)).to_numpy()

    county = text[COUNTY]
    region = county.map(lookups.regions)
    region_ok = region.map(lambda r: isinstance(r, tuple) and r[1] and r[2] and r[5])
    flagged |= ~region_ok.to_numpy(dtype=bool)

    industry = text[INDUSTRY].map(industry_code).map(lookups.industries)
    industry_ok = industry.map(lambda i: isinstance(i, tuple) and i[1] and i[2])
    flagged |= ~industry_ok.to_numpy(dtype=bool)

    if KEY_INDUSTRIES in text:
        keys = text[KEY_INDUSTRIES].map(lambda t: key_industry_ids(t, lookups.key_industries))
        flagged |= keys.isna().to_numpy()
    else:
        keys = pd.Series([None] * n, index=frame.index, dtype=object)

    employees = _number_text(text[EMPLOYEES])
    employees_ok = employees.str.fullmatch(_EMPLOYEES).to_numpy()
    flagged |= ~employees_ok
    revenue = _number_text(text[REVENUE])
    revenue_ok = revenue.str.fullmatch(_REVENUE).to_numpy()
    flagged |= ~revenue_ok

    # An existing enterprise outside the user's jurisdiction may not be changed.
    if lookups.editable is not None:
        exists = uscc.map(lambda u: u in lookups.existing).to_numpy(dtype=bool)
        editable = uscc.map(lambda u: u in lookups.editable).to_numpy(dtype=bool)
        flagged |= exists & ~editable

    ok = ~flagged
    parsed = pd.DataFrame(index=frame.index)
    parsed["uscc"] = uscc
    parsed["region"] = region.where(ok, None)
    parsed["industry"] = industry.where(ok, None)
    parsed["key_industries"] = keys.where(ok, None) if KEY_INDUSTRIES in text else keys
    parsed["employees"] = pd.Series(
        [int(Decimal(v)) if good else None for v, good in zip(employees, ok, strict=True)], index=frame.index, dtype=object
    )
    parsed["revenue"] = pd.Series(
        [Decimal(v).quantize(Decimal("0.01")) if good else None for v, good in zip(revenue, ok, strict=True)],
        index=frame.index,
        dtype=object,
    )
    return flagged, parsed


def parse_row(values: dict[str, str], lookups: Lookups) -> dict:
    """The values to write for one row that the resource has accepted (a flagged row that
    is valid after all), read by the resource's own widgets."""
    uscc = normalise_uscc(values[USCC].strip())
    keys = key_industry_ids(values[KEY_INDUSTRIES], lookups.key_industries) if KEY_INDUSTRIES in values else None
    return {
        "uscc": uscc,
        "region": lookups.regions[values[COUNTY].strip()],
        "industry": lookups.industries[industry_code(values[INDUSTRY])],
        "key_industries": keys,
        "employees": EmployeesWidget().clean(values[EMPLOYEES]),
        "revenue": RevenueWidget().clean(values[REVENUE]),
    }


# --- writing -------------------------------------------------------------------------------------

_COMPARED = ("name", "region_id", "industry_id", "employees", "revenue", "address", "contact_name", "contact_phone", "contact_email")


@dataclass
class WritePlan:
    """What a file changes: rows to create, to update, and how many are unchanged."""

    new: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    unchanged: int = 0


def plan_rows(rows: list[dict], lookups: Lookups, *, has_address: bool, has_email: bool) -> WritePlan:
    """Sort valid rows into new, changed and unchanged enterprises. Each row is a dict of the
    text columns plus the parsed values (see :func:`flag_rows`)."""
    plan = WritePlan()
    for row in rows:
        region, industry = row["region"], row["industry"]
        values = {
            "uscc": row["uscc"],
            "name": row[NAME].strip(),
            "region_id": region[0],
            "province_code": region[3],
            "prefecture_code": region[4],
            "county_code": row[COUNTY].strip(),
            "industry_id": industry[0],
            "division_code": industry[3],
            "employees": row["employees"],
            "revenue": row["revenue"],
            "size_class": str(classify_size(employees=row["employees"], revenue_10k_yuan=row["revenue"])),
            "contact_name": row[CONTACT_NAME].strip(),
            "contact_phone": row[CONTACT_PHONE].strip(),
        }
        before = lookups.existing.get(row["uscc"])
        values["address"] = row[ADDRESS].strip() if has_address else (before["address"] if before else "")
        values["contact_email"] = row[CONTACT_EMAIL].strip() if has_email else (before["contact_email"] if before else "")
        keys = row["key_industries"]
        if before is None:
            values["key_industries"] = keys or []
            plan.new.append(values)
            continue
        values["id"], values["created_at"] = before["id"], before["created_at"]
        old_keys = lookups.key_links.get(before["id"], [])
        keys_change = keys is not None and set(keys) != {k for _pk, k in old_keys}
        if not keys_change and all(values[a] == before[a] for a in _COMPARED):
            plan.unchanged += 1
            continue
        values["key_industries"] = keys
        values["old_links"] = old_keys
        plan.changed.append(values)
    return plan


def allocate_ids(model, count: int) -> list[int]:
    """``count`` new primary keys for ``model``'s table, taken from its sequence."""
    if count == 0:
        return []
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite (local runs): one writer at a time, and this runs in the import's transaction.
        cursor.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")  # noqa: S608 - names from _meta
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


_ENTERPRISE_COLUMNS = (
    "id", "uscc", "name", "region_id", "province_code", "prefecture_code", "county_code", "industry_id", "division_code",
    "employees", "revenue", "size_class", "address", "contact_name", "contact_phone", "contact_email", "created_at",
    "updated_at",
)  # fmt: skip


def write_rows(
    *, plan: WritePlan, user, change_reason: str, on_progress: Callable[[str, int], None] | None = None
) -> None:
    """Write a plan in the caller's transaction: enterprises, key industries and history."""
    now = timezone.now()
    history_model = Enterprise.history.model
    through = Enterprise.key_industries.through
    m2m_history_model = django_apps.get_model("enterprises", f"{history_model.__name__}_key_industries")
    user_id = getattr(recorded_user(user), "pk", None)  # none for the system actor

    # Enterprises: new ones straight in, changed ones through a staging table.
    for values, pk in zip(plan.new, allocate_ids(Enterprise, len(plan.new)), strict=True):
        values["id"], values["created_at"], values["updated_at"] = pk, now, now
    copy_rows(Enterprise._meta.db_table, _ENTERPRISE_COLUMNS, ([v[c] for c in _ENTERPRISE_COLUMNS] for v in plan.new))
    if on_progress:
        on_progress("written", len(plan.new))
    for values in plan.changed:
        values["updated_at"] = now
    _update_from_staging(plan.changed)
    if on_progress:
        on_progress("written", len(plan.new) + len(plan.changed))

    # Key industries: the links to add and remove, as sets.
    adds: list[tuple[int, int, int]] = []  # (through id, enterprise id, key industry id)
    removes: list[int] = []
    add_pairs: list[tuple[dict, int]] = []
    for values in plan.new:
        add_pairs += [(values, k) for k in values["key_industries"]]
    for values in plan.changed:
        old = values["old_links"]
        values["links_after_remove"] = list(old)
        if values["key_industries"] is None:
            continue
        wanted = values["key_industries"]
        removed = [(pk, k) for pk, k in old if k not in wanted]
        removes += [pk for pk, _k in removed]
        values["links_after_remove"] = [(pk, k) for pk, k in old if k in wanted]
        kept = {k for _pk, k in old}
        add_pairs += [(values, k) for k in wanted if k not in kept]
        values["removed_any"] = bool(removed)
    for (values, k), pk in zip(add_pairs, allocate_ids(through, len(add_pairs)), strict=True):
        values.setdefault("added", []).append((pk, k))
        adds.append((pk, values["id"], k))
    for chunk in _chunks(removes):
        through.objects.filter(pk__in=chunk).delete()
    copy_rows(through._meta.db_table, ("id", "enterprise_id", "keyindustry_id"), adds)

    # History, as the per-row saves and m2m signals wrote it.
    history: list[tuple[dict, str, list[tuple[int, int]], int]] = []  # (values, type, links, step)
    for values in plan.new:
        history.append((values, "+", [], 0))
        if values.get("added"):
            history.append((values, "~", values["added"], 1))
    for values in plan.changed:
        history.append((values, "~", values["old_links"], 0))
        step = 1
        if values.get("removed_any"):
            history.append((values, "~", values["links_after_remove"], step))
            step += 1
        if values.get("added"):
            history.append((values, "~", values["links_after_remove"] + values["added"], step))
    history_ids = allocate_ids(history_model, len(history))
    tracked = [f.attname for f in history_model.tracked_fields]
    columns = (*tracked, "history_id", "history_date", "history_change_reason", "history_type", "history_user_id")
    copy_rows(
        history_model._meta.db_table,
        columns,
        (
            [values[a] for a in tracked]
            + [hid, now + datetime.timedelta(microseconds=step), change_reason or None, kind, user_id]
            for (values, kind, _links, step), hid in zip(history, history_ids, strict=True)
        ),
    )
    copy_rows(
        m2m_history_model._meta.db_table,
        ("id", "enterprise_id", "keyindustry_id", "history_id"),
        (
            (pk, values["id"], k, hid)
            for (values, _kind, links, _step), hid in zip(history, history_ids, strict=True)
            for pk, k in links
        ),
    )


def _update_from_staging(rows: list[dict]) -> None:
    """UPDATE the enterprises of ``rows`` from a temporary table filled with COPY."""
    if not rows:
        return
    table = connection.ops.quote_name(Enterprise._meta.db_table)
    staging = connection.ops.quote_name("enterprise_import_staging")
    columns = [c for c in _ENTERPRISE_COLUMNS if c not in ("id", "created_at")]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT * FROM {table} WHERE 1 = 0")  # noqa: S608
    copy_rows("enterprise_import_staging", _ENTERPRISE_COLUMNS, ([v[c] for c in _ENTERPRISE_COLUMNS] for v in rows))
    assignments = ", ".join(f"{connection.ops.quote_name(c)} = s.{connection.ops.quote_name(c)}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {staging} AS s WHERE {table}.id = s.id")  # noqa: S608
        cursor.execute(f"DROP TABLE {staging}")
