"""Support impact: supported enterprises' change of composite score against matched
enterprises that were not supported — a difference in differences, pure pandas/numpy/scipy
(method and worked example: docs/METHOD.md, 政策支持效果).

* panel: enterprises with a published score in both periods (before, after); change =
  after − before;
* treated: supported panel enterprises; candidates: panel enterprises never supported by
  the measures looked at;
* matching: for each treated enterprise the candidate of the same division and size class
  (as filed in the before period) with the nearest before-score, with replacement (a
  candidate can serve several treated enterprises); ties go to the lower score, then the
  lower enterprise id; no candidate within ``caliper`` points → unmatched, left out;
* estimate: the mean over matched pairs of (treated change − control change), with the
  95 % confidence interval of a one-sample t test of these differences (scipy);
* fewer than ``min_n`` matched treated enterprises or distinct controls → not enough data,
  no number.

This is an association between support and change, not proof that support caused it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_CALIPER = 10.0
DEFAULT_MIN_N = 5


@dataclass(frozen=True)
class ImpactEstimate:
    enough: bool
    treated: int  # matched supported enterprises
    controls: int  # distinct matched non-supported enterprises
    supported_in_panel: int
    unmatched: int
    candidates: int
    treated_before: float | None = None
    treated_after: float | None = None
    control_before: float | None = None
    control_after: float | None = None
    did: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def treated_change(self) -> float | None:
        return None if self.treated_after is None else self.treated_after - self.treated_before

    @property
    def control_change(self) -> float | None:
        return None if self.control_after is None else self.control_after - self.control_before


def match_nearest(treated: pd.DataFrame, candidates: pd.DataFrame, caliper: float = DEFAULT_CALIPER) -> np.ndarray:
    """For each row of ``treated`` (columns stratum, before, enterprise_id) the position in
    ``candidates`` (same columns) of its match, or −1. Vectorised: one sort and one
    searchsorted over keys stratum·K + score."""
    if treated.empty or candidates.empty:
        return np.full(len(treated), -1)
    span = 1000.0  # scores lie in 0..100: strata never overlap on the key axis
    order = np.lexsort((candidates["enterprise_id"].to_numpy(), candidates["before"].to_numpy(),
                        candidates["stratum"].to_numpy()))
    c_stratum = candidates["stratum"].to_numpy()[order]
    c_score = candidates["before"].to_numpy(float)[order]
    c_key = c_stratum * span + c_score
    t_stratum = treated["stratum"].to_numpy()
    t_score = treated["before"].to_numpy(float)
    t_key = t_stratum * span + t_score
    right = np.searchsorted(c_key, t_key, side="left")  # first candidate with key ≥ treated key
    left = right - 1
    # the left neighbour: the highest candidate below; ties at equal distance go to it (lower
    # score). Among equal scores the first (lower id) is at ``right``, the last at ``left``:
    # step the left neighbour back to the first of its run of equal keys.
    left_ok = left >= 0
    left_c = np.clip(left, 0, len(c_key) - 1)
    first_of_run = np.searchsorted(c_key, c_key[left_c], side="left")
    left = np.where(left_ok, first_of_run, -1)
    right_ok = right < len(c_key)
    right_c = np.clip(right, 0, len(c_key) - 1)
    same_left = left_ok & (c_stratum[np.clip(left, 0, None)] == t_stratum)
    same_right = right_ok & (c_stratum[right_c] == t_stratum)
    d_left = np.where(same_left, t_score - c_score[np.clip(left, 0, None)], np.inf)
    d_right = np.where(same_right, c_score[right_c] - t_score, np.inf)
    take_right = d_right < d_left
    pick = np.where(take_right, right_c, np.clip(left, 0, None))
    dist = np.minimum(d_left, d_right)
    found = np.isfinite(dist) & (dist <= caliper + 1e-9)
    return np.where(found, order[pick], -1)


def estimate_impact(panel: pd.DataFrame, supported: set | np.ndarray, *, caliper: float = DEFAULT_CALIPER,
                    min_n: int = DEFAULT_MIN_N, excluded: set | np.ndarray | None = None) -> ImpactEstimate:
    """Difference in differences of ``panel`` (enterprise_id, division, size, before, after)
    between ``supported`` enterprises and matched ones that are neither supported nor in
    ``excluded`` (e.g. supported by the measure outside the window)."""
    panel = panel.dropna(subset=["before", "after"])
    is_treated = panel["enterprise_id"].isin(np.asarray(list(supported) if isinstance(supported, set) else supported))
    not_candidate = is_treated
    if excluded is not None and len(excluded):
        not_candidate = not_candidate | panel["enterprise_id"].isin(np.asarray(list(excluded) if isinstance(excluded, set) else excluded))
    strata = panel["division"].astype(str) + "|" + panel["size"].astype(str)
    codes = pd.factorize(strata)[0]
    frame = panel.assign(stratum=codes)
    treated = frame[is_treated.to_numpy()].reset_index(drop=True)
    candidates = frame[~not_candidate.to_numpy()].reset_index(drop=True)
    match = match_nearest(treated, candidates, caliper)
    ok = match >= 0
    t = treated[ok]
    c = candidates.iloc[match[ok]]
    n_treated, n_controls = len(t), int(c["enterprise_id"].nunique())
    base = dict(treated=n_treated, controls=n_controls, supported_in_panel=len(treated),
                unmatched=int((~ok).sum()), candidates=len(candidates))
    if n_treated < min_n or n_controls < min_n:
        return ImpactEstimate(enough=False, **base)
    diffs = (t["after"].to_numpy() - t["before"].to_numpy()) - (c["after"].to_numpy() - c["before"].to_numpy())
    test = stats.ttest_1samp(diffs, 0.0)
    ci = test.confidence_interval(0.95)
    return ImpactEstimate(
        enough=True, **base,
        treated_before=float(t["before"].mean()), treated_after=float(t["after"].mean()),
        control_before=float(c["before"].mean()), control_after=float(c["after"].mean()),
        did=float(diffs.mean()), ci_low=float(ci.low), ci_high=float(ci.high),
    )
