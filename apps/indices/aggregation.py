"""Aggregate cells of an index run: pure pandas/numpy/scipy, no database.

:func:`compute_cells` turns the accepted filings of one period into every aggregate cell
(nation, province, prefecture, county, division, key industry, size class, province ×
division, prefecture × division), applies disclosure control
(:mod:`apps.indices.disclosure`) and returns one row per cell whose columns are named
like the fields of ``apps.indices.models.IndexCell``. The method is described in
docs/METHOD.md, section "指数与发布规则 / Indices and disclosure control".

Inputs
------
``scores`` — one row per accepted filing of the period (one filing per enterprise):

    enterprise_id   int
    province        str, 6-digit GB/T 2260 code of the province ("320000")
    prefecture      str, 6-digit code of the prefecture-level unit ("320100")
    county          str, 6-digit code of the county-level unit ("320102")
    division        str, 2-digit GB/T 4754 manufacturing division ("39")
    size_class      "large" | "medium" | "small" | "micro"
    key_industries  tuple of key-industry slugs, possibly empty
    revenue         float, 万元 (only used by ``weighting="revenue"``; NaN/negative → weight 0)
    composite       float 0–100
    level           int 1–5
    <dimension>     one float column per code in ``dimension_codes`` (e.g. D1..D5)

``registry`` — one row per active registered enterprise: province, prefecture, county,
division, size_class and (optionally) key_industries. It gives the denominators of
coverage; a region or industry that appears only here still gets a cell (n = 0).

``previous_scores`` (optional) — enterprise_id, composite of the previous period's
published run: the balanced panel.

``previous_cells`` (optional) — kind, code, mean, rank, suppressed (and, if available, n)
of the previous period's published run.

Computation
-----------
Everything is vectorised: for each of the nine cell kinds the filings (and the registry
rows) get an integer cell id, and every statistic is a ``numpy.bincount`` over that id or
an index into the filings sorted by (cell id, composite). The only Python loops are over
the cell kinds and, when building the output, over cells (a few thousand), never over
enterprises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from apps.indices import disclosure

NATION_CODE = "CN"
KEY_SEPARATOR = "|"

# Cell kinds (values of apps.indices.models.CellKind), in output order.
NATION = "nation"
PROVINCE = "province"
PREFECTURE = "prefecture"
COUNTY = "county"
DIVISION = "division"
KEY_INDUSTRY = "key_industry"
SIZE = "size"
PROVINCE_DIVISION = "province_division"
PREFECTURE_DIVISION = "prefecture_division"
CELL_KINDS = (
    NATION,
    PROVINCE,
    PREFECTURE,
    COUNTY,
    DIVISION,
    KEY_INDUSTRY,
    SIZE,
    PROVINCE_DIVISION,
    PREFECTURE_DIVISION,
)
# Kinds whose cells are ranked among their siblings (sizes and the nation are not).
RANKED_KINDS = frozenset(CELL_KINDS) - {NATION, SIZE}

SIZE_CLASSES = ("large", "medium", "small", "micro")
# weighting="size": an enterprise counts with the weight of its size class. The weights
# are ordinal (a large enterprise weighs four micro ones), not proportional to output;
# weighting="revenue" weighs by revenue (万元) instead.
SIZE_WEIGHTS = {"large": 4.0, "medium": 3.0, "small": 2.0, "micro": 1.0}
WEIGHTINGS = ("none", "size", "revenue")

LEVELS = (1, 2, 3, 4, 5)
QUANTILES = {"p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90}
BENCHMARK_QUANTILE = 0.90
# The benchmark takes the filings at or above the 90th percentile; the comparison allows
# this much floating-point slack so that a filing equal to an interpolated p90 counts.
BENCHMARK_TOLERANCE = 1e-9
# Means are compared for ranking after rounding to this many decimals, so that two cells
# with the same mean computed in a different order of summation tie.
RANK_DECIMALS = 9

CODE_COLUMNS = ("province", "prefecture", "county", "division", "size_class")

# Columns of the output, named like the fields of apps.indices.models.IndexCell.
CELL_COLUMNS = (
    "kind",
    "code",
    "parent_code",
    "n",
    "registered",
    "coverage",
    "not_measured_share",
    "mean",
    "weighted_mean",
    "median",
    "p10",
    "p25",
    "p75",
    "p90",
    "std",
    "ci_low",
    "ci_high",
    "benchmark",
    "level_shares",
    "dimension_means",
    "indicator_means",
    "rank",
    "siblings",
    "rank_low",
    "rank_high",
    "prev_mean",
    "change",
    "prev_rank",
    "rank_change",
    "panel_n",
    "panel_change",
    "dev_index",
    "performance_ratio",
    "performance_group",
    "suppressed",
    "suppression_reason",
)
INT_COLUMNS = ("n", "registered")
NULLABLE_INT_COLUMNS = ("rank", "siblings", "rank_low", "rank_high", "prev_rank", "rank_change", "panel_n")


@dataclass(frozen=True)
class IndexParameters:
    """Parameters of an index run; stored in ``IndexRun.parameters`` via :meth:`to_dict`.

    min_cell_size        a cell with fewer filings is suppressed (样本不足) and not ranked
    dominance_n/_k       weighted cells whose ``dominance_n`` largest weights exceed
                         ``dominance_k`` of the cell's total weight are suppressed
    weighting            "none" | "size" (large 4, medium 3, small 2, micro 1) | "revenue"
    leader/strong/moderate  performance groups: ratio of the cell mean to this period's
                         national mean ≥ leader → "leader", ≥ strong → "strong",
                         ≥ moderate → "moderate", else "emerging"
    base_national_mean   national mean of the base period of the development index;
                         None = this period is the base (nation = 100)
    stability_factor     a cell suppressed in the previous period stays suppressed while
                         n < stability_factor × min_cell_size
    interval_min_n       no 95 % interval for a cell with fewer filings (样本不足以估计区间):
                         a t interval on 2–9 skewed scores means nothing (n = 2 gave
                         −159.5–311.8)
    rank_draws/_seed     rank intervals: simulated draws of every ranked cell's mean and
                         the seed of the generator (see :func:`_add_rank_intervals`)
    protection_p         the protection interval each primarily suppressed cell must
                         keep: ± this share of its sum; complements are added until it
                         holds (apps.indices.audit); 0 switches the interval rule off
    audit_max_cells      how many of those cells the audit checks (smallest n first);
                         0 = every one
    complement_method    "milp": secondary suppressions of least cost (contributors) per
                         block of partition equations (apps.indices.complements);
                         "heuristic": the one-step-ahead rule (disclosure.complete_suppression)
    milp_max_cells/_seconds  a block with more cells, or without a solution in this time,
                         is left to the heuristic (recorded on the run)
    revision_max_unknowns  the two-run check of a re-run (apps.indices.revision_groups)
                         solves blocks of at most this many unknowns; a larger block is
                         recorded as not checked and blocks publication
    audit_dimensions     also audit each dimension's sum the same way (one pass per
                         dimension). Off by default: at 200,000 filings it cost 2–22 s
                         per dimension under load (docs/PERFORMANCE.md), far over the
                         engine's budget; on when a run's parameters ask for it
    """

    min_cell_size: int = 5
    dominance_n: int = 2
    dominance_k: float = 0.85
    weighting: str = "none"
    leader: float = 1.20
    strong: float = 1.00
    moderate: float = 0.80
    base_national_mean: float | None = None
    stability_factor: float = 2
    interval_min_n: int = 10
    rank_draws: int = 200
    rank_seed: int = 20261129
    protection_p: float = 0.10
    audit_max_cells: int = 0
    complement_method: str = "milp"
    milp_max_cells: int = 50_000
    milp_seconds: float = 20.0
    revision_max_unknowns: int = 6000
    audit_dimensions: bool = False

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, not {self.weighting!r}")
        if self.min_cell_size < 1:
            raise ValueError("min_cell_size must be at least 1")
        if self.dominance_n < 1 or not 0 < self.dominance_k <= 1:
            raise ValueError("dominance_n must be ≥ 1 and 0 < dominance_k ≤ 1")
        if not self.leader >= self.strong >= self.moderate:
            raise ValueError("performance thresholds must satisfy leader ≥ strong ≥ moderate")
        if self.complement_method not in ("milp", "heuristic"):
            raise ValueError(f"complement_method must be milp or heuristic, not {self.complement_method!r}")
        if self.revision_max_unknowns < 1:
            raise ValueError("revision_max_unknowns must be at least 1")
        if self.base_national_mean is not None and not self.base_national_mean > 0:
            raise ValueError("base_national_mean must be positive (or None)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IndexParameters:
        """Rebuild from :meth:`to_dict`; missing keys take the defaults, unknown keys are
        ignored (parameters stored by an older or newer version stay readable)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


