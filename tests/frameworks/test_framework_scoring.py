"""The scoring method (apps.frameworks.scoring): pure functions, no database.

Expected values are worked out by hand in the comments; the example enterprise is the one
of docs/METHOD.md. The small framework (tests/frameworks/framework_specs.py):

    D1 工作机制 W=0.4: D1.01 rubric w=0.5 · D1.02 yesno w=0.2 · D1.03 checklist w=0.3
                       (items a=2, b=1, c=1) · M.01 rubric w=0.25 (module "bio" only)
    D2 质量成效 W=0.6: D2.01 kpi higher w=0.6, thresholds (80,0) (95,70) (99,100)
                       D2.02 kpi lower  w=0.4, thresholds (100,100) (1000,60) (10000,0)
    levels (min composite / min dimension): L1 0/0, L2 30/15, L3 50/30, L4 70/50, L5 85/70
"""

import math

import numpy as np
import pytest

from apps.frameworks.scoring import (
    SCORING_CODE_VERSION,
    biggest_gaps,
    compile_spec,
    decode_answers,
    encode_answers,
    module_membership,
    pack_answers,
    score_answers,
    score_matrix,
    unpack_answers,
)
from tests.frameworks.framework_specs import small_spec

# The example enterprise of docs/METHOD.md (not in the module's industries).
EXAMPLE = {"D1.01": 3, "D1.02": True, "D1.03": ["a", "c"], "D2.01": 97.0, "D2.02": 550.0}


@pytest.fixture(scope="module")
def compiled():
    return compile_spec(small_spec(), framework_id=7)


def one(compiled, answers, modules=()):
    result = score_answers(compiled, answers, modules)
    return result.row(compiled)


def test_compiled_order_and_arrays(compiled):
    assert compiled.indicator_codes == ("D1.01", "D1.02", "D1.03", "M.01", "D2.01", "D2.02")
    assert compiled.dimension_codes == ("D1", "D2")
    assert list(compiled.dimension_index) == [0, 0, 0, 0, 1, 1]
    assert list(compiled.module_index) == [-1, -1, -1, 0, -1, -1]
    assert compiled.framework_id == 7
    assert compiled.level_name(4) == "预防级"
    with pytest.raises(ValueError):
        compiled.weights[0] = 1  # frozen arrays


def test_example_enterprise_worked_by_hand(compiled):
    row = one(compiled, EXAMPLE)
    s = row["indicator_scores"]
    assert s["D1.01"] == pytest.approx(60)  # level 3 × 20
    assert s["D1.02"] == pytest.approx(100)  # yes
    assert s["D1.03"] == pytest.approx(75)  # a + c = (2 + 1) / (2 + 1 + 1) = 0.75
    assert s["M.01"] is None  # module "bio" does not apply
    assert s["D2.01"] == pytest.approx(85)  # 70 + (97 − 95) / (99 − 95) × (100 − 70) = 70 + 15
    assert s["D2.02"] == pytest.approx(80)  # 100 + (550 − 100) / (1000 − 100) × (60 − 100) = 100 − 20
    # D1 = 0.5×60 + 0.2×100 + 0.3×75 = 30 + 20 + 22.5 = 72.5
    # D2 = 0.6×85 + 0.4×80 = 51 + 32 = 83
    assert row["dimension_scores"] == pytest.approx({"D1": 72.5, "D2": 83})
    # composite = 0.4×72.5 + 0.6×83 = 29 + 49.8 = 78.8 → L4 (≥70 and both dimensions ≥50), not L5 (<85)
    assert row["composite"] == pytest.approx(78.8)
    assert row["level"] == 4
    assert row["scoring_code_version"] == SCORING_CODE_VERSION


def test_module_applies_and_weights_are_renormalised(compiled):
    row = one(compiled, {**EXAMPLE, "M.01": 1}, modules=["bio"])
    assert row["indicator_scores"]["M.01"] == pytest.approx(20)  # level 1 × 20
    # D1 = (0.5×60 + 0.2×100 + 0.3×75 + 0.25×20) / (0.5 + 0.2 + 0.3 + 0.25) = 77.5 / 1.25 = 62
    assert row["dimension_scores"]["D1"] == pytest.approx(62)
    # composite = 0.4×62 + 0.6×83 = 24.8 + 49.8 = 74.6 → still L4
    assert row["composite"] == pytest.approx(74.6)
    assert row["level"] == 4


