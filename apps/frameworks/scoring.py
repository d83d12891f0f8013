"""Scoring of diagnosis submissions: pure numpy functions, no ORM.

One implementation serves a single submission (the enterprise's own report) and a whole
period (an index run over 200,000 submissions): answers are a float matrix ``A`` of
``n`` submissions × ``m`` indicators in the compiled indicator order, NaN = missing, and
:func:`score_matrix` scores every row at once, looping only over indicator columns
grouped by kind. The method is described, with a worked example, in docs/METHOD.md.

Encoding of one answer (:func:`encode_value`), per indicator kind:

* rubric    → the level 0–5;
* checklist → a bitmask of the checked items (bit i = the i-th item in order);
* kpi       → the value itself;
* yesno     → 1.0 (yes) / 0.0 (no).

A :class:`CompiledFramework` is built from the exchange form of a framework version
(:func:`compile_spec`, pure); ``apps.frameworks.compiled.compile_framework`` does that for
a database row.

Bump :data:`SCORING_CODE_VERSION` whenever a change here can change a score: it is
recorded with every score so that old scores stay explainable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

SCORING_CODE_VERSION = "1"

RUBRIC, CHECKLIST, KPI, YESNO = 0, 1, 2, 3
KIND_CODES = {"rubric": RUBRIC, "checklist": CHECKLIST, "kpi": KPI, "yesno": YESNO}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}

RUBRIC_TOP_LEVEL = 5
RUBRIC_POINTS_PER_LEVEL = 100 / RUBRIC_TOP_LEVEL  # 20

# Answers are packed as float32 in Submission.answer_vector: a float32 holds integers
# exactly up to 2**24, so a checklist bitmask may have at most 24 items.
MAX_CHECKLIST_ITEMS = 24

# Relative tolerance for KPI bounds of answers that went through float32 packing.
FLOAT32_SLACK = 1e-6

# Level thresholds are compared with this tolerance, so that a composite that is 60 by
# hand but 59.999999999 in floating point still reaches a threshold of 60.
LEVEL_TOLERANCE = 1e-9


def _frozen(array: Any, dtype=None) -> np.ndarray:
    out = np.array(array, dtype=dtype)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class CompiledFramework:
    """A framework version reduced to arrays, in the compiled indicator order.

    Column ``j`` of an answer matrix is indicator ``indicator_codes[j]``. Per-indicator
    arrays have length ``m``; per-dimension arrays length ``d``; per-level arrays length 5,
    sorted by rank. The per-kind mappings are keyed by column.
    """

    framework_id: int | None
    code: str
    version: str
    indicator_codes: tuple[str, ...]
    kinds: np.ndarray  # (m,) int8: RUBRIC / CHECKLIST / KPI / YESNO
    weights: np.ndarray  # (m,) weight within the dimension
    dimension_index: np.ndarray  # (m,) index into dimension_codes
    module_index: np.ndarray  # (m,) index into module_codes, -1 = core indicator
    dimension_codes: tuple[str, ...]
    dimension_weights: np.ndarray  # (d,) summing to 1
    module_codes: tuple[str, ...]
    module_industries: tuple[tuple[str, ...], ...]  # GB/T 4754 codes per module
    module_key_industries: tuple[tuple[str, ...], ...]  # KeyIndustry codes per module
    kpi_thresholds: Mapping[int, tuple[np.ndarray, np.ndarray]]  # column → (values ascending, scores)
    kpi_bounds: Mapping[int, tuple[float, float]]  # column → (min_value, max_value)
    checklist_items: Mapping[int, tuple[str, ...]]  # column → item codes in order
    checklist_weights: Mapping[int, np.ndarray]  # column → item weights in order
    rubric_descriptors: Mapping[int, tuple[str, ...]]  # column → descriptors of levels 0..5
    level_ranks: np.ndarray  # (5,) 1..5
    level_names: tuple[str, ...]
    level_min_composite: np.ndarray
    level_min_dimension: np.ndarray
    columns: Mapping[str, int]  # indicator code → column

    @property
    def n_indicators(self) -> int:
        return len(self.indicator_codes)

    @property
    def n_dimensions(self) -> int:
        return len(self.dimension_codes)

    @property
    def n_modules(self) -> int:
        return len(self.module_codes)

    def kind_of(self, column: int) -> str:
        return KIND_NAMES[int(self.kinds[column])]

    def level_name(self, rank: int) -> str:
        return self.level_names[int(np.flatnonzero(self.level_ranks == rank)[0])]


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """Scores of ``n`` submissions.

    ``indicator_scores`` is NaN where an indicator does not apply to the submission (a
    module indicator outside its industries); a missing answer to an applicable indicator
    scores 0, not NaN.
    """

    indicator_scores: np.ndarray  # (n, m) 0..100, NaN = not applicable
    dimension_scores: np.ndarray  # (n, d) 0..100
    composite: np.ndarray  # (n,) 0..100
    level: np.ndarray  # (n,) rank 1..5
    code_version: str = SCORING_CODE_VERSION

    @property
    def applicable(self) -> np.ndarray:
        return ~np.isnan(self.indicator_scores)

    def row(self, compiled: CompiledFramework, i: int = 0) -> dict[str, Any]:
        """Row ``i`` as plain Python values, e.g. for ``SubmissionScore``'s JSON fields."""
        return {
            "composite": float(self.composite[i]),
            "level": int(self.level[i]),
            "dimension_scores": {c: float(v) for c, v in zip(compiled.dimension_codes, self.dimension_scores[i], strict=True)},
            "indicator_scores": {
                c: (None if math.isnan(v) else float(v))
                for c, v in zip(compiled.indicator_codes, self.indicator_scores[i], strict=True)
            },
            "scoring_code_version": self.code_version,
        }


