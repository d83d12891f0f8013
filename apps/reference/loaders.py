"""Loading reference data (regions, industries, key industries) from the committed fixtures.

Each loader is split in two:

* a pure ``parse_*`` function that checks a fixture (already read from JSON) and returns
  plain rows, with the denormalised codes worked out; it touches no database, so every
  error in a file is found before anything is written;
* a ``load_*`` function that applies those rows in one transaction with bulk queries.

Loading is idempotent and never deletes: enterprises, filings and users point at regions
and industries with ``on_delete=PROTECT``, so a code that disappears from a newer edition
is only marked ``is_active=False`` and keeps its last name and parent.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .models import Industry, IndustryLevel, KeyIndustry, Region, RegionEdition, RegionLevel

FIXTURE_DIR = Path(settings.BASE_DIR) / "fixtures" / "reference"
INDUSTRY_FILE = FIXTURE_DIR / "industries-gbt4754-2017.json"
KEY_INDUSTRY_FILE = FIXTURE_DIR / "key-industries.json"

# Rows per INSERT/UPDATE statement: well under SQLite's limit on bound variables, and
# large enough that the ~3,350 regions take a handful of statements.
BATCH_SIZE = 500

_LEVEL_RANK = {RegionLevel.PROVINCE: 0, RegionLevel.PREFECTURE: 1, RegionLevel.COUNTY: 2}
_REGION_KEYS = {
    "code", "name", "level", "parent", "placeholder", "separately_planned", "oversees", "county_level_itself",
}
_SIX_DIGITS = re.compile(r"^\d{6}$")


class ReferenceDataError(ValueError):
    """A reference fixture is malformed or inconsistent; nothing was written."""


class OlderEditionError(ReferenceDataError):
    """The region edition is older than the one the database already reflects."""


@dataclass
class LoadResult:
    """What one loader did: rows created, changed, marked inactive, and left as they were."""

    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows in the file that was loaded."""
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return (
            f"{self.total} rows: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.deactivated} marked inactive"
        )


