"""Synthetic but plausible answers, for the demo data set and the index benchmarks.

Pure numpy, no ORM. Each enterprise has a latent maturity in [0, 5]; every answer is that
maturity plus indicator-level noise, so dimension scores are correlated as they are in
real diagnoses. KPIs are drawn by inverting the indicator's own scoring thresholds, and a
share of KPIs is left missing (not measured).
"""

import numpy as np

from apps.frameworks import scoring


def synthetic_answers(
    compiled: scoring.CompiledFramework,
    maturity: np.ndarray,
    rng: np.random.Generator,
    *,
    kpi_missing_share: float = 0.08,
    noise: float = 0.7,
) -> np.ndarray:
    """An ``n × m`` encoded answer matrix for enterprises of the given ``maturity`` (0–5)."""
    maturity = np.clip(np.asarray(maturity, dtype=float), 0, 5)
    n, m = maturity.shape[0], compiled.n_indicators
    latent = maturity[:, None] + rng.normal(0, noise, size=(n, m))
    share = np.clip(latent / 5.0, 0, 1)  # 0..1 per answer
    A = np.empty((n, m))
    kinds = compiled.kinds
    rubric = np.flatnonzero(kinds == scoring.RUBRIC)
    A[:, rubric] = np.clip(np.rint(latent[:, rubric]), 0, 5)
    yesno = np.flatnonzero(kinds == scoring.YESNO)
    A[:, yesno] = (rng.random((n, yesno.size)) < share[:, yesno]).astype(float)
    for j, items in compiled.checklist_items.items():
        checked = rng.random((n, len(items))) < share[:, j : j + 1]
        A[:, j] = checked @ (1 << np.arange(len(items)))
    for j, (values, scores) in compiled.kpi_thresholds.items():
        target = np.clip(share[:, j] * 100 + rng.normal(0, 8, n), scores.min(), scores.max())
        order = np.argsort(scores, kind="stable")  # np.interp needs ascending x
        value = np.interp(target, scores[order], values[order])
        low, high = compiled.kpi_bounds[j]
        A[:, j] = np.round(np.clip(value, low, high), 2)
        A[rng.random(n) < kpi_missing_share, j] = np.nan
    return A