# --- compiling ------------------------------------------------------------------------------


def compile_spec(spec: Mapping[str, Any], *, framework_id: int | None = None) -> CompiledFramework:
    """Compile a framework in its exchange form (see ``apps.frameworks.exchange``).

    The spec must be valid (``exchange.check_spec`` finds no problem); the column order is
    the order of the indicators in the spec: dimension by dimension, as listed.
    """
    dimension_codes = tuple(d["code"] for d in spec["dimensions"])
    module_codes = tuple(mod["code"] for mod in spec.get("modules", []))
    module_pos = {c: i for i, c in enumerate(module_codes)}

    codes, kinds, weights, dim_index, mod_index = [], [], [], [], []
    thresholds, bounds, items, item_weights, descriptors = {}, {}, {}, {}, {}
    for d_pos, dimension in enumerate(spec["dimensions"]):
        for indicator in dimension["indicators"]:
            j = len(codes)
            codes.append(indicator["code"])
            kind = KIND_CODES[indicator["kind"]]
            kinds.append(kind)
            weights.append(float(indicator["weight"]))
            dim_index.append(d_pos)
            mod_index.append(module_pos[indicator["module"]] if indicator.get("module") else -1)
            if kind == KPI:
                pairs = np.asarray(indicator["thresholds"], dtype=float)
                thresholds[j] = (_frozen(pairs[:, 0]), _frozen(pairs[:, 1]))
                bounds[j] = (float(indicator["min_value"]), float(indicator["max_value"]))
            elif kind == CHECKLIST:
                items[j] = tuple(item["code"] for item in indicator["items"])
                item_weights[j] = _frozen([float(item["weight"]) for item in indicator["items"]], float)
            elif kind == RUBRIC:
                descriptors[j] = tuple(indicator["levels"])

    levels = sorted(spec["levels"], key=lambda lv: lv["rank"])
    return CompiledFramework(
        framework_id=framework_id,
        code=spec["code"],
        version=spec["version"],
        indicator_codes=tuple(codes),
        kinds=_frozen(kinds, np.int8),
        weights=_frozen(weights, float),
        dimension_index=_frozen(dim_index, np.intp),
        module_index=_frozen(mod_index, np.intp),
        dimension_codes=dimension_codes,
        dimension_weights=_frozen([float(d["weight"]) for d in spec["dimensions"]], float),
        module_codes=module_codes,
        module_industries=tuple(tuple(mod.get("industries", ())) for mod in spec.get("modules", [])),
        module_key_industries=tuple(tuple(mod.get("key_industries", ())) for mod in spec.get("modules", [])),
        kpi_thresholds=MappingProxyType(thresholds),
        kpi_bounds=MappingProxyType(bounds),
        checklist_items=MappingProxyType(items),
        checklist_weights=MappingProxyType(item_weights),
        rubric_descriptors=MappingProxyType(descriptors),
        level_ranks=_frozen([lv["rank"] for lv in levels], np.intp),
        level_names=tuple(lv["name"] for lv in levels),
        level_min_composite=_frozen([lv["min_composite"] for lv in levels], float),
        level_min_dimension=_frozen([lv["min_dimension"] for lv in levels], float),
        columns=MappingProxyType({c: j for j, c in enumerate(codes)}),
    )


