"""Review scores: one reviewer's weighted total and the robust score of an application
(pure numpy, no ORM). Method in docs/METHOD.md is the call's recorded rule:

* a reviewer's total is the weighted mean of its criterion scores mapped to 0–100
  (a 1–5 scale maps 1 → 0 and 5 → 100);
* trimmed mean: the highest and the lowest total are dropped when there are at least three
  reviews (with fewer, the plain mean); median: the median of the totals;
* spread: highest total minus lowest; disagreement when the spread exceeds the call's
  threshold (on the 0–100 scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def reviewer_total(scores: dict[str, float], weights: dict[str, float], bounds: tuple[float, float]) -> float:
    """Weighted mean of ``scores`` (criterion code -> value on ``bounds``) on 0–100."""
    low, high = bounds
    codes = list(weights)
    w = np.array([weights[c] for c in codes], dtype=float)
    v = (np.array([float(scores[c]) for c in codes]) - low) / (high - low) * 100.0
    return float(np.dot(w, v) / w.sum()) if w.sum() > 0 else float(v.mean())


@dataclass(frozen=True)
class Robust:
    score: float
    spread: float
    disagreement: bool
    n: int


def robust_score(totals: list[float], *, method: str, threshold: float) -> Robust:
    """The call's robust score of one application's reviewer totals."""
    t = np.sort(np.asarray(totals, dtype=float))
    if t.size == 0:
        raise ValueError("no reviews")
    if method == "median":
        score = float(np.median(t))
    elif method == "trimmed_mean":
        score = float(t[1:-1].mean()) if t.size >= 3 else float(t.mean())
    else:
        raise ValueError(f"unknown aggregation {method!r}")
    spread = float(t[-1] - t[0])
    return Robust(score=round(score, 2), spread=round(spread, 2), disagreement=spread > threshold, n=int(t.size))
