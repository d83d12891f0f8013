"""Progress of targets: pure pandas/numpy/scipy, no ORM (method: docs/METHOD.md, 政策目标进展).

Inputs are plain frames; :func:`apps.policies.services.target_progress_recompute` loads the
published cells (through the reader-aware selectors) and saves what comes out.

Rule (per target, per published period t, as of that period — only periods up to t count):

* value A at t, baseline B = the value in the baseline period, target T due at ``target_year``
  (the period opening that year); the comparison is turned into "higher is better" by
  multiplying by −1 for "不高于" targets;
* the planned trajectory is the straight line from (t₀, B) to (target_year, T); the
  expected value E at t lies on it;
* t ≥ target_year: 已达成 (achieved) when A meets T, else 进度滞后 (off track);
* A already meets T, or A ≥ E: 进度正常 (on track);
* else, with a projection (≥ 3 published points): 存在风险 (at risk) when the favourable end
  of the 95 % prediction interval at the target year still meets T, else off track;
  without one: at risk when A has covered at least half of the planned change B → E,
  else off track;
* no value at t (cell missing, hidden or empty), or no baseline and no projection:
  无法评估 (not assessed).

Projection: ordinary least squares of the values on the period (decimal year) over the
published periods up to t; the prediction at the target year with its 95 % prediction
interval ŷ ± t₀.₉₇₅,ₙ₋₂ · s · √(1 + 1/n + (x* − x̄)² / Sxx) (Student t from scipy).
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
from scipy import stats

MIN_PROJECTION_POINTS = 3
HALF_WAY = 0.5
TOLERANCE = 1e-9

ACHIEVED, ON_TRACK, AT_RISK, OFF_TRACK, NOT_ASSESSED = "achieved", "on_track", "at_risk", "off_track", "not_assessed"


def decimal_year(day: datetime.date) -> float:
    """A period's place on the time axis: the year of its opening day plus the elapsed
    fraction of that year (2026-01-01 → 2026.0)."""
    return day.year + (day.timetuple().tm_yday - 1) / 365.25


def metric_value(cell: dict | None, metric: str, level_min: int | None, *, public: bool) -> tuple[float | None, bool, str]:
    """(value, hidden, reason) of ``metric`` read from one cell as a reader received it
    (a dict from ``apps.indices.readers.cells_for``). Shares and coverage in per cent.

    ``hidden`` is set when the reader may not see the value: the cell is suppressed for
    them, or (public view) the statistic is withheld although the cell has filings (an
    order statistic resting on too few filings)."""
    if cell is None:
        return None, False, "missing"
    if cell.get("hidden"):
        return None, True, cell.get("suppression_reason") or "suppressed"
    if metric == "coverage":
        value = None if cell.get("coverage") is None else cell["coverage"] * 100
    elif metric == "level_share":
        shares = cell.get("level_shares") or []
        value = float(sum(shares[(level_min or 1) - 1:])) * 100 if shares else None
    else:
        value = cell.get(metric)
    if value is None:
        withheld = public and bool(cell.get("n"))
        return None, withheld, "order_statistic" if withheld else "no_data"
    return float(value), False, ""


def _projection(points: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Linear fit of ``y`` (signed) on ``t`` per target, evaluated at ``target_year``; columns
    proj, half_width, n (index target_id). Only targets with ≥ MIN_PROJECTION_POINTS points
    at distinct times get a projection."""
    pts = points.dropna(subset=["y"])
    g = pts.groupby("target_id")
    n = g["y"].size()
    tbar = g["t"].mean()
    ybar = g["y"].mean()
    dt = pts["t"] - pts["target_id"].map(tbar)
    dy = pts["y"] - pts["target_id"].map(ybar)
    sxx = (dt * dt).groupby(pts["target_id"]).sum()
    sxy = (dt * dy).groupby(pts["target_id"]).sum()
    ok = (n >= MIN_PROJECTION_POINTS) & (sxx > TOLERANCE)
    slope = (sxy / sxx.where(ok)).where(ok)
    intercept = ybar - slope * tbar
    fitted = pts["target_id"].map(intercept) + pts["target_id"].map(slope) * pts["t"]
    sse = ((pts["y"] - fitted) ** 2).groupby(pts["target_id"]).sum()
    dof = (n - 2).where(ok)
    s = np.sqrt(sse / dof)
    x_star = targets.set_index("target_id")["target_year"].reindex(n.index).astype(float)
    proj = intercept + slope * x_star
    se = s * np.sqrt(1 + 1 / n + (x_star - tbar) ** 2 / sxx.where(ok))
    q = pd.Series(stats.t.ppf(0.975, dof.fillna(1).to_numpy()), index=n.index).where(ok)
    return pd.DataFrame({"proj": proj.where(ok), "half_width": (q * se).where(ok), "n": n.where(ok, 0)})