# --- encoding answers -----------------------------------------------------------------------


def encode_value(compiled: CompiledFramework, column: int, value: Any) -> float:
    """Encode one answer in its natural form; ``None`` → NaN (missing).

    Raises ``ValueError`` for an answer the indicator does not accept (a level outside
    0–5, an unknown checklist item, a KPI value outside its allowed range, ...).
    """
    if value is None:
        return math.nan
    kind = int(compiled.kinds[column])
    code = compiled.indicator_codes[column]
    if kind == RUBRIC:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= RUBRIC_TOP_LEVEL:
            raise ValueError(f"{code}: level must be an integer 0–5, got {value!r}")
        return float(value)
    if kind == CHECKLIST:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError(f"{code}: expected a list of item codes, got {value!r}")
        position = {c: i for i, c in enumerate(compiled.checklist_items[column])}
        mask = 0
        for item in value:
            if item not in position:
                raise ValueError(f"{code}: unknown checklist item {item!r}")
            mask |= 1 << position[item]
        return float(mask)
    if kind == KPI:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{code}: expected a number, got {value!r}")
        low, high = compiled.kpi_bounds[column]
        if not low <= float(value) <= high:  # also refuses NaN
            raise ValueError(f"{code}: {value!r} is outside the allowed range [{low:g}, {high:g}]")
        return float(value)
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{code}: expected true or false, got {value!r}")
    return 1.0 if value else 0.0


def encode_answers(compiled: CompiledFramework, answers: Mapping[str, Any]) -> np.ndarray:
    """Encode ``{indicator code: natural value}`` as one row of ``m`` floats (NaN = missing).

    Unknown indicator codes raise ``ValueError``; indicators absent from ``answers`` are
    missing.
    """
    row = np.full(compiled.n_indicators, np.nan)
    for code, value in answers.items():
        if code not in compiled.columns:
            raise ValueError(f"unknown indicator {code!r} in framework {compiled.code} {compiled.version}")
        column = compiled.columns[code]
        row[column] = encode_value(compiled, column, value)
    return row


def decode_value(compiled: CompiledFramework, column: int, encoded: float) -> Any:
    """The inverse of :func:`encode_value` (NaN → ``None``)."""
    if encoded is None or math.isnan(encoded):
        return None
    kind = int(compiled.kinds[column])
    if kind == RUBRIC:
        return int(round(encoded))
    if kind == CHECKLIST:
        mask = int(round(encoded))
        return [c for i, c in enumerate(compiled.checklist_items[column]) if mask >> i & 1]
    if kind == KPI:
        return float(encoded)
    return bool(encoded >= 0.5)