def test_module_indicator_unanswered_scores_zero_where_it_applies(compiled):
    row = one(compiled, EXAMPLE, modules=["bio"])
    assert row["indicator_scores"]["M.01"] == 0
    # D1 = 72.5 / 1.25 = 58 (the same points over a larger weight)
    assert row["dimension_scores"]["D1"] == pytest.approx(58)


def test_missing_answer_scores_zero(compiled):
    answers = dict(EXAMPLE)
    del answers["D2.02"]  # not measured
    row = one(compiled, answers)
    assert row["indicator_scores"]["D2.02"] == 0  # not NaN: it applies and counts as 0
    # D2 = 0.6×85 + 0.4×0 = 51; composite = 0.4×72.5 + 0.6×51 = 29 + 30.6 = 59.6 → L3 (≥50, dims ≥30)
    assert row["dimension_scores"]["D2"] == pytest.approx(51)
    assert row["composite"] == pytest.approx(59.6)
    assert row["level"] == 3


def test_nothing_answered_is_level_one(compiled):
    row = one(compiled, {})
    assert row["composite"] == 0
    assert row["level"] == 1


def test_level_is_gated_by_the_weakest_dimension(compiled):
    answers = {
        "D1.01": 0,  # 0
        "D1.02": True,  # 100
        "D1.03": ["b"],  # 1/4 → 25
        "D2.01": 99.5,  # above the last threshold 99 → clamped to 100
        "D2.02": 50.0,  # below the first threshold 100 ppm → clamped to 100
    }
    row = one(compiled, answers)
    # D1 = 0.5×0 + 0.2×100 + 0.3×25 = 20 + 7.5 = 27.5; D2 = 100
    assert row["dimension_scores"] == pytest.approx({"D1": 27.5, "D2": 100})
    # composite = 0.4×27.5 + 0.6×100 = 11 + 60 = 71 ≥ 70 (the L4 composite threshold) ...
    assert row["composite"] == pytest.approx(71)
    # ... but D1 27.5 < 30 fails the floor of L3 and L4; L2 needs 30 / 15 → L2
    assert row["level"] == 2


def test_level_threshold_reached_exactly(compiled):
    # D1: level 5 → 100 in D1.01 only: 0.5×100 = 50 ; D2.01 at 95 → 70, D2.02 at 1000 → 60: D2 = 42 + 24 = 66
    row = one(compiled, {"D1.01": 5, "D2.01": 95.0, "D2.02": 1000.0})
    assert row["dimension_scores"] == pytest.approx({"D1": 50, "D2": 66})
    # composite = 0.4×50 + 0.6×66 = 20 + 39.6 = 59.6 → L3; floors 30 ok; L4 needs 70 → L3
    assert row["level"] == 3
    # Exactly on both L4 thresholds counts as reached: D1.01=5, D1.02 yes, D1.03 all → D1 = 100;
    # D2.01 = 95 → 70, D2.02 = 7000 → 60 + 6000/9000 × (0 − 60) = 20: D2 = 0.6×70 + 0.4×20 = 50;
    # composite = 0.4×100 + 0.6×50 = 70 and the weakest dimension is 50 → L4 (70 / 50)
    row = one(compiled, {"D1.01": 5, "D1.02": True, "D1.03": ["a", "b", "c"], "D2.01": 95.0, "D2.02": 7000.0})
    assert row["dimension_scores"] == pytest.approx({"D1": 100, "D2": 50})
    assert row["composite"] == pytest.approx(70)
    assert row["level"] == 4


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.0, 0),  # below the first threshold 80 → clamped to 0
        (80.0, 0),
        (87.5, 35),  # 0 + (87.5 − 80) / (95 − 80) × 70 = 0.5 × 70
        (95.0, 70),
        (98.0, 92.5),  # 70 + (98 − 95) / 4 × 30 = 70 + 22.5
        (99.0, 100),
        (100.0, 100),  # above the last threshold → clamped to 100
    ],
)
def test_kpi_higher_is_better(compiled, value, expected):
    assert one(compiled, {"D2.01": value})["indicator_scores"]["D2.01"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.0, 100),  # below the first threshold 100 → clamped to 100
        (100.0, 100),
        (325.0, 90),  # 100 + (325 − 100) / 900 × (60 − 100) = 100 − 10
        (1000.0, 60),
        (5500.0, 30),  # 60 + (5500 − 1000) / 9000 × (0 − 60) = 60 − 30
        (10000.0, 0),
        (250000.0, 0),  # above the last threshold → clamped to 0
    ],
)
def test_kpi_lower_is_better(compiled, value, expected):
    assert one(compiled, {"D2.02": value})["indicator_scores"]["D2.02"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "checked, mask, expected",
    [
        ([], 0, 0),
        (["a"], 1, 50),  # 2 / 4
        (["b"], 2, 25),  # 1 / 4
        (["b", "c"], 6, 50),  # (1 + 1) / 4
        (["c", "a"], 5, 75),  # order of the list does not matter: (2 + 1) / 4
        (["a", "b", "c"], 7, 100),
    ],
)
def test_checklist_bitmask(compiled, checked, mask, expected):
    row = encode_answers(compiled, {"D1.03": checked})
    assert row[compiled.columns["D1.03"]] == mask
    assert one(compiled, {"D1.03": checked})["indicator_scores"]["D1.03"] == pytest.approx(expected)