def progress_table(targets: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Status and projection of every target as of every published period.

    ``targets``: target_id, comparison ("gte"/"lte"), value, target_year, baseline_t.
    ``points``: target_id, run_id, t (decimal year of the period), actual (NaN when none),
    hidden, hidden_reason — one row per target and published run.

    Returns ``points`` with baseline, expected, status, projection, projection_low,
    projection_high, projection_points added.
    """
    out_cols = ["baseline", "expected", "status", "projection", "projection_low", "projection_high", "projection_points"]
    if points.empty:
        return points.assign(**{c: pd.Series(dtype=float) for c in out_cols})
    tg = targets.set_index("target_id")
    pts = points.copy()
    sign = pts["target_id"].map(tg["comparison"]).map({"gte": 1.0, "lte": -1.0})
    pts["y"] = pts["actual"].astype(float) * sign
    # the baseline is the value in the baseline period (same view), NaN if not published
    base_rows = pts[np.isclose(pts["t"], pts["target_id"].map(tg["baseline_t"]))]
    baseline_y = base_rows.groupby("target_id")["y"].first()

    pieces = []
    for t_k in sorted(pts["t"].unique()):
        upto = pts[pts["t"] <= t_k + TOLERANCE]
        proj = _projection(upto, targets)
        now = pts[np.isclose(pts["t"], t_k)].copy()
        tid = now["target_id"]
        s = sign.loc[now.index]
        T = tid.map(tg["value"]) * s
        ty = tid.map(tg["target_year"]).astype(float)
        t0 = tid.map(tg["baseline_t"])
        B = tid.map(baseline_y)
        A = now["y"]
        span = (ty - t0).where((ty - t0) > TOLERANCE)
        frac = ((t_k - t0) / span).clip(0, 1).fillna(1.0)
        E = B + (T - B) * frac
        P = tid.map(proj["proj"])
        H = tid.map(proj["half_width"])
        has_proj = P.notna()
        met = A >= T - TOLERANCE
        due = t_k >= ty - TOLERANCE
        favourable = P + H
        status = np.select(
            [
                A.isna(),
                due & met,
                due,
                met,
                B.notna() & (A >= E - TOLERANCE),
                has_proj & (favourable >= T - TOLERANCE),
                has_proj,
                B.isna(),
                (A - B) >= HALF_WAY * (E - B) - TOLERANCE,
            ],
            [NOT_ASSESSED, ACHIEVED, OFF_TRACK, ON_TRACK, ON_TRACK, AT_RISK, OFF_TRACK, NOT_ASSESSED, AT_RISK],
            default=OFF_TRACK,
        )
        now["status"] = status
        now["baseline"] = B * s
        now["expected"] = E * s
        now["projection"] = P * s
        lo, hi = (P - H) * s, (P + H) * s
        now["projection_low"] = np.fmin(lo, hi).where(has_proj)
        now["projection_high"] = np.fmax(lo, hi).where(has_proj)
        now["projection_points"] = tid.map(proj["n"]).fillna(0).astype(int)
        pieces.append(now)
    result = pd.concat(pieces).drop(columns=["y"]).sort_index()
    return result