def decode_answers(compiled: CompiledFramework, row: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """The inverse of :func:`encode_answers`, for filling forms: missing answers are left out."""
    row = np.asarray(row, dtype=float)
    return {
        code: decode_value(compiled, j, row[j])
        for j, code in enumerate(compiled.indicator_codes)
        if not math.isnan(row[j])
    }


def pack_answers(row: np.ndarray) -> bytes:
    """Pack an encoded row for ``Submission.answer_vector`` (little-endian float32)."""
    return np.asarray(row, dtype="<f4").tobytes()


def unpack_answers(data: bytes | memoryview, compiled: CompiledFramework | None = None) -> np.ndarray:
    """Unpack ``Submission.answer_vector`` into a float64 row (checked against ``compiled``)."""
    row = np.frombuffer(bytes(data), dtype="<f4").astype(float)
    if compiled is not None and row.size != compiled.n_indicators:
        raise ValueError(f"answer vector has {row.size} values, framework has {compiled.n_indicators} indicators")
    return row


# --- module membership ----------------------------------------------------------------------


def module_membership(
    compiled: CompiledFramework,
    industry_codes: Sequence[str],
    key_industries: Sequence[Iterable[str]] | None = None,
) -> np.ndarray:
    """Which submissions each industry module applies to: a boolean ``n × modules`` matrix.

    A module applies to an enterprise whose GB/T 4754 code lies under one of the module's
    industries (code prefix: module "27" covers "271" and "2710"; module "358" covers
    "3581", not the division "35") or that carries one of the module's key industries.
    """
    codes = np.asarray(industry_codes, dtype=str)
    n = codes.shape[0]
    out = np.zeros((n, compiled.n_modules), dtype=bool)
    key_sets = None
    if key_industries is not None:
        key_sets = [frozenset(keys) for keys in key_industries]
        if len(key_sets) != n:
            raise ValueError("industry_codes and key_industries differ in length")
    for k in range(compiled.n_modules):
        for prefix in compiled.module_industries[k]:
            out[:, k] |= np.char.startswith(codes, prefix)
        wanted = frozenset(compiled.module_key_industries[k])
        if key_sets is not None and wanted:
            out[:, k] |= np.fromiter((not wanted.isdisjoint(s) for s in key_sets), dtype=bool, count=n)
    return out


# --- scoring --------------------------------------------------------------------------------


def invalid_answers(compiled: CompiledFramework, A: np.ndarray) -> np.ndarray:
    """Boolean mask of encoded answers no indicator would accept (missing ones are valid)."""
    # column by column below: on a column-major copy each column is contiguous (the rows of
    # a C-ordered n × m matrix are, its columns are strided)
    A = np.asfortranarray(A, dtype=float)
    bad = np.zeros(A.shape, dtype=bool, order="F")
    present = ~np.isnan(A)
    kinds = compiled.kinds
    for kind, high in ((RUBRIC, RUBRIC_TOP_LEVEL), (YESNO, 1)):
        cols = np.flatnonzero(kinds == kind)
        block = A[:, cols]
        bad[:, cols] = present[:, cols] & ((block != np.round(block)) | (block < 0) | (block > high))
    for j, item_codes in compiled.checklist_items.items():
        col = A[:, j]
        bad[:, j] = present[:, j] & ((col != np.round(col)) | (col < 0) | (col >= 2 ** len(item_codes)))
    for j, (low, high) in compiled.kpi_bounds.items():
        # A value typed as exactly the bound may come back from float32 packing a hair outside.
        col, slack = A[:, j], FLOAT32_SLACK * max(1.0, abs(low), abs(high))
        bad[:, j] = present[:, j] & ((col < low - slack) | (col > high + slack))
    return bad


def score_matrix(
    compiled: CompiledFramework, A: np.ndarray, module_membership: np.ndarray | None = None
) -> ScoreResult:
    """Score ``n`` submissions at once.

    ``A`` is the ``n × m`` encoded answer matrix (NaN = missing); ``module_membership`` the
    boolean ``n × modules`` matrix of :func:`module_membership` (``None``: no module applies).
    Raises ``ValueError`` if an answer is invalid (see :func:`invalid_answers`).

    * indicator score s (0–100): rubric level × 20; checklist Σ checked item weights ÷
      Σ item weights × 100; kpi piecewise-linear over the thresholds, clamped at both ends;
      yesno 100 × answer; a missing answer scores 0;
    * a module indicator applies only where its module does; the dimension score is the
      weighted mean of the applicable indicators (weights renormalised over them);
    * composite = Σ dimension weight × dimension score;
    * level = the highest rank whose composite AND per-dimension floors are both met.
    """
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[1] != compiled.n_indicators:
        raise ValueError(f"expected an n × {compiled.n_indicators} answer matrix, got shape {A.shape}")
    n, m = A.shape
    columns = np.asfortranarray(A)  # the same values, each indicator's column contiguous
    bad = invalid_answers(compiled, columns)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{int(bad.sum())} invalid answer(s), first in row {i}, indicator {compiled.indicator_codes[j]}: {A[i, j]!r}"
        )

    kinds = compiled.kinds
    S = np.empty((n, m))
    rubric = np.flatnonzero(kinds == RUBRIC)
    S[:, rubric] = A[:, rubric] * RUBRIC_POINTS_PER_LEVEL
    yesno = np.flatnonzero(kinds == YESNO)
    S[:, yesno] = A[:, yesno] * 100.0
    if compiled.checklist_items:
        cols = np.fromiter(compiled.checklist_items.keys(), dtype=np.intp)
        width = max(len(v) for v in compiled.checklist_items.values())
        shares = np.zeros((cols.size, width))  # item weight ÷ total weight, zero-padded
        for r, j in enumerate(cols):
            w = compiled.checklist_weights[j]
            shares[r, : w.size] = w / w.sum()
        block = A[:, cols]
        missing = np.isnan(block)
        bits = np.where(missing, 0, block).astype(np.int64)
        checked = np.zeros(block.shape)
        for k in range(width):
            checked += ((bits >> k) & 1) * shares[:, k]
        checked[missing] = np.nan
        S[:, cols] = checked * 100.0
    for j, (values, scores) in compiled.kpi_thresholds.items():
        S[:, j] = np.interp(columns[:, j], values, scores)  # NaN stays NaN
    np.nan_to_num(S, copy=False, nan=0.0)  # a missing answer scores 0

    if compiled.n_modules:
        membership = np.zeros((n, compiled.n_modules), dtype=bool) if module_membership is None else module_membership
        membership = np.broadcast_to(np.asarray(membership, dtype=bool), (n, compiled.n_modules))
        with_core = np.concatenate([membership, np.ones((n, 1), dtype=bool)], axis=1)
        applicable = with_core[:, compiled.module_index]  # module -1 (core) → the all-true column
    else:
        applicable = np.ones((n, m), dtype=bool)

    one_hot = np.zeros((m, compiled.n_dimensions))
    one_hot[np.arange(m), compiled.dimension_index] = 1.0
    W = applicable * compiled.weights  # (n, m) weights of the applicable indicators
    weight_sums = W @ one_hot
    W *= S
    dimension_scores = np.divide(W @ one_hot, weight_sums, out=np.zeros_like(weight_sums), where=weight_sums > 0)
    composite = dimension_scores @ compiled.dimension_weights

    floor = dimension_scores.min(axis=1) if compiled.n_dimensions else np.zeros(n)
    reached = (composite[:, None] >= compiled.level_min_composite - LEVEL_TOLERANCE) & (
        floor[:, None] >= compiled.level_min_dimension - LEVEL_TOLERANCE
    )
    ranks = compiled.level_ranks
    lowest = int(ranks.min()) if ranks.size else 1
    level = np.where(reached, ranks, lowest).max(axis=1) if ranks.size else np.ones(n, dtype=np.intp)

    S[~applicable] = np.nan
    return ScoreResult(indicator_scores=S, dimension_scores=dimension_scores, composite=composite, level=level)