@pytest.mark.parametrize("level", range(6))
def test_rubric_level_times_twenty(compiled, level):
    assert one(compiled, {"D1.01": level})["indicator_scores"]["D1.01"] == 20 * level


def test_yesno(compiled):
    assert one(compiled, {"D1.02": True})["indicator_scores"]["D1.02"] == 100
    assert one(compiled, {"D1.02": False})["indicator_scores"]["D1.02"] == 0


@pytest.mark.parametrize(
    "answers",
    [
        {"D1.01": 6},
        {"D1.01": 2.5},
        {"D1.01": True},
        {"D1.02": 1},
        {"D1.03": ["z"]},
        {"D1.03": "a"},
        {"D2.01": 101.0},
        {"D2.01": "95"},
        {"NOPE": 1},
    ],
)
def test_encode_refuses_invalid_answers(compiled, answers):
    with pytest.raises(ValueError):
        encode_answers(compiled, answers)


def test_score_matrix_refuses_invalid_encoded_answers(compiled):
    A = np.full((3, compiled.n_indicators), np.nan)
    A[2, compiled.columns["D1.01"]] = 7
    with pytest.raises(ValueError, match="row 2, indicator D1.01"):
        score_matrix(compiled, A)


def test_encode_decode_round_trip_and_packing(compiled):
    answers = {**EXAMPLE, "M.01": 2}
    row = encode_answers(compiled, answers)
    assert decode_answers(compiled, row) == {**answers, "D1.03": ["a", "c"]}
    unpacked = unpack_answers(pack_answers(row), compiled)
    assert decode_answers(compiled, unpacked) == decode_answers(compiled, row)
    assert math.isnan(encode_answers(compiled, {})[0])


def test_a_kpi_bound_survives_float32_packing():
    spec = small_spec()
    spec["dimensions"][1]["indicators"][0]["max_value"] = 99.9  # not exact in float32
    compiled = compile_spec(spec)
    row = unpack_answers(pack_answers(encode_answers(compiled, {"D2.01": 99.9})), compiled)
    assert row[compiled.columns["D2.01"]] > 99.9  # 99.90000152587891
    assert score_matrix(compiled, row[None, :]).indicator_scores[0, compiled.columns["D2.01"]] == 100


def test_module_membership_by_industry_prefix_and_key_industry(compiled):
    membership = module_membership(
        compiled,
        ["27", "2710", "358", "39", "2"],
        [[], [], ["biomedicine"], ["electronics"], []],
    )
    # "27" and its class "2710" by code; "358" by its key-industry tag; "39" and "2" not
    assert membership[:, 0].tolist() == [True, True, True, False, False]


def _slow_reference(spec, answers_row, member):
    """Row-by-row reference of the method, written independently of the vectorised code."""
    codes, scores, weights, dims = [], [], [], []
    for d in spec["dimensions"]:
        for ind in d["indicators"]:
            if ind.get("module") and not member:
                continue
            value = answers_row.get(ind["code"])
            if value is None:
                s = 0.0
            elif ind["kind"] == "rubric":
                s = 20.0 * value
            elif ind["kind"] == "yesno":
                s = 100.0 if value else 0.0
            elif ind["kind"] == "checklist":
                total = sum(item["weight"] for item in ind["items"])
                s = 100.0 * sum(item["weight"] for item in ind["items"] if item["code"] in value) / total
            else:
                pts = ind["thresholds"]
                if value <= pts[0][0]:
                    s = pts[0][1]
                elif value >= pts[-1][0]:
                    s = pts[-1][1]
                else:
                    k = next(k for k in range(1, len(pts)) if value <= pts[k][0])
                    (x0, y0), (x1, y1) = pts[k - 1], pts[k]
                    s = y0 + (value - x0) / (x1 - x0) * (y1 - y0)
            codes.append(ind["code"])
            scores.append(s)
            weights.append(ind["weight"])
            dims.append(d["code"])
    dimension_scores = {}
    for d in spec["dimensions"]:
        num = sum(w * s for w, s, dc in zip(weights, scores, dims, strict=True) if dc == d["code"])
        den = sum(w for w, dc in zip(weights, dims, strict=True) if dc == d["code"])
        dimension_scores[d["code"]] = num / den
    composite = sum(d["weight"] * dimension_scores[d["code"]] for d in spec["dimensions"])
    level = 1
    for lv in spec["levels"]:
        if composite >= lv["min_composite"] - 1e-9 and min(dimension_scores.values()) >= lv["min_dimension"] - 1e-9:
            level = max(level, lv["rank"])
    return dict(zip(codes, scores, strict=True)), dimension_scores, composite, level


