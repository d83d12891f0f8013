"""Support impact on a small hand-made population, computed by hand (docs/METHOD.md,
政策支持效果 — the worked example)."""

import numpy as np
import pandas as pd
import pytest

from apps.policies.impact import estimate_impact, match_nearest

# enterprise_id, division, size, before, after
POPULATION = [
    (1, "39", "small", 50, 60),   # T1 Δ10
    (2, "39", "small", 60, 66),   # T2 Δ6
    (3, "39", "small", 40, 45),   # T3 Δ5
    (11, "39", "small", 52, 55),  # C1 Δ3
    (12, "39", "small", 58, 60),  # C2 Δ2
    (13, "39", "small", 41, 43),  # C3 Δ2
    (14, "39", "small", 70, 71),  # C4 Δ1 (nobody's nearest)
    (4, "36", "medium", 30, 38),  # T4 Δ8
    (5, "36", "medium", 70, 72),  # T5 Δ2
    (15, "36", "medium", 33, 35),  # C5 Δ2
    (16, "36", "medium", 69, 70),  # C6 Δ1
    (17, "36", "small", 30, 50),   # same division, other size: never a match for T4
    (6, "27", "large", 55, 65),    # T6: no candidate of its stratum → unmatched
]
SUPPORTED = {1, 2, 3, 4, 5, 6}


def panel():
    return pd.DataFrame(POPULATION, columns=["enterprise_id", "division", "size", "before", "after"])


def test_worked_example_by_hand():
    est = estimate_impact(panel(), SUPPORTED)
    # pairs: T1–C1, T2–C2, T3–C3, T4–C5, T5–C6; differences 7, 4, 3, 6, 1
    assert est.enough and est.treated == 5 and est.controls == 5 and est.unmatched == 1
    assert est.supported_in_panel == 6 and est.candidates == 7
    assert est.treated_before == pytest.approx(50) and est.treated_after == pytest.approx(56.2)
    assert est.control_before == pytest.approx(50.6) and est.control_after == pytest.approx(52.6)
    assert est.did == pytest.approx(4.2)
    # s² = 22.8 / 4 = 5.7, se = √(5.7 / 5), t(0.975, 4) = 2.776445
    half = 2.776445105 * np.sqrt(5.7 / 5)
    assert est.ci_low == pytest.approx(4.2 - half, rel=1e-6) and est.ci_high == pytest.approx(4.2 + half, rel=1e-6)
    assert est.ci_low == pytest.approx(1.2356, abs=1e-4) and est.ci_high == pytest.approx(7.1644, abs=1e-4)


def test_too_few_on_either_side_gives_no_number():
    est = estimate_impact(panel(), SUPPORTED, min_n=6)
    assert not est.enough and est.did is None and est.ci_low is None and est.treated == 5
    # one control serving every treated enterprise: enough treated, too few controls
    one = pd.DataFrame([(i, "39", "small", 50 + i * 0.1, 55) for i in range(1, 7)] + [(99, "39", "small", 50, 52)],
                       columns=["enterprise_id", "division", "size", "before", "after"])
    est = estimate_impact(one, {1, 2, 3, 4, 5, 6})
    assert est.treated == 6 and est.controls == 1 and not est.enough


def test_caliper_and_ties():
    p = panel()
    # with a 1.5-point caliper T1 (50 vs C1 52), T2 (60 vs 58) and T4 (30 vs 33) find nobody
    est = estimate_impact(p, SUPPORTED, caliper=1.5, min_n=1)
    assert est.treated == 2 and est.unmatched == 4
    # equal distance: the lower score wins; equal scores: the lower id
    t = pd.DataFrame({"stratum": [0, 0], "before": [50.0, 40.0], "enterprise_id": [1, 2]})
    c = pd.DataFrame({"stratum": [0, 0, 0, 1], "before": [52.0, 48.0, 40.0, 40.0], "enterprise_id": [7, 8, 9, 3]})
    assert list(match_nearest(t, c)) == [1, 2]
    c2 = pd.DataFrame({"stratum": [0, 0], "before": [40.0, 40.0], "enterprise_id": [9, 4]})
    assert list(match_nearest(t.iloc[[1]], c2)) == [1]


def test_excluded_enterprises_are_no_controls():
    est = estimate_impact(panel(), SUPPORTED, excluded={11}, min_n=1)
    # T1 now matches C2 (58, distance 8) rather than C1 → difference 10 − 2 = 8
    assert est.treated == 5 and est.did == pytest.approx((8 + 4 + 3 + 6 + 1) / 5)