def score_answers(
    compiled: CompiledFramework, answers: Mapping[str, Any], modules: Iterable[str] = ()
) -> ScoreResult:
    """Score one submission given in natural form; ``modules`` are the codes of the
    industry modules that apply to its enterprise. Same code path as :func:`score_matrix`."""
    modules = set(modules)
    unknown = modules - set(compiled.module_codes)
    if unknown:
        raise ValueError(f"unknown module(s): {sorted(unknown)}")
    membership = np.array([[c in modules for c in compiled.module_codes]], dtype=bool)
    return score_matrix(compiled, encode_answers(compiled, answers)[None, :], membership)


# --- gaps for the enterprise report ---------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """An indicator where the submission loses composite points."""

    code: str
    dimension_code: str
    kind: str
    score: float
    points: float  # composite points lost: effective weight × dimension weight × (100 − score)
    level: int | None = None  # rubric: the level answered
    next_level: int | None = None  # rubric: the next level up
    next_level_descriptor: str = ""  # rubric: what the next level asks for


def biggest_gaps(compiled: CompiledFramework, indicator_scores_row: np.ndarray, k: int = 3) -> list[Gap]:
    """The ``k`` applicable indicators that cost the composite most, largest first.

    The cost of indicator i is w_i' × W_d × (100 − s_i), where w_i' is its weight
    renormalised over the applicable indicators of its dimension (equal to w_i when no
    module applies): exactly the composite points it loses. Indicators at 100 are left out;
    ties keep the compiled order. ``indicator_scores_row`` is one row of
    ``ScoreResult.indicator_scores`` (NaN = not applicable).
    """
    s = np.asarray(indicator_scores_row, dtype=float)
    applicable = ~np.isnan(s)
    w = np.where(applicable, compiled.weights, 0.0)
    sums = np.bincount(compiled.dimension_index, weights=w, minlength=compiled.n_dimensions)
    dim_sum = sums[compiled.dimension_index]
    effective = np.divide(w, dim_sum, out=np.zeros_like(w), where=dim_sum > 0)
    points = effective * compiled.dimension_weights[compiled.dimension_index] * (100.0 - np.where(applicable, s, 100.0))
    order = np.argsort(-points, kind="stable")
    gaps = []
    for j in order[:k]:
        if points[j] <= 1e-12:
            break
        gap = {
            "code": compiled.indicator_codes[j],
            "dimension_code": compiled.dimension_codes[compiled.dimension_index[j]],
            "kind": compiled.kind_of(j),
            "score": float(s[j]),
            "points": float(points[j]),
        }
        if compiled.kinds[j] == RUBRIC:
            level = int(round(s[j] / RUBRIC_POINTS_PER_LEVEL))
            gap.update(level=level, next_level=level + 1, next_level_descriptor=compiled.rubric_descriptors[j][level + 1])
        gaps.append(Gap(**gap))
    return gaps