def test_vectorised_equals_row_by_row_reference_on_1000_random_rows(compiled):
    spec = small_spec()
    rng = np.random.default_rng(20260101)
    n = 1000
    rows, members = [], rng.random(n) < 0.3
    for _ in range(n):
        answers = {}
        if rng.random() < 0.9:
            answers["D1.01"] = int(rng.integers(0, 6))
        if rng.random() < 0.9:
            answers["D1.02"] = bool(rng.random() < 0.5)
        if rng.random() < 0.9:
            answers["D1.03"] = [c for c in "abc" if rng.random() < 0.5]
        if rng.random() < 0.9:
            answers["M.01"] = int(rng.integers(0, 6))
        if rng.random() < 0.8:
            answers["D2.01"] = float(rng.uniform(0, 100))
        if rng.random() < 0.8:
            answers["D2.02"] = float(rng.choice([rng.uniform(0, 20000), rng.uniform(0, 1000000)]))
        rows.append(answers)
    A = np.vstack([encode_answers(compiled, r) for r in rows])
    result = score_matrix(compiled, A, members[:, None])
    levels_seen = set()
    for i, (answers, member) in enumerate(zip(rows, members, strict=True)):
        indicator_scores, dimension_scores, composite, level = _slow_reference(spec, answers, member)
        for code, value in indicator_scores.items():
            assert result.indicator_scores[i, compiled.columns[code]] == pytest.approx(value, abs=1e-9)
        if not member:
            assert np.isnan(result.indicator_scores[i, compiled.columns["M.01"]])
        assert result.dimension_scores[i].tolist() == pytest.approx(list(dimension_scores.values()), abs=1e-9)
        assert result.composite[i] == pytest.approx(composite, abs=1e-9)
        assert result.level[i] == level
        levels_seen.add(level)
    assert len(levels_seen) >= 3  # the random answers exercise several levels


def test_single_and_matrix_paths_agree(compiled):
    single = score_answers(compiled, EXAMPLE)
    A = np.vstack([encode_answers(compiled, EXAMPLE)] * 3)
    many = score_matrix(compiled, A, np.zeros((3, 1), dtype=bool))
    np.testing.assert_array_equal(many.composite, np.repeat(single.composite, 3))
    np.testing.assert_array_equal(many.indicator_scores[1], single.indicator_scores[0])


def test_biggest_gaps_of_the_example(compiled):
    scores = score_answers(compiled, EXAMPLE).indicator_scores[0]
    gaps = biggest_gaps(compiled, scores, k=3)
    # points lost = w × W × (100 − s):
    #   D1.01 0.5×0.4×40 = 8   D1.02 0   D1.03 0.3×0.4×25 = 3
    #   D2.01 0.6×0.6×15 = 5.4 D2.02 0.4×0.6×20 = 4.8   (M.01 not applicable)
    assert [(g.code, round(g.points, 9)) for g in gaps] == [("D1.01", 8), ("D2.01", 5.4), ("D2.02", 4.8)]
    assert gaps[0].level == 3 and gaps[0].next_level == 4
    assert gaps[0].next_level_descriptor == "领导作用：第4级描述"
    assert gaps[1].next_level is None


def test_biggest_gaps_use_renormalised_weights_and_skip_full_scores(compiled):
    scores = score_answers(
        compiled, {"D1.01": 5, "D1.02": True, "D1.03": ["a", "b", "c"], "M.01": 0, "D2.01": 99.0, "D2.02": 0.0},
        ["bio"],
    ).indicator_scores[0]
    # only M.01 loses points: 0.25 / 1.25 × 0.4 × 100 = 8
    gaps = biggest_gaps(compiled, scores, k=3)
    assert [(g.code, round(g.points, 9)) for g in gaps] == [("M.01", 8)]
    assert gaps[0].next_level_descriptor == "数据完整性：第1级描述"
