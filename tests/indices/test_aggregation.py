"""Aggregate cells (apps.indices.aggregation): pure functions, no database.

The hand population: 12 accepted filings, 2 provinces, 3 prefectures, 4 counties with
filings (+1 with registered enterprises only), 2 divisions (+1 registry-only):

    id prov   pref   county div size   tags                      composite level
     1 320000 320100 320102 39  large  electronics, biomedicine   80        5
     2 320000 320100 320102 39  medium electronics               70        4
     3 320000 320100 320102 27  small  biomedicine               60        4
     4 320000 320100 320103 39  small  new_materials             50        3
     5 320000 320100 320103 27  small  aerospace                 40        3
     6 320000 320200 320205 39  large  new_materials             90        5
     7 320000 320200 320205 27  small  biomedicine               65        4
     8 320000 320200 320205 39  micro  —                         55        3
     9 330000 330100 330106 39  medium electronics               75        4
    10 330000 330100 330106 27  micro  biomedicine               45        3
    11 330000 330100 330106 39  micro  new_materials             85        5
    12 330000 330100 330106 27  micro  biomedicine               35        2

Dimension scores: D1 = composite + 5, D2 = composite − 5. The registry holds the 12 and
five more: 13 (320103, 39), 14 (320205, 27), 15–16 (330108, 39), 17 (330108, 13).

Sorted, the national composites are 35, 40, …, 90 (step 5): n = 12, sum 750, mean 62.5.
"""

import math

import numpy as np
import pandas as pd
import pytest

from apps.indices.aggregation import (
    CELL_COLUMNS,
    SIZE_WEIGHTS,
    IndexParameters,
    compute_cells,
    compute_statistics,
    group_quantiles,
)

DIMS = ["D1", "D2"]
CODE_COLUMNS = ["enterprise_id", "province", "prefecture", "county", "division", "size_class", "key_industries"]

FILINGS = [
    (1, "320000", "320100", "320102", "39", "large", ("electronics", "biomedicine"), 80),
    (2, "320000", "320100", "320102", "39", "medium", ("electronics",), 70),
    (3, "320000", "320100", "320102", "27", "small", ("biomedicine",), 60),
    (4, "320000", "320100", "320103", "39", "small", ("new_materials",), 50),
    (5, "320000", "320100", "320103", "27", "small", ("aerospace",), 40),
    (6, "320000", "320200", "320205", "39", "large", ("new_materials",), 90),
    (7, "320000", "320200", "320205", "27", "small", ("biomedicine",), 65),
    (8, "320000", "320200", "320205", "39", "micro", (), 55),
    (9, "330000", "330100", "330106", "39", "medium", ("electronics",), 75),
    (10, "330000", "330100", "330106", "27", "micro", ("biomedicine",), 45),
    (11, "330000", "330100", "330106", "39", "micro", ("new_materials",), 85),
    (12, "330000", "330100", "330106", "27", "micro", ("biomedicine",), 35),
]
REGISTRY_ONLY = [
    (13, "320000", "320100", "320103", "39", "small", ()),
    (14, "320000", "320200", "320205", "27", "micro", ()),
    (15, "330000", "330100", "330108", "39", "medium", ()),
    (16, "330000", "330100", "330108", "39", "small", ()),
    (17, "330000", "330100", "330108", "13", "small", ()),
]