def read_json(path: str | Path) -> dict:
    """Read a fixture file; a file that is not a JSON object is a ReferenceDataError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferenceDataError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ReferenceDataError(f"{path}: expected a JSON object")
    return data


def _chunks(items: list, size: int = BATCH_SIZE) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(row: dict, key: str, max_length: int, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ReferenceDataError(f"{where}: {key} must be a non-empty string of at most {max_length} characters")
    return value


# --- Regions (GB/T 2260) ----------------------------------------------------------------


@dataclass(frozen=True)
class EditionInfo:
    """The edition block of a region fixture."""

    code: str
    source: str
    valid_on: datetime.date


@dataclass(frozen=True)
class RegionRow:
    """One region as it should be stored, denormalised codes included."""

    code: str
    name: str
    level: str
    parent: str | None
    province_code: str
    prefecture_code: str
    is_placeholder: bool = False
    is_separately_planned: bool = False
    oversees_prefecture_code: str = ""
    is_county_equivalent: bool = False

    def values(self) -> dict:
        """Field values for a Region, keyed by model attribute (``parent_id`` for the FK)."""
        return {
            "name": self.name,
            "level": self.level,
            "parent_id": self.parent,
            "province_code": self.province_code,
            "prefecture_code": self.prefecture_code,
            "is_placeholder": self.is_placeholder,
            "is_separately_planned": self.is_separately_planned,
            "oversees_prefecture_code": self.oversees_prefecture_code,
            "is_county_equivalent": self.is_county_equivalent,
        }


def parse_region_edition(data: dict) -> tuple[EditionInfo, list[RegionRow]]:
    """Check a region fixture and return its edition and rows, parents before children.

    The fixture holds ``{"edition": {code, source, valid_on}, "regions": [...]}`` where a
    region is ``{code, name, level, parent}`` plus optional flags (see
    fixtures/reference/README.md). Raises ReferenceDataError on the first problem.
    """
    meta = data.get("edition")
    if not isinstance(meta, dict):
        raise ReferenceDataError("edition: missing")
    try:
        valid_on = datetime.date.fromisoformat(str(meta.get("valid_on")))
    except ValueError as exc:
        raise ReferenceDataError(f"edition: valid_on is not a date: {meta.get('valid_on')!r}") from exc
    edition = EditionInfo(
        code=_text(meta, "code", 40, "edition"), source=_text(meta, "source", 200, "edition"), valid_on=valid_on
    )

    raw = data.get("regions")
    if not isinstance(raw, list) or not raw:
        raise ReferenceDataError("regions: missing or empty")
    by_code: dict[str, dict] = {}
    for i, row in enumerate(raw):
        where = f"regions[{i}]"
        if not isinstance(row, dict):
            raise ReferenceDataError(f"{where}: not an object")
        unknown = set(row) - _REGION_KEYS
        if unknown:
            raise ReferenceDataError(f"{where}: unknown keys {sorted(unknown)}")
        code = row.get("code")
        if not isinstance(code, str) or not _SIX_DIGITS.match(code):
            raise ReferenceDataError(f"{where}: code must be 6 digits, got {code!r}")
        if code in by_code:
            raise ReferenceDataError(f"{where}: duplicate code {code}")
        _text(row, "name", 100, f"{where} ({code})")
        if row.get("level") not in _LEVEL_RANK:
            raise ReferenceDataError(f"{where} ({code}): unknown level {row.get('level')!r}")
        by_code[code] = row

    rows = [_region_row(row, by_code) for row in by_code.values()]
    rows.sort(key=lambda r: (_LEVEL_RANK[r.level], r.code))
    return edition, rows


def _region_row(row: dict, by_code: dict[str, dict]) -> RegionRow:
    """Check one row against its parent and work out its denormalised codes."""
    code, level, parent = row["code"], row["level"], row.get("parent")
    where = f"region {code}"
    parent_row = by_code.get(parent) if parent is not None else None
    if parent is not None and parent_row is None:
        raise ReferenceDataError(f"{where}: parent {parent!r} is not in the file")
    oversees = row.get("oversees") or ""

    if level == RegionLevel.PROVINCE:
        if parent is not None:
            raise ReferenceDataError(f"{where}: a province has no parent")
        if not code.endswith("0000"):
            raise ReferenceDataError(f"{where}: a province code ends in 0000")
        if oversees and by_code.get(oversees, {}).get("level") != RegionLevel.PREFECTURE:
            raise ReferenceDataError(f"{where}: oversees {oversees!r}, which is not a prefecture-level row")
        province_code, prefecture_code = code, ""
    elif level == RegionLevel.PREFECTURE:
        if parent_row is None or parent_row["level"] != RegionLevel.PROVINCE or parent[:2] != code[:2]:
            raise ReferenceDataError(f"{where}: parent must be the province {code[:2]}0000")
        if not code.endswith("00") or code == parent:
            raise ReferenceDataError(f"{where}: not a prefecture-level code")
        province_code, prefecture_code = parent, code
    else:
        if parent_row is None or parent_row["level"] != RegionLevel.PREFECTURE or parent[:4] != code[:4]:
            raise ReferenceDataError(f"{where}: parent must be the prefecture {code[:4]}00")
        if code == parent:
            raise ReferenceDataError(f"{where}: a county-level row cannot have its parent's code")
        province_code, prefecture_code = parent_row["parent"], parent

    if oversees and level != RegionLevel.PROVINCE:
        raise ReferenceDataError(f"{where}: only an authority row at province level may oversee a prefecture")
    return RegionRow(
        code=code,
        name=row["name"],
        level=level,
        parent=parent,
        province_code=province_code,
        prefecture_code=prefecture_code,
        is_placeholder=bool(row.get("placeholder")),
        is_separately_planned=bool(row.get("separately_planned")),
        oversees_prefecture_code=oversees,
        is_county_equivalent=bool(row.get("county_level_itself")),
    )


def load_region_edition(data: dict, *, allow_older: bool = False) -> LoadResult:
    """Apply a region edition: insert new codes, update changed ones, deactivate absent ones.

    All in one transaction. The edition becomes the current one (``is_current``) and
    every code in it records it as ``last_edition``. Loading an edition older than the
    current one would roll names back and deactivate newer codes, so it raises
    OlderEditionError unless ``allow_older`` is given.
    """
    info, rows = parse_region_edition(data)
    result = LoadResult()
    with transaction.atomic():
        current = RegionEdition.objects.select_for_update().filter(is_current=True).first()
        if current and current.code != info.code and current.valid_on > info.valid_on and not allow_older:
            raise OlderEditionError(
                f"edition {info.code} ({info.valid_on}) is older than the current {current.code} ({current.valid_on})"
            )
        edition, _ = RegionEdition.objects.update_or_create(
            code=info.code, defaults={"source": info.source, "valid_on": info.valid_on, "region_count": len(rows)}
        )

        existing = {r.code: r for r in Region.objects.all()}
        to_create: list[Region] = []
        to_update: list[Region] = []
        changed_fields: set[str] = set()
        for row in rows:
            values = row.values()
            obj = existing.get(row.code)
            if obj is None:
                to_create.append(Region(code=row.code, is_active=True, last_edition=edition, **values))
                continue
            values["is_active"] = True
            changed = [name for name, value in values.items() if getattr(obj, name) != value]
            if changed:
                for name in changed:
                    setattr(obj, name, values[name])
                to_update.append(obj)
                changed_fields.update(changed)
            elif obj.last_edition_id == edition.pk:
                result.unchanged += 1

        # rows are sorted parents first, so a new child never precedes its new parent
        Region.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
        if to_update:
            # bulk_update writes one CASE per field: name only the fields that changed
            # (the FK is named "parent" there, not "parent_id")
            fields = sorted(f.removesuffix("_id") for f in changed_fields)
            Region.objects.bulk_update(to_update, fields, batch_size=BATCH_SIZE)
        # A new edition touches every kept code, usually to record the edition only: a
        # plain UPDATE per chunk is much cheaper than a bulk_update of thousands of rows.
        kept = [row.code for row in rows if row.code in existing]
        for chunk in _chunks(kept):
            Region.objects.filter(code__in=chunk).exclude(last_edition=edition).update(last_edition=edition)
        new_codes = {row.code for row in rows}
        dropped = sorted(code for code, obj in existing.items() if code not in new_codes and obj.is_active)
        for chunk in _chunks(dropped):
            Region.objects.filter(code__in=chunk).update(is_active=False)

        RegionEdition.objects.exclude(pk=edition.pk).filter(is_current=True).update(is_current=False)
        if not edition.is_current:
            edition.is_current = True
            edition.save(update_fields=["is_current"])

    # "updated": kept codes whose row changed, the edition stamp included
    result.created, result.deactivated = len(to_create), len(dropped)
    result.updated = len(kept) - result.unchanged
    return result


def region_files() -> list[Path]:
    """The committed region editions, oldest first (file names carry the ISO date)."""
    return sorted(FIXTURE_DIR.glob("regions-*.json"))


def current_region_file() -> Path:
    """The newest committed region edition."""
    files = region_files()
    if not files:
        raise ReferenceDataError(f"no regions-*.json in {FIXTURE_DIR}")
    return files[-1]


# --- Industries (GB/T 4754-2017) -------------------------------------------------------------


@dataclass(frozen=True)
class IndustryRow:
    """One class of GB/T 4754 as it should be stored."""

    code: str
    name: str
    level: str
    parent: str | None
    division_code: str
    edition: str

    def values(self) -> dict:
        return {
            "name": self.name,
            "level": self.level,
            "parent_id": self.parent,
            "division_code": self.division_code,
            "edition": self.edition,
        }


_INDUSTRY_CODE = {
    IndustryLevel.SECTION: re.compile(r"^[A-T]$"),
    IndustryLevel.DIVISION: re.compile(r"^\d{2}$"),
    IndustryLevel.GROUP: re.compile(r"^\d{3}$"),
}
_INDUSTRY_PARENT_LEVEL = {IndustryLevel.DIVISION: IndustryLevel.SECTION, IndustryLevel.GROUP: IndustryLevel.DIVISION}


def parse_industries(data: dict) -> list[IndustryRow]:
    """Check the industry fixture and return its rows, sections first, then divisions, then groups."""
    standard = _text(data, "standard", 40, "industries")
    raw = data.get("industries")
    if not isinstance(raw, list) or not raw:
        raise ReferenceDataError("industries: missing or empty")
    by_code: dict[str, dict] = {}
    for i, row in enumerate(raw):
        where = f"industries[{i}]"
        if not isinstance(row, dict):
            raise ReferenceDataError(f"{where}: not an object")
        code, level = row.get("code"), row.get("level")
        if level not in _INDUSTRY_CODE:
            raise ReferenceDataError(f"{where}: unknown level {level!r}")
        if not isinstance(code, str) or not _INDUSTRY_CODE[level].match(code):
            raise ReferenceDataError(f"{where}: {code!r} is not a {level} code")
        if code in by_code:
            raise ReferenceDataError(f"{where}: duplicate code {code}")
        _text(row, "name", 100, f"{where} ({code})")
        by_code[code] = row

    rows = []
    for code, row in by_code.items():
        level, parent = row["level"], row.get("parent")
        if level == IndustryLevel.SECTION:
            if parent is not None:
                raise ReferenceDataError(f"industry {code}: a section has no parent")
            division_code = ""
        else:
            parent_row = by_code.get(parent)
            if parent_row is None or parent_row["level"] != _INDUSTRY_PARENT_LEVEL[level]:
                raise ReferenceDataError(f"industry {code}: parent {parent!r} is not a {_INDUSTRY_PARENT_LEVEL[level]}")
            if level == IndustryLevel.GROUP and code[:2] != parent:
                raise ReferenceDataError(f"industry {code}: a group's code starts with its division's")
            division_code = code[:2]
        rows.append(IndustryRow(code, row["name"], level, parent, division_code, standard))
    order = list(_INDUSTRY_CODE)
    rows.sort(key=lambda r: (order.index(r.level), r.code))
    return rows


def load_industries(data: dict) -> LoadResult:
    """Upsert the GB/T 4754 classes of the fixture; classes no longer in it become inactive."""
    rows = parse_industries(data)
    with transaction.atomic():
        existing = {i.code: i for i in Industry.objects.all()}
        result = _upsert(
            Industry, rows, existing, ["name", "level", "parent", "division_code", "edition", "is_active"]
        )
    return result


def _upsert(model, rows: Iterable, existing: dict, update_fields: list[str]) -> LoadResult:
    """Create missing rows, update changed ones, deactivate the ones not in ``rows``."""
    result = LoadResult()
    to_create, to_update = [], []
    seen = set()
    for row in rows:
        seen.add(row.code)
        values = {**row.values(), "is_active": True}
        obj = existing.get(row.code)
        if obj is None:
            to_create.append(model(code=row.code, **values))
            continue
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            to_update.append(obj)
        else:
            result.unchanged += 1
    model.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
    model.objects.bulk_update(to_update, update_fields, batch_size=BATCH_SIZE)
    dropped = [code for code, obj in existing.items() if code not in seen and obj.is_active]
    for chunk in _chunks(dropped):
        model.objects.filter(code__in=chunk).update(is_active=False)
    result.created, result.updated, result.deactivated = len(to_create), len(to_update), len(dropped)
    return result


# --- Key industries of the MIIT guide ---------------------------------------------------------------


def load_key_industries(data: dict) -> LoadResult:
    """Upsert the key industries and set each one's GB/T 4754 classes to exactly those listed.

    Run after the industries. A key industry missing from the file is left alone (it has
    no active flag, and enterprises may be tagged with it); the result notes it.
    """
    raw = data.get("key_industries")
    if not isinstance(raw, list) or not raw:
        raise ReferenceDataError("key_industries: missing or empty")
    result = LoadResult()
    with transaction.atomic():
        known = set(Industry.objects.filter(is_active=True).values_list("code", flat=True))
        seen = set()
        for i, row in enumerate(raw):
            where = f"key_industries[{i}]"
            if not isinstance(row, dict):
                raise ReferenceDataError(f"{where}: not an object")
            code = _text(row, "code", 40, where)
            if not re.match(r"^[a-z0-9-]+$", code) or code in seen:
                raise ReferenceDataError(f"{where}: {code!r} is not a new slug")
            seen.add(code)
            codes = row.get("industries")
            if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
                raise ReferenceDataError(f"{where} ({code}): industries must be a non-empty list of codes")
            missing = sorted(set(codes) - known)
            if missing:
                raise ReferenceDataError(f"{where} ({code}): unknown or inactive industries {missing}")
            sort_order = row.get("sort_order", 0)
            if not isinstance(sort_order, int) or sort_order < 0:
                raise ReferenceDataError(f"{where} ({code}): sort_order must be a non-negative integer")
            values = {
                "name": _text(row, "name", 50, where),
                "name_en": row.get("name_en", ""),
                "sort_order": sort_order,
            }
            obj = KeyIndustry.objects.filter(code=code).first()
            if obj is None:
                obj = KeyIndustry.objects.create(code=code, **values)
                obj.industries.set(codes)
                result.created += 1
                continue
            changed = [k for k, v in values.items() if getattr(obj, k) != v]
            for k in changed:
                setattr(obj, k, values[k])
            if changed:
                obj.save(update_fields=changed)
            if set(obj.industries.values_list("code", flat=True)) != set(codes):
                obj.industries.set(codes)
                changed.append("industries")
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
        others = sorted(KeyIndustry.objects.exclude(code__in=seen).values_list("code", flat=True))
        if others:
            result.notes.append(f"key industries not in the file, left as they are: {', '.join(others)}")
    return result


# --- Everything ----------------------------------------------------------------------------------------


def load_all(regions: str | Path | None = None, *, allow_older: bool = False) -> dict[str, LoadResult]:
    """Load the region edition (the newest committed one unless ``regions`` names a file),
    the industries and the key industries, in one transaction.

    Without ``regions``, a database that already reflects a newer edition keeps it: the
    committed edition is skipped and a note says so (so that ``make run`` never rolls a
    newer edition back).
    """
    results: dict[str, LoadResult] = {}
    region_data = read_json(regions or current_region_file())
    industry_data, key_data = read_json(INDUSTRY_FILE), read_json(KEY_INDUSTRY_FILE)
    with transaction.atomic():
        try:
            results["regions"] = load_region_edition(region_data, allow_older=allow_older)
        except OlderEditionError as exc:
            if regions is not None:
                raise
            results["regions"] = LoadResult(notes=[f"skipped: {exc}"])
        results["industries"] = load_industries(industry_data)
        results["key_industries"] = load_key_industries(key_data)
    return results