# --- input checks ------------------------------------------------------------------------


def _check_columns(frame: pd.DataFrame, required: Sequence[str], name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns: {', '.join(missing)}")
    for column in required:
        if column in CODE_COLUMNS and frame[column].isna().any():
            raise ValueError(f"{name}.{column} has missing codes")


def _key_industries(frame: pd.DataFrame) -> pd.Series:
    """Key-industry tags exploded to one row per (row position, slug)."""
    if "key_industries" not in frame.columns or frame.empty:
        return pd.Series([], dtype=object, index=pd.Index([], dtype=np.intp))
    # as Series.explode().dropna() gives them, spread from the few distinct sets of tags
    values = frame["key_industries"].to_numpy(object)
    try:
        ids, sets = pd.factorize(values, use_na_sentinel=False)
    except TypeError:  # unhashable sets of tags (lists): explode them
        tags = pd.Series(values, index=np.arange(len(frame))).explode().dropna()
        return tags.astype(str)
    members = [[v for v in ((t,) if isinstance(t, str) else t) if v is not None and v == v]
               if isinstance(t, str | tuple | list) else [] for t in sets]
    if not any(members):
        return pd.Series([], dtype=object, index=pd.Index([], dtype=np.intp))
    lengths = np.array([len(m) for m in members], dtype=np.intp)
    flat = np.array([str(v) for m in members for v in m], dtype=object)
    offsets = np.zeros(len(members), dtype=np.intp)
    np.cumsum(lengths[:-1], out=offsets[1:])
    per_row = lengths[ids]
    rows = np.repeat(np.arange(len(frame), dtype=np.intp), per_row)
    within = np.arange(len(rows), dtype=np.intp) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    return pd.Series(flat[offsets[ids[rows]] + within], index=rows, dtype=object)


# --- cell ids ------------------------------------------------------------------------------


@dataclass
class _Kind:
    """The cells of one kind: integer cell id of each filing and registry row."""

    kind: str
    codes: list[str]
    parents: list[str]
    score_rows: np.ndarray  # positions into scores (repeated for key industries)
    score_gid: np.ndarray  # cell id of each of those rows
    registry_gid: np.ndarray  # cell id of each registry row (exploded for key industries)

    @property
    def size(self) -> int:
        return len(self.codes)


def _factorize_union(
    scores: pd.DataFrame, registry: pd.DataFrame, column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.concatenate(
        [scores[column].astype(str).to_numpy(object), registry[column].astype(str).to_numpy(object)]
    )
    ids, uniques = pd.factorize(values, sort=True)
    return ids[: len(scores)], ids[len(scores) :], np.asarray(uniques, dtype=object)


def _combine(
    parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Combine factorized columns into one cell id for scores and registry rows.

    Returns (score ids, registry ids, per column the unique values of each cell)."""
    score_key = np.zeros(len(parts[0][0]), dtype=np.int64)
    registry_key = np.zeros(len(parts[0][1]), dtype=np.int64)
    for s_ids, r_ids, uniques in parts:
        base = max(len(uniques), 1)
        score_key = score_key * base + s_ids
        registry_key = registry_key * base + r_ids
    # the distinct keys in ascending order and each row's index into them (np.unique's
    # result, by hashing instead of sorting every row)
    inverse, keys = pd.factorize(np.concatenate([score_key, registry_key]), sort=True)
    decoded: list[np.ndarray] = []
    rest = keys
    for _s, _r, uniques in reversed(parts):
        base = max(len(uniques), 1)
        rest, digit = np.divmod(rest, base)
        decoded.append(uniques[digit] if len(uniques) else np.array([], dtype=object))
    decoded.reverse()
    return inverse[: len(score_key)], inverse[len(score_key) :], decoded


def _cell_kinds(scores: pd.DataFrame, registry: pd.DataFrame) -> list[_Kind]:
    ns = len(scores)
    rows = np.arange(ns)
    col = {c: _factorize_union(scores, registry, c) for c in CODE_COLUMNS}
    kinds = [_Kind(NATION, [NATION_CODE], [""], rows, np.zeros(ns, np.intp), np.zeros(len(registry), np.intp))]

    def add(kind: str, columns: Sequence[str], make) -> None:
        s_gid, r_gid, decoded = _combine([col[c] for c in columns])
        codes, parents = make(*decoded) if len(decoded[0]) else ([], [])
        kinds.append(_Kind(kind, list(codes), list(parents), rows, s_gid, r_gid))

    def join(a, b):
        return [f"{x}{KEY_SEPARATOR}{y}" for x, y in zip(a, b, strict=True)]

    add(PROVINCE, ["province"], lambda p: (p, [NATION_CODE] * len(p)))
    add(PREFECTURE, ["province", "prefecture"], lambda p, f: (f, p))
    add(COUNTY, ["prefecture", "county"], lambda f, c: (c, f))
    add(DIVISION, ["division"], lambda d: (d, [NATION_CODE] * len(d)))

    s_tags, r_tags = _key_industries(scores), _key_industries(registry)
    ids, uniques = pd.factorize(np.concatenate([s_tags.to_numpy(object), r_tags.to_numpy(object)]), sort=True)
    kinds.append(
        _Kind(
            KEY_INDUSTRY,
            [str(u) for u in uniques],
            [NATION_CODE] * len(uniques),
            s_tags.index.to_numpy(np.intp),
            ids[: len(s_tags)],
            ids[len(s_tags) :],
        )
    )

    add(SIZE, ["size_class"], lambda s: (s, [NATION_CODE] * len(s)))
    add(PROVINCE_DIVISION, ["province", "division"], lambda p, d: (join(p, d), p))
    add(PREFECTURE_DIVISION, ["province", "prefecture", "division"], lambda p, f, d: (join(f, d), join(p, d)))

    for k in kinds:
        if len(set(k.codes)) != len(k.codes):
            dupes = pd.Series(k.codes)[pd.Series(k.codes).duplicated()].unique()[:5]
            raise ValueError(f"{k.kind} codes under more than one parent (inconsistent region codes): {list(dupes)}")
    return kinds


# --- statistics of one kind ------------------------------------------------------------------


def _group_starts(counts: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


def grouped_order(gid: np.ndarray, n_groups: int, presorted: np.ndarray) -> np.ndarray:
    """Positions sorted by group, and within a group in the order of ``presorted`` (a
    permutation, e.g. by ascending value): a stable sort of the group ids of the
    presorted rows — a radix sort when the ids fit 16 bits, much faster than lexsort."""
    dtype = np.uint16 if n_groups <= np.iinfo(np.uint16).max else np.int64
    return presorted[np.argsort(gid[presorted].astype(dtype), kind="stable")]


def group_quantiles(
    values: np.ndarray, gid: np.ndarray, n_groups: int, qs: Sequence[float], order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles of ``values`` within each group, linear interpolation.

    For a group with sorted values x_0 ≤ … ≤ x_{n−1} the q-quantile is at position
    h = q (n − 1): x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋) — the default ("linear") method of
    numpy and pandas. ``order`` may give the positions sorted by (group, value) when the
    caller has them. Returns (quantiles of shape (n_groups, len(qs)), the values sorted
    by (group, value), the start of each group in that order); NaN for empty groups.
    """
    counts = np.bincount(gid, minlength=n_groups)
    if order is None:
        order = np.lexsort((values, gid))
    ordered = values[order]
    starts = _group_starts(counts)
    out = np.full((n_groups, len(qs)), np.nan)
    has = counts > 0
    if has.any():
        n = counts[has]
        start = starts[has]
        for j, q in enumerate(qs):
            h = q * (n - 1)
            lo = np.floor(h).astype(np.int64)
            hi = np.minimum(lo + 1, n - 1)
            frac = h - lo
            a = ordered[start + lo]
            b = ordered[start + hi]
            out[has, j] = a + frac * (b - a)
    return out, ordered, starts


def _statistics(
    k: _Kind, data: dict[str, np.ndarray], dimension_codes: Sequence[str], params: IndexParameters
) -> pd.DataFrame:
    G = k.size
    gid = k.score_gid
    rows = k.score_rows
    comp = data["composite"][rows]
    n = np.bincount(gid, minlength=G)
    registered = np.bincount(k.registry_gid, minlength=G)
    has = n > 0
    safe_n = np.where(has, n, 1)

    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(has, np.bincount(gid, comp, minlength=G) / safe_n, np.nan)
        dev = comp - mean[gid]
        ss = np.bincount(gid, dev * dev, minlength=G)
        std = np.where(n >= 2, np.sqrt(ss / np.maximum(n - 1, 1)), np.nan)
        t = np.where(n >= 2, sps.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        # finite-population correction: the filers are n of the cell's N registered
        # enterprises (coverage can reach 90 %); none where the register has fewer than n
        fpc = np.where(registered > n, np.sqrt((registered - n) / np.maximum(registered - 1, 1)),
                       np.where(registered == n, 0.0, 1.0))
        half = np.where(n >= max(params.interval_min_n, 2), t * std / np.sqrt(safe_n) * fpc, np.nan)
        coverage = np.where(registered > 0, n / np.where(registered > 0, registered, 1), np.nan)

        identity = rows is data["all_rows"]
        by_value = data["order_composite"] if identity else np.argsort(comp, kind="stable")
        order = grouped_order(gid, G, by_value)
        quant, _ordered, _starts = group_quantiles(comp, gid, G, list(QUANTILES.values()), order=order)
        p90 = quant[:, list(QUANTILES).index("p90")]
        top = comp >= p90[gid] - BENCHMARK_TOLERANCE
        top_n = np.bincount(gid[top], minlength=G)
        benchmark = np.where(top_n > 0, np.bincount(gid[top], comp[top], minlength=G) / np.maximum(top_n, 1), np.nan)

        level = data["level"][rows]
        level_counts = np.bincount(gid * len(LEVELS) + (level - 1), minlength=G * len(LEVELS)).reshape(G, len(LEVELS))
        level_shares = level_counts / safe_n[:, None]

        dim_means = (
            np.column_stack([np.bincount(gid, data[f"dim:{d}"][rows], minlength=G) / safe_n for d in dimension_codes])
            if dimension_codes
            else np.zeros((G, 0))
        )

        if params.weighting != "none":
            w = data["weight"][rows]
            total_w = np.bincount(gid, w, minlength=G)
            weighted_mean = np.where(
                total_w > 0, np.bincount(gid, w * comp, minlength=G) / np.where(total_w > 0, total_w, 1), np.nan
            )
            by_weight = data["order_weight"] if identity else np.argsort(-w, kind="stable")
            dominance_share = disclosure.top_contributor_share(
                gid, w, params.dominance_n, G, order=grouped_order(gid, G, by_weight)
            )
        else:
            weighted_mean = np.full(G, np.nan)
            dominance_share = np.full(G, np.nan)

        prev = data["previous"][rows]
        in_panel = ~np.isnan(prev)
        panel_n = np.bincount(gid[in_panel], minlength=G)
        panel_sum = np.bincount(gid[in_panel], (comp - prev)[in_panel], minlength=G)
        panel_change = np.where(panel_n > 0, panel_sum / np.maximum(panel_n, 1), np.nan)

        if "not_measured" in data:
            asked = np.bincount(gid, data["kpi_asked"][rows], minlength=G)
            marked = np.bincount(gid, data["not_measured"][rows], minlength=G)
            not_measured_share = np.where(asked > 0, marked / np.where(asked > 0, asked, 1), np.nan)
        else:
            not_measured_share = np.full(G, np.nan)

    out = pd.DataFrame(
        {
            "kind": k.kind,
            "code": k.codes,
            "parent_code": k.parents,
            "n": n.astype(np.int64),
            "registered": registered.astype(np.int64),
            "coverage": coverage,
            "not_measured_share": not_measured_share,
            "mean": mean,
            "weighted_mean": weighted_mean,
            "median": quant[:, 2],
            "p10": quant[:, 0],
            "p25": quant[:, 1],
            "p75": quant[:, 3],
            "p90": quant[:, 4],
            "std": std,
            "ci_low": np.clip(mean - half, 0.0, 100.0),
            "ci_high": np.clip(mean + half, 0.0, 100.0),
            "benchmark": benchmark,
            "panel_n": panel_n.astype(np.int64),
            "panel_change": panel_change,
            "_dominance_share": dominance_share,
        }
    )
    # Python floats by tolist(), not float() per number
    out["level_shares"] = [r if c else [] for r, c in zip(level_shares.tolist(), has.tolist(), strict=True)]
    codes = list(dimension_codes)
    out["dimension_means"] = [
        dict(zip(codes, r, strict=True)) if c else {} for r, c in zip(dim_means.tolist(), has.tolist(), strict=True)
    ]
    # Indicator means are filled in by the index run from the chunks' partial sums
    # (apps.indices.pipeline.indicator_means): the filings' indicator scores are not here.
    out["indicator_means"] = [{} for _ in range(G)]
    return out


def _prepare(
    scores: pd.DataFrame, dimension_codes: Sequence[str], params: IndexParameters, previous_scores: pd.DataFrame | None
) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {
        "composite": scores["composite"].to_numpy(float),
        "level": scores["level"].to_numpy(np.int64),
    }
    if np.isnan(data["composite"]).any():
        raise ValueError("scores.composite has missing values")
    if len(data["level"]) and (data["level"].min() < 1 or data["level"].max() > 5):
        raise ValueError("scores.level must lie in 1..5")
    for d in dimension_codes:
        data[f"dim:{d}"] = scores[d].to_numpy(float)
    if params.weighting == "size":
        unknown = ~scores["size_class"].isin(list(SIZE_WEIGHTS))
        if unknown.any():
            raise ValueError(f"unknown size classes: {sorted(scores['size_class'][unknown].astype(str).unique())}")
        data["weight"] = scores["size_class"].map(SIZE_WEIGHTS).to_numpy(float)
    elif params.weighting == "revenue":
        revenue = pd.to_numeric(scores["revenue"], errors="coerce").to_numpy(float)
        data["weight"] = np.where(np.isfinite(revenue) & (revenue > 0), revenue, 0.0)
    previous = np.full(len(scores), np.nan)
    if previous_scores is not None and len(previous_scores):
        index = pd.Index(previous_scores["enterprise_id"].to_numpy())
        if not index.is_unique:
            raise ValueError("previous_scores has more than one row for an enterprise")
        pos = index.get_indexer(scores["enterprise_id"].to_numpy())
        found = pos >= 0
        previous[found] = previous_scores["composite"].to_numpy(float)[pos[found]]
    data["previous"] = previous
    # 未统计 answers and the quantitative answers they are a share of (when the caller has
    # them: apps.indices.services.not_measured_frame)
    if "not_measured" in scores.columns and "kpi_asked" in scores.columns:
        data["not_measured"] = pd.to_numeric(scores["not_measured"], errors="coerce").fillna(0).to_numpy(float)
        data["kpi_asked"] = pd.to_numeric(scores["kpi_asked"], errors="coerce").fillna(0).to_numpy(float)
    data["order_composite"] = np.argsort(data["composite"], kind="stable")
    if "weight" in data:
        data["order_weight"] = np.argsort(-data["weight"], kind="stable")
    return data


def compute_statistics(
    scores: pd.DataFrame,
    registry: pd.DataFrame,
    params: IndexParameters,
    dimension_codes: Sequence[str],
    previous_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every cell of the period with its descriptive statistics, before disclosure control,
    ranking and comparison with earlier periods (see :func:`compute_cells`).

    Besides the IndexCell columns already known at this stage the frame carries
    ``_dominance_share``: the share of the ``dominance_n`` largest weights in the cell's
    total weight (NaN when weighting is "none").
    """
    dimension_codes = list(dimension_codes)
    _check_columns(scores, ["enterprise_id", *CODE_COLUMNS, "composite", "level", *dimension_codes], "scores")
    _check_columns(registry, list(CODE_COLUMNS), "registry")
    if params.weighting == "revenue":
        _check_columns(scores, ["revenue"], "scores")
    if not scores["enterprise_id"].is_unique:
        raise ValueError("scores must have one row per enterprise")
    scores = scores.reset_index(drop=True)
    registry = registry.reset_index(drop=True)
    data = _prepare(scores, dimension_codes, params, previous_scores)
    kinds = _cell_kinds(scores, registry)
    data["all_rows"] = kinds[0].score_rows  # the identity, shared by all but key industries
    # The kinds' statistics are independent (each reads ``data`` and its own groups; none
    # writes) and mostly numpy sorts and sums, which release the GIL: two threads take
    # 0.25 s where one took 0.31 at 200 k (min of 8 alternating; the same frame).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="statistics") as pool:
        frames = list(pool.map(lambda k: _statistics(k, data, dimension_codes, params), kinds))
    return pd.concat(frames, ignore_index=True)


# --- after disclosure control: ranks, comparisons, groups -----------------------------------


def _rank_group(cells: pd.DataFrame) -> pd.Series:
    """Siblings for ranking: the parent, except prefecture × division cells, which are
    ranked within their prefecture (the part of the code before "|")."""
    group = cells["parent_code"].to_numpy(object).copy()
    pd_mask = (cells["kind"] == PREFECTURE_DIVISION).to_numpy()
    if pd_mask.any():
        group[pd_mask] = [str(c).split(KEY_SEPARATOR, 1)[0] for c in cells["code"].to_numpy(object)[pd_mask].tolist()]
    return pd.Series(group, index=cells.index, dtype=object)


def _sibling_groups(cells: pd.DataFrame) -> np.ndarray:
    """An integer id of each cell's ranking group: (kind, :func:`_rank_group`)."""
    kind = pd.factorize(cells["kind"].to_numpy(object))[0].astype(np.int64)
    group, uniques = pd.factorize(_rank_group(cells).to_numpy(object), use_na_sentinel=False)
    return pd.factorize(kind * max(len(uniques), 1) + group)[0]


def _add_ranks(cells: pd.DataFrame, params: IndexParameters) -> None:
    ranked_kind = cells["kind"].isin(list(RANKED_KINDS)).to_numpy()
    eligible = ranked_kind & (cells["n"].to_numpy() >= params.min_cell_size) & ~cells["suppressed"].to_numpy(bool)
    group = _sibling_groups(cells)
    mean = np.where(eligible, cells["mean"].round(RANK_DECIMALS).to_numpy(float), np.nan)
    # rank "min", descending, among the eligible siblings: one sort by (group, −mean); a
    # cell's rank is 1 + the position in its group of the first cell with its mean
    idx = np.flatnonzero(eligible)
    order = idx[np.lexsort((-mean[idx], group[idx]))]
    g, m = group[order], mean[order]
    new_group = np.r_[True, g[1:] != g[:-1]] if len(order) else np.zeros(0, bool)
    new_value = new_group | np.r_[True, m[1:] != m[:-1]] if len(order) else np.zeros(0, bool)
    position = np.arange(len(order))
    group_start = np.maximum.accumulate(np.where(new_group, position, 0)) if len(order) else position
    tie_start = np.maximum.accumulate(np.where(new_value, position, 0)) if len(order) else position
    rank = np.full(len(cells), np.nan)
    rank[order] = tie_start - group_start + 1
    siblings = np.bincount(group[idx], minlength=group.max() + 1 if len(group) else 0)[group] if len(group) else group
    cells["rank"] = rank
    cells["siblings"] = np.where(ranked_kind, siblings, np.nan) if len(group) else np.zeros(0)
    _add_rank_intervals(cells, mean, group, eligible, params)


def _ranks_within_groups(draws: np.ndarray, group: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each cell's rank among its group in every draw (``draws``: draws × cells, finite;
    ``group``: 0 … len(counts) − 1 per cell): 1 + the cells of its group drawn higher + the
    earlier cells of its group drawn equal — what sorting each draw by value (stable) and
    then by group gives. By comparison within the groups instead of two sorts of every draw:
    the groups of one size are stacked (groups × size) and compared all pairs at once,
    a few draws at a time to bound the memory."""
    ranks = np.empty(draws.shape, dtype=np.int32)
    by_group = np.argsort(group, kind="stable")  # a group's cells together, in cell order
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    for size in np.unique(counts[counts > 0]).tolist():
        members = by_group[starts[counts == size][:, None] + np.arange(size)]  # groups × size
        earlier = np.arange(size)[None, :] < np.arange(size)[:, None]  # [i, j]: j before i
        later = np.arange(size - 1, -1, -1)  # cells after i in its group
        step = max(1, int(4_000_000 // (members.size * size)))
        for d in range(0, len(draws), step):
            x = draws[d:d + step][:, members]  # draws × groups × size
            # [i, j] for j before i: x_j ≥ x_i (j ranks above i). For j after i, j ranks
            # above i iff x_j > x_i, i.e. not x_i ≥ x_j: the same matrix at [j, i].
            above = (x[..., None, :] >= x[..., :, None]) & earlier
            rank = 1 + np.count_nonzero(above, axis=-1) + later - np.count_nonzero(above, axis=-2)
            ranks[d:d + step][:, members] = rank
    return ranks


def _add_rank_intervals(
    cells: pd.DataFrame, mean: np.ndarray, group: np.ndarray, eligible: np.ndarray, params: IndexParameters
) -> None:
    """95 % rank intervals (rank_low … rank_high) of every ranked cell: ``rank_draws``
    simulated periods in which each ranked cell's mean is drawn from a normal distribution
    with its standard error (std / √n, with the finite-population correction of the
    interval), seeded with ``rank_seed`` (recorded with the parameters: the same run gives
    the same intervals); the cell is ranked among its ranked siblings in every draw, and the
    interval is the 2.5th (lower) … 97.5th (higher) percentile of its ranks, widened to
    hold the published rank (ties share the best rank, draws break them). Each interval
    covers the cell's own rank with about 95 % probability under that approximation; they
    are not simultaneous (about 1 in 20 cells may lie outside its interval). Vectorised:
    the draws are ranked all at once — a sort of each draw by value, then a radix sort of
    the sibling groups in that order (a cell's rank is its place in its group)."""
    cells["rank_low"] = np.nan
    cells["rank_high"] = np.nan
    idx = np.flatnonzero(eligible)
    if not len(idx) or params.rank_draws < 1:
        return
    n = cells["n"].to_numpy(float)[idx]
    registered = cells["registered"].to_numpy(float)[idx]
    std = pd.to_numeric(cells["std"], errors="coerce").to_numpy(float)[idx]
    # (a register smaller than the filers — enterprises registered after the period's
    # snapshot — has no correction; clipped so that the branch np.where discards warns not)
    fpc = np.where(registered > n, np.sqrt(np.maximum(registered - n, 0) / np.maximum(registered - 1, 1)),
                   np.where(registered == n, 0.0, 1.0))
    se = np.nan_to_num(std / np.sqrt(n) * fpc, nan=0.0)
    group = pd.factorize(group[idx])[0]
    counts = np.bincount(group)
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    rng = np.random.default_rng(params.rank_seed)
    # the same stream as one standard_normal(len(idx)) per draw, in the draws' order
    draws = mean[idx] + se * rng.standard_normal((params.rank_draws, len(idx)))
    if np.isnan(draws).any():  # (not for finite means) NaN sorts last: rank by sorting
        by_value = np.argsort(-draws, axis=1, kind="stable")  # ties: the earlier cell first
        narrow = np.uint16 if len(counts) <= np.iinfo(np.uint16).max else np.int64
        in_group = np.argsort(group.astype(narrow)[by_value], axis=1, kind="stable")  # radix: groups in value order
        order = np.take_along_axis(by_value, in_group, axis=1)
        ranks = np.empty(draws.shape, dtype=np.int32)
        position = np.arange(len(idx))
        np.put_along_axis(ranks, order, (position - starts[group[order]] + 1).astype(np.int32), axis=1)
    else:
        ranks = _ranks_within_groups(draws, group, counts)
    # widened to hold the published rank itself (tied means share the best rank)
    point = cells["rank"].to_numpy(float)[idx]
    cells.loc[cells.index[idx], "rank_low"] = np.minimum(np.percentile(ranks, 2.5, axis=0, method="lower"), point)
    cells.loc[cells.index[idx], "rank_high"] = np.maximum(np.percentile(ranks, 97.5, axis=0, method="higher"), point)


def _add_previous(cells: pd.DataFrame, previous_cells: pd.DataFrame | None) -> None:
    cells["prev_mean"] = np.nan
    cells["prev_rank"] = np.nan
    if previous_cells is not None and len(previous_cells):
        prev = previous_cells.set_index(["kind", "code"])
        key = pd.MultiIndex.from_arrays([cells["kind"].astype(str), cells["code"].astype(str)])
        pos = prev.index.get_indexer(key)
        found = pos >= 0
        published = ~prev["suppressed"].fillna(False).to_numpy(bool)
        # A mean or rank that was suppressed last period stays unknown: publishing it as
        # prev_mean (or the change) now would undo last period's suppression.
        use = found.copy()
        use[found] &= published[pos[found]]
        prev_mean = pd.to_numeric(prev["mean"], errors="coerce").to_numpy(float)
        cells.loc[use, "prev_mean"] = prev_mean[pos[use]]
        if "rank" in prev.columns:
            prev_rank = pd.to_numeric(prev["rank"], errors="coerce").to_numpy(float)
            cells.loc[use, "prev_rank"] = prev_rank[pos[use]]
    cells["change"] = cells["mean"] - cells["prev_mean"]
    cells["rank_change"] = cells["prev_rank"] - cells["rank"]


def _add_performance(cells: pd.DataFrame, params: IndexParameters) -> None:
    national = (
        float(cells.loc[cells["kind"] == NATION, "mean"].iloc[0]) if (cells["kind"] == NATION).any() else math.nan
    )
    base = params.base_national_mean if params.base_national_mean is not None else national
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["dev_index"] = 100.0 * cells["mean"] / base if base and not math.isnan(base) else np.nan
        # 100 · x / x is not always exactly 100 in floating point (99.99999999999999):
        # a mean equal to the base (the base period's own national cell) is stored as 100.0.
        cells.loc[cells["mean"] == base, "dev_index"] = 100.0
        ratio = (
            cells["mean"] / national if national and not math.isnan(national) else pd.Series(np.nan, index=cells.index)
        )
    cells["performance_ratio"] = ratio
    r = ratio.to_numpy(float)
    group = np.select(
        [r >= params.leader, r >= params.strong, r >= params.moderate, ~np.isnan(r)],
        ["leader", "strong", "moderate", "emerging"],
        default="",
    ).astype(object)
    group[cells["n"].to_numpy() < params.min_cell_size] = ""
    cells["performance_group"] = group


def to_records_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The IndexCell columns only, as Python objects: NaN → None, integers as int."""
    columns: dict[str, Any] = {}
    for column in CELL_COLUMNS:
        series = cells[column]
        if column in INT_COLUMNS:
            columns[column] = series.to_numpy(np.int64).tolist()
        elif column in NULLABLE_INT_COLUMNS:
            values = pd.to_numeric(series, errors="coerce").to_numpy(float)
            missing = np.isnan(values)
            out = np.full(len(values), None, dtype=object)
            out[~missing] = values[~missing].astype(np.int64).tolist()
            columns[column] = out
        elif column in ("kind", "code", "parent_code", "performance_group", "suppression_reason"):
            columns[column] = [str(v) for v in series.fillna("").to_numpy(object)]
        elif column == "suppressed":
            columns[column] = series.to_numpy(bool).tolist()
        elif column in ("level_shares", "dimension_means", "indicator_means"):
            columns[column] = list(series.to_numpy(object))
        else:  # Python floats (tolist), None for NaN
            values = pd.to_numeric(series, errors="coerce").to_numpy(float)
            out = np.array(values.tolist(), dtype=object)
            out[np.isnan(values)] = None
            columns[column] = out
    return pd.DataFrame({c: pd.Series(v, index=cells.index, dtype=object) for c, v in columns.items()})


def compute_cells(
    scores: pd.DataFrame,
    registry: pd.DataFrame,
    params: IndexParameters,
    dimension_codes: Sequence[str],
    previous_scores: pd.DataFrame | None = None,
    previous_cells: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every aggregate cell of a period, disclosure control applied.

    One row per cell, columns :data:`CELL_COLUMNS` (IndexCell's field names). Values are
    unsuppressed; ``suppressed``/``suppression_reason`` say what must not be published —
    show the public :func:`apps.indices.disclosure.public_view` of the frame, never the
    frame itself. Missing values are None; ``performance_group`` and
    ``suppression_reason`` are "" when empty and ``level_shares``/``dimension_means`` are
    []/{} for a cell without filings, so that a row fits IndexCell(**row) as it is.

    Ranks are given among the siblings that are published and have n ≥ min_cell_size;
    ``prev_mean``/``prev_rank`` are taken from ``previous_cells`` only where the previous
    cell was published.
    """
    cells = compute_statistics(scores, registry, params, dimension_codes, previous_scores)
    cells = disclosure.apply_disclosure_control(cells, params, previous_cells, scores=scores)
    # the disclosure steps' records (the run's audit), off the frame while the steps below
    # take its columns: pandas deep-copies attrs into each
    recorded, cells.attrs = cells.attrs, {}
    _add_ranks(cells, params)
    _add_previous(cells, previous_cells)
    _add_performance(cells, params)
    records = to_records_frame(cells)
    # the protection-interval audit's summary (recorded on the run by the join)
    records.attrs["protection"] = recorded.get("protection", {})
    records.attrs["complements"] = recorded.get("complements", {})
    records.attrs["overlap"] = recorded.get("overlap", [])
    return records