def hand_scores() -> pd.DataFrame:
    scores = pd.DataFrame(FILINGS, columns=[*CODE_COLUMNS, "composite"])
    scores["composite"] = scores["composite"].astype(float)
    scores["level"] = (scores["composite"] // 20 + 1).astype(int)  # 35 → 2, 40–55 → 3, 60–75 → 4, 80+ → 5
    scores["D1"] = scores["composite"] + 5
    scores["D2"] = scores["composite"] - 5
    scores["revenue"] = 100.0
    return scores


def hand_registry() -> pd.DataFrame:
    registry = pd.DataFrame(REGISTRY_ONLY, columns=CODE_COLUMNS)
    return pd.concat([hand_scores()[CODE_COLUMNS], registry], ignore_index=True)


def cell(frame: pd.DataFrame, kind: str, code: str) -> dict:
    rows = frame[(frame["kind"] == kind) & (frame["code"] == code)]
    assert len(rows) == 1, (kind, code)
    return rows.iloc[0].to_dict()


@pytest.fixture(scope="module")
def stats3():
    """Statistics before disclosure control (values are the same after it)."""
    return compute_statistics(hand_scores(), hand_registry(), IndexParameters(min_cell_size=3), DIMS)


@pytest.fixture(scope="module")
def cells3():
    return compute_cells(hand_scores(), hand_registry(), IndexParameters(min_cell_size=3), DIMS)


def test_output_columns_are_the_fields_of_index_cell(cells3):
    from apps.indices.models import IndexCell

    fields = [f.name for f in IndexCell._meta.fields if f.name not in ("id", "run", "stale")]
    assert list(CELL_COLUMNS) == fields
    assert list(cells3.columns) == fields


def test_nation_statistics_by_hand(stats3):
    c = cell(stats3, "nation", "CN")
    assert c["parent_code"] == ""
    assert c["n"] == 12 and c["registered"] == 17
    assert c["coverage"] == pytest.approx(12 / 17)
    assert c["mean"] == pytest.approx(62.5)  # 750 / 12
    # Linear interpolation at h = q (n − 1) = 11 q over the sorted x_0..x_11 = 35, 40, …, 90:
    assert c["p10"] == pytest.approx(40.5)  # h = 1.1  → x1 + 0.1 (x2 − x1) = 40 + 0.1·5
    assert c["p25"] == pytest.approx(48.75)  # h = 2.75 → 45 + 0.75·5
    assert c["median"] == pytest.approx(62.5)  # h = 5.5  → 60 + 0.5·5
    assert c["p75"] == pytest.approx(76.25)  # h = 8.25 → 75 + 0.25·5
    assert c["p90"] == pytest.approx(84.5)  # h = 9.9  → 80 + 0.9·5
    # Benchmark: mean of the filings ≥ p90 = 84.5 → 85 and 90.
    assert c["benchmark"] == pytest.approx(87.5)
    # Deviations ±2.5, ±7.5, …, ±27.5: Σd² = 2 (6.25 + 56.25 + 156.25 + 306.25 + 506.25 + 756.25)
    # = 3575; s² = 3575 / 11 = 325.
    assert c["std"] == pytest.approx(math.sqrt(325))
    # 95 % CI: t(0.975, df = 11) = 2.200985; half width 2.200985 · √325 / √12 = 11.45429
    # without, and × √((17 − 12) / (17 − 1)) = 0.559017 with the finite-population
    # correction (12 of the 17 registered enterprises filed): 6.40314.
    half = 2.200985160091639 * math.sqrt(325) / math.sqrt(12)
    assert half == pytest.approx(11.45429, abs=1e-5)
    half *= math.sqrt(5 / 16)
    assert half == pytest.approx(6.40314, abs=1e-5)
    assert c["ci_low"] == pytest.approx(62.5 - half)
    assert c["ci_high"] == pytest.approx(62.5 + half)
    # Levels: 35 → L2; 40, 45, 50, 55 → L3; 60, 65, 70, 75 → L4; 80, 85, 90 → L5.
    assert c["level_shares"] == pytest.approx([0, 1 / 12, 4 / 12, 4 / 12, 3 / 12])
    assert c["dimension_means"] == pytest.approx({"D1": 67.5, "D2": 57.5})
    assert math.isnan(c["weighted_mean"])  # weighting "none"


def test_province_statistics_by_hand(stats3):
    c = cell(stats3, "province", "320000")
    # Filings 1–8, sorted x_0..x_7 = 40, 50, 55, 60, 65, 70, 80, 90; sum 510.
    assert c["n"] == 8 and c["registered"] == 10 and c["coverage"] == pytest.approx(0.8)
    assert c["mean"] == pytest.approx(63.75)
    # h = 7 q
    assert c["p10"] == pytest.approx(47.0)  # h = 0.7  → 40 + 0.7·10
    assert c["p25"] == pytest.approx(53.75)  # h = 1.75 → 50 + 0.75·5
    assert c["median"] == pytest.approx(62.5)  # h = 3.5  → 60 + 0.5·5
    assert c["p75"] == pytest.approx(72.5)  # h = 5.25 → 70 + 0.25·10
    assert c["p90"] == pytest.approx(83.0)  # h = 6.3  → 80 + 0.3·10
    assert c["benchmark"] == pytest.approx(90.0)  # only 90 ≥ 83
    # Deviations from 63.75: −23.75 −13.75 −8.75 −3.75 1.25 6.25 16.25 26.25;
    # squares 564.0625 + 189.0625 + 76.5625 + 14.0625 + 1.5625 + 39.0625 + 264.0625 + 689.0625
    # = 1837.5; s² = 1837.5 / 7 = 262.5.
    assert c["std"] == pytest.approx(math.sqrt(262.5))
    # n = 8 < interval_min_n (10): no interval (样本不足以估计区间)
    assert math.isnan(c["ci_low"]) and math.isnan(c["ci_high"])
    assert c["level_shares"] == pytest.approx([0, 0, 3 / 8, 3 / 8, 2 / 8])  # L3 40 50 55, L4 60 65 70, L5 80 90


def test_single_filing_cell_has_no_spread(stats3):
    c = cell(stats3, "prefecture_division", "320200|27")  # only filing 7 (65)
    assert c["n"] == 1 and c["mean"] == 65.0 and c["median"] == 65.0 and c["benchmark"] == 65.0
    assert math.isnan(c["std"]) and math.isnan(c["ci_low"]) and math.isnan(c["ci_high"])


def test_cells_exist_for_registry_only_keys_with_coverage_gaps(cells3):
    county = cell(cells3, "county", "330108")  # three registered, none filed
    assert county["n"] == 0 and county["registered"] == 3 and county["coverage"] == 0.0
    assert (
        county["mean"] is None
        and county["std"] is None
        and county["level_shares"] == []
        and county["dimension_means"] == {}
    )
    assert county["suppressed"] is False and county["suppression_reason"] == "no_data"
    division = cell(cells3, "division", "13")
    assert division["n"] == 0 and division["registered"] == 1
    assert cell(cells3, "province_division", "330000|13")["registered"] == 1
    assert cell(cells3, "prefecture_division", "330100|13")["parent_code"] == "330000|13"


def test_codes_and_parents_of_every_kind(cells3):
    expected = {
        ("nation", "CN"): "",
        ("province", "320000"): "CN",
        ("prefecture", "320200"): "320000",
        ("county", "320205"): "320200",
        ("division", "39"): "CN",
        ("key_industry", "electronics"): "CN",
        ("size", "micro"): "CN",
        ("province_division", "320000|39"): "320000",
        ("prefecture_division", "320100|39"): "320000|39",
    }
    for (kind, code), parent in expected.items():
        assert cell(cells3, kind, code)["parent_code"] == parent
    assert not cells3.duplicated(["kind", "code"]).any()
    assert set(cells3["kind"]) == {k for k, _ in expected}


def test_key_industries_count_an_enterprise_in_each_of_its_tags(stats3):
    # Filing 1 (80) carries electronics and biomedicine.
    assert cell(stats3, "key_industry", "electronics")["n"] == 3  # 80, 70, 75 → 75
    assert cell(stats3, "key_industry", "electronics")["mean"] == pytest.approx(75)
    biomedicine = cell(stats3, "key_industry", "biomedicine")  # 80, 60, 65, 45, 35 → 285 / 5
    assert biomedicine["n"] == 5 and biomedicine["mean"] == pytest.approx(57)
    total = stats3.loc[stats3["kind"] == "key_industry", "n"].sum()
    assert total == 3 + 3 + 5 + 1  # 12 tags on 11 filings; filing 8 has none


def test_weighted_mean_by_size_class():
    params = IndexParameters(weighting="size", min_cell_size=3)
    stats = compute_statistics(hand_scores(), hand_registry(), params, DIMS)
    assert SIZE_WEIGHTS == {"large": 4.0, "medium": 3.0, "small": 2.0, "micro": 1.0}
    # large 4·(80 + 90) = 680, medium 3·(70 + 75) = 435, small 2·(60 + 50 + 40 + 65) = 430,
    # micro 1·(55 + 45 + 85 + 35) = 220; weights 8 + 6 + 8 + 4 = 26 → 1765 / 26.
    assert cell(stats, "nation", "CN")["weighted_mean"] == pytest.approx(1765 / 26)
    # County 330106: 75 (3), 45 (1), 85 (1), 35 (1) → (225 + 45 + 85 + 35) / 6 = 65.
    assert cell(stats, "county", "330106")["weighted_mean"] == pytest.approx(65)


def test_ranks_ties_share_the_best_rank_and_small_cells_take_none(cells3):
    # Key industries (min_cell_size 3): electronics 75 and new_materials 75 would tie for
    # 1st, but division 39 − electronics − new_materials is filing 8 alone (the overlap
    # check over atoms suppresses electronics); new_materials is 1st, biomedicine 57 2nd;
    # aerospace (n = 1) is not ranked and takes no rank.
    ranks = {
        code: cell(cells3, "key_industry", code)["rank"]
        for code in ("electronics", "new_materials", "biomedicine", "aerospace")
    }
    assert cell(cells3, "key_industry", "electronics")["suppression_reason"] == "overlap"
    assert ranks == {"electronics": None, "new_materials": 1, "biomedicine": 2, "aerospace": None}
    assert {cell(cells3, "key_industry", c)["siblings"] for c in ranks} == {2}
    # ties share the best rank: the two divisions with equal means
    tied = compute_cells(hand_scores().assign(composite=60.0), hand_registry(), IndexParameters(min_cell_size=3), DIMS)
    assert {cell(tied, "division", c)["rank"] for c in ("27", "39")} == {1}
    # Provinces: 320000 63.75 > 330000 60.
    assert cell(cells3, "province", "320000")["rank"] == 1 and cell(cells3, "province", "330000")["rank"] == 2
    # Prefectures within their province: 320200 (70) before 320100 (60); 330100 alone.
    assert cell(cells3, "prefecture", "320200")["rank"] == 1 and cell(cells3, "prefecture", "320100")["rank"] == 2
    assert cell(cells3, "prefecture", "330100")["rank"] == 1 and cell(cells3, "prefecture", "330100")["siblings"] == 1
    # Divisions: 39 (505 / 7 = 72.14) before 27 (245 / 5 = 49); division 13 has no filing.
    assert cell(cells3, "division", "39")["rank"] == 1 and cell(cells3, "division", "27")["rank"] == 2
    assert cell(cells3, "division", "13")["rank"] is None
    # County 320102 (n = 3) is suppressed as the complement of 320103 (n = 2): no rank, so
    # that the rank order does not bound the hidden mean.
    c = cell(cells3, "county", "320102")
    assert c["suppression_reason"] == "secondary" and c["rank"] is None
    # Sizes and the nation are not ranked.
    assert cell(cells3, "size", "small")["rank"] is None and cell(cells3, "size", "small")["siblings"] is None
    assert cell(cells3, "nation", "CN")["rank"] is None


def test_prefecture_division_cells_are_ranked_within_their_prefecture():
    cells = compute_cells(hand_scores(), hand_registry(), IndexParameters(min_cell_size=1), DIMS)
    # 320100: 39 → (80 + 70 + 50) / 3 = 66.7, 27 → (60 + 40) / 2 = 50; 320200: 39 → 72.5, 27 → 65.
    # Ranked within the prefecture, not within the province × division parent.
    assert cell(cells, "prefecture_division", "320100|39")["rank"] == 1
    assert cell(cells, "prefecture_division", "320100|27")["rank"] == 2
    assert cell(cells, "prefecture_division", "320200|39")["rank"] == 1
    assert cell(cells, "prefecture_division", "320200|27")["rank"] == 2
    assert cell(cells, "prefecture_division", "320100|39")["siblings"] == 2
    # Province × division within the province: 32|39 69 before 32|27 55.
    assert cell(cells, "province_division", "320000|39")["rank"] == 1
    assert cell(cells, "province_division", "320000|27")["rank"] == 2


def test_plain_change_and_balanced_panel_change_differ_in_sign():
    # Province 330000 last period: enterprises 9 (70), 10 (40), 11 (80) and 99 (70), which
    # has not filed this period → mean 260 / 4 = 65. Now 9 (75), 10 (45), 11 (85) and the
    # newcomer 12 (35) → mean 60. Plain change 60 − 65 = −5, yet every enterprise present
    # in both periods improved by 5: panel change +5 over 3 enterprises.
    previous_scores = pd.DataFrame({"enterprise_id": [9, 10, 11, 99, 1], "composite": [70.0, 40.0, 80.0, 70.0, 85.0]})
    previous_cells = pd.DataFrame(
        {
            "kind": ["province", "province", "nation"],
            "code": ["330000", "320000", "CN"],
            "mean": [65.0, 60.0, 61.0],
            "rank": [1, 2, None],
            "suppressed": [False, False, False],
        }
    )
    params = IndexParameters(min_cell_size=1)  # no disclosure control in the way here
    cells = compute_cells(hand_scores(), hand_registry(), params, DIMS, previous_scores, previous_cells)
    p33 = cell(cells, "province", "330000")
    assert p33["prev_mean"] == 65.0 and p33["change"] == pytest.approx(-5)
    assert p33["panel_n"] == 3 and p33["panel_change"] == pytest.approx(5)
    assert p33["prev_rank"] == 1 and p33["rank"] == 2 and p33["rank_change"] == -1  # moved down
    p32 = cell(cells, "province", "320000")
    assert p32["change"] == pytest.approx(3.75) and p32["rank_change"] == 1  # 2 → 1, moved up
    assert p32["panel_n"] == 1 and p32["panel_change"] == pytest.approx(80 - 85)  # enterprise 1 only
    nation = cell(cells, "nation", "CN")
    assert nation["change"] == pytest.approx(1.5) and nation["panel_n"] == 4
    assert nation["panel_change"] == pytest.approx((5 + 5 + 5 - 5) / 4)
    # A cell absent last period has no comparison.
    assert cell(cells, "county", "320205")["prev_mean"] is None and cell(cells, "county", "320205")["change"] is None


def test_development_index_and_performance_groups():
    cells = compute_cells(hand_scores(), hand_registry(), IndexParameters(min_cell_size=3), DIMS)
    # Base = this period: nation 100; 320000 100 · 63.75 / 62.5 = 102; 330000 96.
    assert cell(cells, "nation", "CN")["dev_index"] == pytest.approx(100)
    assert cell(cells, "province", "320000")["dev_index"] == pytest.approx(102)
    assert cell(cells, "province", "330000")["dev_index"] == pytest.approx(96)
    # Ratio to the national mean → group (leader ≥ 1.2, strong ≥ 1.0, moderate ≥ 0.8).
    assert cell(cells, "key_industry", "electronics")["performance_ratio"] == pytest.approx(1.2)  # 75 / 62.5
    assert cell(cells, "key_industry", "electronics")["performance_group"] == "leader"  # exactly at the threshold
    assert cell(cells, "province", "320000")["performance_group"] == "strong"  # 1.02
    assert cell(cells, "nation", "CN")["performance_group"] == "strong"  # 1.00
    assert cell(cells, "province", "330000")["performance_group"] == "moderate"  # 0.96
    assert cell(cells, "division", "27")["performance_ratio"] == pytest.approx(49 / 62.5)  # 0.784
    assert cell(cells, "division", "27")["performance_group"] == "emerging"
    # Too small for a group (n = 2 < 3); no filing at all.
    assert cell(cells, "size", "large")["performance_group"] == ""
    assert (
        cell(cells, "county", "330108")["performance_group"] == ""
        and cell(cells, "county", "330108")["dev_index"] is None
    )

    based = compute_cells(
        hand_scores(), hand_registry(), IndexParameters(min_cell_size=3, base_national_mean=50.0), DIMS
    )
    assert cell(based, "nation", "CN")["dev_index"] == pytest.approx(125)  # 100 · 62.5 / 50
    assert cell(based, "province", "320000")["dev_index"] == pytest.approx(127.5)
    assert cell(based, "province", "320000")["performance_ratio"] == pytest.approx(1.02)  # always this period's nation


def test_records_hold_plain_python_values(cells3):
    for row in cells3.to_dict("records"):
        for key in ("n", "registered"):
            assert type(row[key]) is int
        for key in ("rank", "siblings", "prev_rank", "rank_change", "panel_n"):
            assert row[key] is None or type(row[key]) is int
        for key in ("mean", "median", "std", "coverage", "dev_index"):
            assert row[key] is None or type(row[key]) is float
        assert type(row["suppressed"]) is bool and isinstance(row["suppression_reason"], str)
        assert isinstance(row["level_shares"], list) and isinstance(row["dimension_means"], dict)


def test_group_quantiles_equal_pandas_linear_interpolation():
    rng = np.random.default_rng(7)
    values = rng.normal(60, 15, 5000).round(1)  # rounded: many ties
    groups = rng.integers(0, 300, 5000)
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    ours, _, _ = group_quantiles(values, groups, 300, qs)
    theirs = pd.Series(values).groupby(groups).quantile(qs).unstack().reindex(range(300)).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_parameters_round_trip_and_validation():
    params = IndexParameters(weighting="revenue", base_national_mean=58.2, min_cell_size=3)
    data = params.to_dict()
    assert data["weighting"] == "revenue" and data["dominance_k"] == 0.85 and data["stability_factor"] == 2
    assert IndexParameters.from_dict(data) == params
    assert IndexParameters.from_dict({"min_cell_size": 4, "from_the_future": 1}) == IndexParameters(min_cell_size=4)
    assert IndexParameters.from_dict(None) == IndexParameters()
    with pytest.raises(ValueError):
        IndexParameters(weighting="employees")
    with pytest.raises(ValueError):
        IndexParameters(leader=0.9)
    with pytest.raises(AttributeError):
        params.min_cell_size = 10  # frozen


def test_input_checks():
    scores, registry = hand_scores(), hand_registry()
    with pytest.raises(ValueError, match="D3"):
        compute_cells(scores, registry, IndexParameters(), ["D1", "D3"])
    with pytest.raises(ValueError, match="one row per enterprise"):
        compute_cells(pd.concat([scores, scores.iloc[:1]]), registry, IndexParameters(), DIMS)
    broken = registry.copy()
    broken.loc[0, "province"] = "330000"  # prefecture 320100 now under two provinces
    with pytest.raises(ValueError, match="more than one parent"):
        compute_cells(scores, broken, IndexParameters(), DIMS)
    with pytest.raises(ValueError, match="missing codes"):
        compute_cells(scores.assign(county=None), registry, IndexParameters(), DIMS)


def test_empty_period_gives_registry_cells_only():
    scores = hand_scores().iloc[:0]
    cells = compute_cells(scores, hand_registry(), IndexParameters(), DIMS)
    nation = cell(cells, "nation", "CN")
    assert nation["n"] == 0 and nation["registered"] == 17 and nation["suppression_reason"] == "no_data"
    assert (cells["n"] == 0).all() and not cells["suppressed"].any()


def test_intervals_need_enough_filings_use_the_register_and_stay_in_0_100():
    """Finding 9: an interval of −159.5–311.8 (n = 2) was shown on an authority card."""
    params = IndexParameters(min_cell_size=3, interval_min_n=2)
    extra = pd.DataFrame([(100 + i, "320000", "320100", "320103", "39", "small", ()) for i in range(49)],
                         columns=CODE_COLUMNS)
    registry = pd.concat([hand_registry(), extra], ignore_index=True)  # 320103: 52 registered
    wide = cell(compute_statistics(hand_scores(), registry, params, DIMS), "county", "320103")
    # filings 4 and 5 (50, 40): t(0.975, 1) · 7.071 / √2 · √(50/51) = 62.9 around 45
    assert wide["n"] == 2 and wide["registered"] == 52
    assert wide["ci_low"] == 0.0 and wide["ci_high"] == 100.0  # clipped, not −17.9 … 107.9
    default = cell(compute_statistics(hand_scores(), hand_registry(), IndexParameters(), DIMS), "county", "320103")
    assert math.isnan(default["ci_low"]) and math.isnan(default["ci_high"])  # n = 2 < 10
    # a census (every registered enterprise filed) has no sampling error
    registry = hand_scores()[CODE_COLUMNS]
    census = cell(compute_statistics(hand_scores(), registry, IndexParameters(), DIMS), "nation", "CN")
    assert census["ci_low"] == census["ci_high"] == pytest.approx(62.5)


def test_rank_intervals_are_seeded_cover_the_rank_and_widen_with_overlap():
    params = IndexParameters(min_cell_size=3, interval_min_n=2)
    cells = compute_cells(hand_scores(), hand_registry(), params, DIMS)
    again = compute_cells(hand_scores(), hand_registry(), params, DIMS)
    ranked = cells[cells["rank"].notna()]
    assert len(ranked)
    for _, c in ranked.iterrows():
        assert 1 <= c["rank_low"] <= c["rank"] <= c["rank_high"] <= c["siblings"], (c["kind"], c["code"])
    assert cells["rank_low"].tolist() == again["rank_low"].tolist()  # seeded: the same run, the same intervals
    # the counties of 320100 overlap widely (n = 3 and 2-3 with spreads of 10-20 points): the intervals are
    # wider than one rank; with no sampling error (a census of every registered enterprise) they are the rank
    wide = ranked[ranked["siblings"] > 1]
    assert (wide["rank_high"] > wide["rank_low"]).any()
    census = compute_cells(hand_scores(), hand_scores()[CODE_COLUMNS], params, DIMS)
    exact = census[census["rank"].notna()]
    untied = exact[~exact.duplicated(["kind", "mean"], keep=False)]  # ties share a rank, draws break them
    assert len(untied) and (untied["rank_low"] == untied["rank"]).all() and (untied["rank_high"] == untied["rank"]).all()


def test_ranks_within_groups_equal_sorting_each_draw_by_value_then_group():
    """The rank intervals' ranks, computed by comparing the cells of each group, equal the
    definition: sort each draw by value (descending, ties: the earlier cell first), then by
    group (stable); a cell's rank is its place in its group. Groups of many sizes, ties
    within and across groups, one group drawn entirely equal (a census: no sampling error)."""
    from apps.indices.aggregation import _ranks_within_groups

    rng = np.random.default_rng(7)
    sizes = [1, 2, 3, 3, 5, 8, 31, 31, 40, 2]
    group = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    counts = np.bincount(group)
    draws = np.round(rng.normal(60, 5, (37, len(group))), 0)  # rounded: many ties
    draws[:, group == 5] = 61.0  # all tied in every draw
    by_value = np.argsort(-draws, axis=1, kind="stable")
    order = np.take_along_axis(by_value, np.argsort(group[by_value], axis=1, kind="stable"), axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    expected = np.empty(draws.shape, dtype=np.int32)
    np.put_along_axis(expected, order, np.arange(len(group)) - starts[group[order]] + 1, axis=1)
    ranks = _ranks_within_groups(draws, group, counts)
    assert ranks.dtype == np.int32 and (ranks == expected).all()
    tied = np.flatnonzero(group == 5)
    assert (ranks[:, tied] == np.arange(1, 9)).all()  # equal draws: in the cells' order
