"""Statistical disclosure control of aggregate cells: pure pandas/numpy/scipy, no database.

统计法 第二十五条: no published material may identify a single respondent or let anyone
infer one, aggregates included. The cells of an index run (see
:mod:`apps.indices.aggregation`) are protected in four steps; the method, its reasons
and its limits are written up in docs/METHOD.md ("指数与发布规则 / Indices and
disclosure control").

1. **Primary suppression.** A cell with 0 < n < ``min_cell_size`` filings is suppressed
   (``small_n``, 样本不足). With weighting "size" or "revenue", a cell whose
   ``dominance_n`` largest weights exceed ``dominance_k`` of its total weight is
   suppressed (``dominance``, 集中度过高). A cell with n = 0 has nothing to hide: it is
   published (``suppressed`` False) with reason ``no_data`` (无填报) — its count 0 and its
   number of registered enterprises show coverage gaps; it has no other values.
2. **Stability across periods.** A cell suppressed in the previous published run stays
   suppressed (``stability``, 保持与上期一致) while n < ``stability_factor`` ×
   ``min_cell_size``, so that comparing two periods does not reveal it.
3. **Secondary suppression** (``secondary``, 互补隐藏). Totals add up along partitions
   (parent → children that add up to it, see :data:`PARTITIONS`): counts, sums of the
   composite and of each dimension score, level counts, numbers of registered
   enterprises. A suppressed cell must not be the difference of published ones. Rule,
   repeated until nothing changes: in any partition where exactly one member (the parent
   or one child) with n > 0 is suppressed, also suppress the published non-empty child of
   least :func:`complement_cost` — its contributors plus the complement it would force,
   half for cells hidden in the previous published period (ties: the smallest code; if
   there is none, the parent). Then
   :func:`determined_unknowns` solves the
   whole system of partition equations at once (what an attacker with a linear-algebra
   package would do); each suppressed cell that the system still determines gets one
   more complementary suppression in a partition it belongs to, and the rule runs again.
   Finally :func:`apps.indices.audit.protect_intervals` makes sure that the interval an
   attacker can derive for every primarily suppressed cell's sum reaches ± ``protection_p``
   (adding complements where it does not).
4. **Panel comparisons.** The balanced-panel change of a cell is the mean change of the
   enterprises that filed in both periods. It is hidden (panel_change None) when the panel
   has fewer than ``min_cell_size`` enterprises, when the enterprises that entered or
   left the cell are fewer than ``min_cell_size`` but not none (current sum − previous
   sum − panel sum would then be the score of those few), and, like cells, with
   complementary hiding along the partitions.

:func:`public_view` is what the public (and other authorities) may see; it also hides
order statistics (percentiles, benchmark) of published cells where they would be the
score of one of fewer than ``min_cell_size`` enterprises. :func:`derivable_cells` is the
attacker's subtraction (parent − published children) repeated until nothing new follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.utils.translation import gettext_noop
from scipy import sparse
from scipy.sparse import csgraph

if TYPE_CHECKING:  # pragma: no cover
    from apps.indices.aggregation import IndexParameters

SMALL_N = "small_n"
DOMINANCE = "dominance"
SECONDARY = "secondary"
STABILITY = "stability"
NO_DATA = "no_data"
OVERLAP = "overlap"
# The one reason the public (and readers outside a cell's jurisdiction) see for any
# suppressed cell: the detailed reasons tell n ranges apart (small_n ⇒ 1–4, stability ⇒
# 5–9 …), which an integer-programming attack can use to pin hidden counts.
NOT_PUBLISHED = "not_published"

# Chinese labels, marked for extraction only (gettext_noop returns them unchanged); the
# readers translate them: apps.indices.readers.REASONS.
REASON_LABELS = {
    SMALL_N: gettext_noop("样本不足"),
    DOMINANCE: gettext_noop("集中度过高"),
    SECONDARY: gettext_noop("为防推算而隐藏"),
    STABILITY: gettext_noop("保持与上期一致"),
    NO_DATA: gettext_noop("无填报"),
    OVERLAP: gettext_noop("重叠分组差值过小"),
    NOT_PUBLISHED: gettext_noop("不公开"),
}

SEPARATOR = "|"

# Partitions: (name, parent kind, child kind, how the parent's code follows from the child).
# "parent_code" = the child's parent_code column; "left"/"right" = the part of the child's
# code before/after "|"; a literal = that code.
PARTITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("nation>province", "nation", "province", "parent_code"),
    ("province>prefecture", "province", "prefecture", "parent_code"),
    ("prefecture>county", "prefecture", "county", "parent_code"),
    ("nation>division", "nation", "division", "CN"),
    ("nation>size", "nation", "size", "CN"),
    ("province>province_division", "province", "province_division", "parent_code"),
    ("division>province_division", "division", "province_division", "right"),
    ("prefecture>prefecture_division", "prefecture", "prefecture_division", "left"),
    ("province_division>prefecture_division", "province_division", "prefecture_division", "parent_code"),
    # County × division atoms: never published, added only by audits that model the
    # filings below counties and prefecture × division cells (across_runs_determined).
    # Code "prefecture|division|county"; parent_code the county.
    ("county>county_division", "county", "county_division", "parent_code"),
    ("prefecture_division>county_division", "prefecture_division", "county_division", "prefix2"),
)
COUNTY_DIVISION = "county_division"

# Value columns of a cell (everything but its identity and its suppression flags).
IDENTITY_COLUMNS = ("kind", "code", "parent_code", "suppressed", "suppression_reason")
ORDER_STATISTICS = {"p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90}
BENCHMARK_QUANTILE = 0.90

# Numerical tolerance of the linear audit (entries of the constraint matrix are 0/±1).
_RANK_TOLERANCE = 1e-8
_LEVERAGE_TOLERANCE = 1e-7
# Safety net: the repair loop adds at least one suppression per round, so it ends; this
# bounds it anyway.
_MAX_ROUNDS = 10_000


# --- dominance -------------------------------------------------------------------------------


def top_contributor_share(
    group_ids: np.ndarray, weights: np.ndarray, n_top: int, n_groups: int, order: np.ndarray | None = None
) -> np.ndarray:
    """Share of the ``n_top`` largest weights in each group's total weight (vectorised:
    sort by group and descending weight, keep the first ``n_top`` of each group). NaN for
    a group with no weight. ``order`` may give that sort when the caller has it."""
    group_ids = np.asarray(group_ids, dtype=np.int64)
    weights = np.asarray(weights, dtype=float)
    total = np.bincount(group_ids, weights, minlength=n_groups)
    if order is None:
        order = np.lexsort((-weights, group_ids))
    g = group_ids[order]
    counts = np.bincount(group_ids, minlength=n_groups)
    starts = np.zeros(n_groups, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    position = np.arange(len(g)) - starts[g]
    top = position < n_top
    top_weight = np.bincount(g[top], weights[order][top], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, top_weight / np.where(total > 0, total, 1), np.nan)


# --- partitions --------------------------------------------------------------------------------


def _keys(cells: pd.DataFrame) -> pd.Index:
    """One hashable key per cell, "kind NUL code" (a string index is much faster to build
    and to look up than a two-level one)."""
    kind = cells["kind"].astype(str).tolist()
    code = cells["code"].astype(str).tolist()
    return pd.Index([f"{k}\x00{c}" for k, c in zip(kind, code, strict=True)], dtype=object)


def _codes(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    parent = cells["parent_code"].fillna("").astype(str).to_numpy(object)
    return kind, code, parent


def partition_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The partitions among ``cells`` as edges: one row per (partition, child) with the
    row positions of the parent and the child and the partition's name. Key industries
    overlap (an enterprise may carry several tags) and form no partition."""
    kind, code, parent = _codes(cells)
    # plain Python strings and one hash index: pandas' string methods cost more than the
    # rest of the disclosure step at 200 k
    lookup = pd.Index([f"{k}\x00{c}" for k, c in zip(kind.tolist(), code.tolist(), strict=True)])
    frames = []
    for number, (name, parent_kind, child_kind, how) in enumerate(PARTITIONS):
        child = np.flatnonzero(kind == child_kind)
        if not len(child):
            continue
        codes = code[child].tolist()
        if how == "parent_code":
            parent_codes = parent[child].tolist()
        elif how == "left":
            parent_codes = [c.split(SEPARATOR, 1)[0] for c in codes]
        elif how == "prefix2":
            parent_codes = [c.rsplit(SEPARATOR, 1)[0] for c in codes]
        elif how == "right":
            parent_codes = [c.split(SEPARATOR, 1)[1] if SEPARATOR in c else None for c in codes]
        else:
            parent_codes = [how] * len(child)
        keys = [None if c is None else f"{parent_kind}\x00{c}" for c in parent_codes]
        parent_pos = lookup.get_indexer(pd.Index(keys, dtype=object))
        found = parent_pos >= 0
        frames.append(
            pd.DataFrame({"name": name, "parent": parent_pos[found], "child": child[found], "_number": number})
        )
    if not frames:
        return pd.DataFrame({"partition": [], "name": [], "parent": [], "child": []}).astype(
            {"partition": np.int64, "parent": np.int64, "child": np.int64}
        )
    edges = pd.concat(frames, ignore_index=True)
    # one partition per (name, parent), numbered in order of first appearance
    key = edges["_number"].to_numpy(np.int64) * (len(cells) + 1) + edges["parent"].to_numpy(np.int64)
    edges["partition"] = pd.factorize(key)[0]
    return edges[["partition", "name", "parent", "child"]]


def _partition_parents(edges: pd.DataFrame) -> np.ndarray:
    _, first = np.unique(edges["partition"].to_numpy(np.int64), return_index=True)
    return edges["parent"].to_numpy(np.int64)[first]


# --- primary and secondary suppression -------------------------------------------------------


def primary_suppression(
    cells: pd.DataFrame, params: IndexParameters, previous_cells: pd.DataFrame | None = None
) -> np.ndarray:
    """The reason of primary (and stability) suppression of each cell, "" for none.

    Needs ``n`` and, for weighted indices, ``_dominance_share`` (see
    :func:`top_contributor_share`)."""
    n = cells["n"].to_numpy(np.int64)
    m = params.min_cell_size
    reason = np.full(len(cells), "", dtype=object)
    reason[n == 0] = NO_DATA
    reason[(n > 0) & (n < m)] = SMALL_N
    if params.weighting != "none" and "_dominance_share" in cells.columns:
        share = cells["_dominance_share"].to_numpy(float)
        dominated = (n >= m) & (np.nan_to_num(share, nan=0.0) > params.dominance_k)
        reason[dominated] = DOMINANCE
    if previous_cells is not None and len(previous_cells):
        prev = previous_cells.loc[previous_cells["suppressed"].fillna(False).astype(bool)]
        was_suppressed = _keys(cells).isin(_keys(prev))
        keep = was_suppressed & (reason == "") & (n < params.stability_factor * m)
        reason[keep] = STABILITY
    return reason


def _members(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every member of every partition: (partition, cell, 1 if the member is the parent)."""
    parents = _partition_parents(edges)
    part = np.concatenate([edges["partition"].to_numpy(np.int64), np.arange(len(parents))])
    cell = np.concatenate([edges["child"].to_numpy(np.int64), parents])
    is_parent = np.concatenate([np.zeros(len(edges), np.int64), np.ones(len(parents), np.int64)])
    return part, cell, is_parent


def complement_cost(
    hidden: np.ndarray, n: np.ndarray, order: np.ndarray, edges: pd.DataFrame, weight: np.ndarray | None = None
) -> np.ndarray:
    """What hiding each cell would lose, counted in contributors (filings), for choosing
    complements (docs/METHOD.md "互补隐藏的代价"):

        cost(c) = w_c · n_c + Σ over the other partitions P of c that have no unknown yet
                  of the smallest n of P's other published non-empty members

    The second term is the next complement that hiding c would force (one step of look
    ahead): a cell whose partitions already hold a hidden member costs only itself, one
    that opens a new partition (a province whose prefectures are all published) costs
    that partition's cheapest member too. ``w_c`` (default 1) is ½ for a cell hidden in
    the previous published period, so that the pattern stays stable across periods.
    Cells that cannot be hidden usefully (the only non-empty member of a partition) cost
    their n plus a large penalty. Vectorised over partitions."""
    w = np.ones(len(n)) if weight is None else weight
    own = w * n
    if edges.empty:
        return own
    part, cell, _ = _members(edges)
    n_parts = int(part.max()) + 1
    nonempty = n > 0
    unknown = hidden & nonempty
    count = np.bincount(part, unknown[cell].astype(np.int64), minlength=n_parts)
    open_ = ~hidden & nonempty
    rows = np.flatnonzero(open_[cell])
    # each partition's open members by (n, code order): the first and the second
    by = np.lexsort((order[cell[rows]], n[cell[rows]], part[rows]))
    p_sorted, n_sorted, c_sorted = part[rows][by], n[cell[rows]][by], cell[rows][by]
    first = np.ones(len(by), dtype=bool)
    first[1:] = p_sorted[1:] != p_sorted[:-1]
    second = np.zeros(len(by), dtype=bool)
    second[1:] = first[:-1] & ~first[1:]
    big = float(n.sum() + 1)
    first_n = np.full(n_parts, big)
    first_c = np.full(n_parts, -1, dtype=np.int64)
    second_n = np.full(n_parts, big)
    first_n[p_sorted[first]] = n_sorted[first]
    first_c[p_sorted[first]] = c_sorted[first]
    second_n[p_sorted[second]] = n_sorted[second]
    # the cascade each (partition, open member) would cause
    p, c = part[rows], cell[rows]
    forced = np.where(first_c[p] == c, second_n[p], first_n[p])
    forced = np.where(count[p] == 0, forced, 0.0)
    return own + np.bincount(c, forced, minlength=len(n))


def complete_suppression(
    hidden: np.ndarray, n: np.ndarray, order: np.ndarray, edges: pd.DataFrame, weight: np.ndarray | None = None
) -> np.ndarray:
    """Complementary suppression along partitions, repeated until stable.

    ``hidden``: bool per cell; ``n``: the count of each cell (cells with n = 0 are known to
    be empty and are never "unknown"); ``order``: tie-break (smaller first) among equal
    costs; ``weight``: see :func:`complement_cost`. In a partition with exactly one unknown
    member (parent or child with n > 0 that is hidden), the published non-empty child of
    least :func:`complement_cost` is hidden too; if there is none (the lone unknown child
    is its parent's only non-empty child), the parent is hidden.
    Returns the cells hidden by this function (a bool mask).
    """
    hidden = hidden.copy()
    added = np.zeros(len(hidden), dtype=bool)
    if edges.empty:
        return added
    part = edges["partition"].to_numpy(np.int64)
    child = edges["child"].to_numpy(np.int64)
    parents = _partition_parents(edges)
    n_parts = len(parents)
    nonempty = n > 0
    for _ in range(_MAX_ROUNDS):
        unknown = hidden & nonempty
        count = np.bincount(part, unknown[child].astype(np.int64), minlength=n_parts) + unknown[parents]
        needy = count == 1
        if not needy.any():
            return added
        cost = complement_cost(hidden, n, order, edges, weight)
        cand = needy[part] & ~hidden[child] & nonempty[child]
        # per needy partition, its candidate of least (cost, code order)
        by = np.lexsort((order[child[cand]], cost[child[cand]], part[cand]))
        pick_p = part[cand][by]
        first = np.ones(len(by), dtype=bool)
        first[1:] = pick_p[1:] != pick_p[:-1]
        chosen = child[cand][by][first]
        # A needy partition without a published non-empty child: hide its parent.
        served = np.zeros(n_parts, dtype=bool)
        served[pick_p[first]] = True
        orphan_parents = parents[needy & ~served]
        orphan_parents = orphan_parents[~hidden[orphan_parents] & nonempty[orphan_parents]]
        new = np.union1d(chosen, orphan_parents)
        if not len(new):
            raise RuntimeError("disclosure control cannot protect a partition")  # pragma: no cover
        hidden[new] = True
        added[new] = True
    raise RuntimeError("secondary suppression did not converge")  # pragma: no cover


def _code_order(cells: pd.DataFrame) -> np.ndarray:
    code = cells["code"].astype(str).to_numpy(object)
    order = np.empty(len(code), dtype=np.int64)
    order[np.argsort(code, kind="stable")] = np.arange(len(code))
    return order


def _linear_system(hidden: np.ndarray, n: np.ndarray, edges: pd.DataFrame):
    """Partition equations restricted to the unknown cells: a sparse matrix with one row
    per equation that has an unknown and one column per unknown cell (+1 for a child,
    −1 for the parent), and the cell position of each column."""
    unknown = hidden & (n > 0)
    variables = np.flatnonzero(unknown)
    column = np.full(len(hidden), -1, dtype=np.int64)
    column[variables] = np.arange(len(variables))
    part = edges["partition"].to_numpy(np.int64)
    child = edges["child"].to_numpy(np.int64)
    parents = _partition_parents(edges) if not edges.empty else np.zeros(0, np.int64)
    rows = [part[unknown[child]]]
    cols = [column[child[unknown[child]]]]
    vals = [np.ones(int(unknown[child].sum()))]
    p_unknown = np.flatnonzero(unknown[parents]) if len(parents) else np.zeros(0, np.int64)
    rows.append(p_unknown)
    cols.append(column[parents[p_unknown]])
    vals.append(-np.ones(len(p_unknown)))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    used, r = np.unique(r, return_inverse=True)
    matrix = sparse.csr_matrix((v, (r, c)), shape=(len(used), len(variables)))
    return matrix, variables


def _drop_absorbing_equations(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Drop, repeatedly, the equations that hold two or more unknowns found in no other
    equation. Such an equation says nothing about the other unknowns (one of those two
    absorbs any value) and its own lone unknowns are undetermined; dropping it changes
    nothing about which cells are determined, and keeps the SVD small (most suppressed
    counties and prefecture × division cells go this way)."""
    keep = np.ones(matrix.shape[0], dtype=bool)
    incidence = (matrix != 0).astype(np.int64).tocsr()
    while True:
        active = incidence[np.flatnonzero(keep)]
        degree = np.asarray(active.sum(axis=0)).ravel()
        lonely = np.zeros(len(keep), dtype=np.int64)
        lonely[np.flatnonzero(keep)] = active @ (degree == 1).astype(np.int64)
        drop = keep & (lonely >= 2)
        if not drop.any():
            break
        keep &= ~drop
    return matrix[np.flatnonzero(keep)]


def _leverage(sub: sparse.csr_matrix | np.ndarray) -> np.ndarray:
    """For each column j of ``sub`` (m × k, sparse or dense), the squared norm of the
    projection of e_j on the row space of ``sub``: 1 iff e_j is a combination of the rows.
    From the eigendecomposition of the smaller Gram matrix (A Aᵀ or Aᵀ A), which for these
    0/±1 matrices is accurate and much faster than an SVD of A."""
    m, k = sub.shape
    if m <= k:
        gram = sub @ sub.T
        gram = gram.toarray() if sparse.issparse(gram) else gram
        values, vectors = np.linalg.eigh(gram)
        keep = values > _RANK_TOLERANCE * max(values[-1], 1.0)
        # Row space basis: Aᵀ u_i / sqrt(λ_i) for λ_i > 0.
        basis = (sub.T @ vectors[:, keep]) / np.sqrt(values[keep])
        return (np.asarray(basis) ** 2).sum(axis=1)
    gram = sub.T @ sub
    gram = gram.toarray() if sparse.issparse(gram) else gram
    values, vectors = np.linalg.eigh(gram)
    keep = values > _RANK_TOLERANCE * max(values[-1], 1.0)
    return (vectors[:, keep] ** 2).sum(axis=1)


def determined_unknowns(hidden: np.ndarray, n: np.ndarray, edges: pd.DataFrame) -> np.ndarray:
    """Cells (positions) among the hidden non-empty ones that the partition equations
    determine uniquely, whatever the published values: cell j is determined iff the unit
    vector e_j lies in the row space of the equation matrix (every vector of its null
    space is 0 at j). Solved per connected block of equations (see :func:`_leverage`)."""
    matrix, variables = _linear_system(hidden, n, edges)
    return np.sort(variables[_determined_columns(matrix)])


# Which unknowns of an equation block are determined, by the block's matrix (its shape and
# entries): a pure function of the matrix, so kept across calls (bounded).
_DETERMINED: dict[tuple, np.ndarray] = {}
_DETERMINED_SIZE = 20_000
# Blocks up to this many matrix entries (equations × unknowns) are solved as dense arrays.
_DENSE_BLOCK = 50_000


def unknown_blocks(matrix: sparse.spmatrix) -> tuple[int, np.ndarray]:
    """Connected blocks of the unknowns (columns) of ``matrix`` (equations × unknowns) that
    share an equation (a non-zero in one row), numbered as ``connected_components`` numbers
    them on the unknowns' graph Aᵀ A (in order of each block's first unknown): from the
    bipartite graph of unknowns and equations instead — Aᵀ A has an entry per pair of
    unknowns in one equation, millions for a key industry over thousands of atoms, and a
    product of billions (an out-of-memory error) for a re-run whose every filing changed,
    where the nation cell holds every piece. Every step that solves block by block finds
    its blocks here."""
    rows, cols = matrix.shape
    coo = sparse.coo_matrix(matrix)
    nonzero = coo.data != 0
    graph = sparse.csr_matrix(
        (np.ones(int(nonzero.sum()), dtype=np.int8), (coo.col[nonzero], cols + coo.row[nonzero])),
        shape=(cols + rows, cols + rows),
    )
    _, label = csgraph.connected_components(graph, directed=False)
    # unknowns first: the labels of the unknowns' blocks come in order of their first unknown
    first = label[:cols]
    used, block = np.unique(first, return_inverse=True)
    return len(used), block.ravel()


def _determined_columns(matrix: sparse.csr_matrix) -> np.ndarray:
    """The columns j of ``matrix`` whose unit vector e_j lies in its row space (the
    unknowns the equations determine), per connected block of equations."""
    matrix = _drop_absorbing_equations(matrix)
    if matrix.shape[1] == 0 or matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    # Blocks: variables connected through shared equations.
    n_blocks, block = unknown_blocks(matrix)
    determined = []
    equation_block = np.full(matrix.shape[0], -1)
    coo = matrix.tocoo()
    equation_block[coo.row] = block[coo.col]
    eq_order = np.argsort(equation_block, kind="stable")
    eq_counts = np.bincount(equation_block, minlength=n_blocks)
    eq_starts = np.concatenate([[0], np.cumsum(eq_counts)])
    var_order = np.argsort(block, kind="stable")
    var_counts = np.bincount(block, minlength=n_blocks)
    var_starts = np.concatenate([[0], np.cumsum(var_counts)])
    # Each block's entries in its own numbering (equations and unknowns in matrix order),
    # sorted block by block: the block's matrix is built from its slice, and the slice is
    # also the key of _DETERMINED (the repeated audits of one run solve mostly the same
    # blocks again).
    eq_local = np.empty(matrix.shape[0], dtype=np.int64)
    eq_local[eq_order] = np.arange(matrix.shape[0]) - eq_starts[equation_block[eq_order]]
    var_local = np.empty(matrix.shape[1], dtype=np.int64)
    var_local[var_order] = np.arange(matrix.shape[1]) - var_starts[block[var_order]]
    e_block, e_row, e_col = block[coo.col], eq_local[coo.row], var_local[coo.col]
    by_block = np.lexsort((e_col, e_row, e_block))
    e_row, e_col, e_val = e_row[by_block].astype(np.int32), e_col[by_block].astype(np.int32), coo.data[by_block]
    e_starts = np.searchsorted(e_block[by_block], np.arange(n_blocks + 1))
    for b in range(n_blocks):
        vars_b = var_order[var_starts[b] : var_starts[b + 1]]
        if not eq_counts[b]:
            continue
        if len(vars_b) == 1:
            determined.append(vars_b)  # an equation with one unknown
            continue
        entries = slice(e_starts[b], e_starts[b + 1])
        rows, cols, vals = e_row[entries], e_col[entries], e_val[entries]
        key = (int(eq_counts[b]), len(vars_b), rows.tobytes(), cols.tobytes(), vals.tobytes())
        mask = _DETERMINED.get(key)
        if mask is None:
            shape = (int(eq_counts[b]), len(vars_b))
            if shape[0] * shape[1] <= _DENSE_BLOCK:  # most blocks: dense costs less than sparse
                sub = np.zeros(shape)
                np.add.at(sub, (rows, cols), vals)
            else:
                sub = sparse.csr_matrix((vals, (rows, cols)), shape=shape)
            mask = _leverage(sub) > 1 - _LEVERAGE_TOLERANCE
            if len(_DETERMINED) >= _DETERMINED_SIZE:
                _DETERMINED.clear()
            _DETERMINED[key] = mask
        determined.append(vars_b[mask])
    if not determined:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(determined)


def _repair_linear(
    hidden: np.ndarray, n: np.ndarray, order: np.ndarray, edges: pd.DataFrame, targets: np.ndarray,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """For each determined cell, one more cell to hide: the published non-empty member
    of least :func:`complement_cost` (children before parents, then code order) of a partition the
    cell belongs to; if all those members are hidden already, of the partitions one step
    further along hidden cells, and so on. Loops over the (few) determined cells only."""
    parents = _partition_parents(edges)
    members = pd.concat(
        [
            pd.DataFrame(
                {"p": edges["partition"].to_numpy(np.int64), "c": edges["child"].to_numpy(np.int64), "is_parent": 0}
            ),
            pd.DataFrame({"p": np.arange(len(parents)), "c": parents, "is_parent": 1}),
        ],
        ignore_index=True,
    )
    m_part = members["p"].to_numpy(np.int64)
    m_cell = members["c"].to_numpy(np.int64)
    m_parent = members["is_parent"].to_numpy(np.int64)
    open_cell = ~hidden & (n > 0)
    cost = complement_cost(hidden, n, order, edges, weight)
    chosen = set()
    for target in targets:
        seen_parts = np.zeros(len(parents), dtype=bool)
        seen_cells = np.zeros(len(hidden), dtype=bool)
        seen_cells[target] = True
        frontier = seen_cells.copy()
        while frontier.any():
            parts = np.unique(m_part[frontier[m_cell]])
            parts = parts[~seen_parts[parts]]
            if not len(parts):
                break
            seen_parts[parts] = True
            in_parts = seen_parts[m_part]
            cand = np.flatnonzero(in_parts & open_cell[m_cell])
            if len(cand):
                key = np.lexsort((order[m_cell[cand]], cost[m_cell[cand]], m_parent[cand]))
                chosen.add(int(m_cell[cand[key[0]]]))
                break
            step = np.zeros(len(hidden), dtype=bool)
            step[m_cell[in_parts]] = True
            frontier = step & ~seen_cells & (n > 0)
            seen_cells |= step
    return np.array(sorted(chosen), dtype=np.int64)


def protect(
    hidden: np.ndarray, n: np.ndarray, order: np.ndarray, edges: pd.DataFrame, linear: bool = True,
    weight: np.ndarray | None = None, *, method: str = "heuristic", max_cells: int = 50_000,
    seconds: float = 20.0, report: dict | None = None,
) -> np.ndarray:
    """Complementary suppression for ``hidden`` (bool per cell): with ``method`` "milp",
    first the choice of least cost per block (:func:`apps.indices.complements.optimal_complements`,
    blocks above ``max_cells`` or without a solution in ``seconds`` are left to the
    heuristic; its report goes into ``report``); then the line rule of
    :func:`complete_suppression` (nothing left to do where the program solved), then,
    with ``linear``, repairs of cells the whole system of equations determines, until none
    is left. Returns the added cells (mask). ``weight``: see :func:`complement_cost`."""
    current = hidden.copy()
    if method == "milp":
        from .complements import optimal_complements

        # the line rule's choice: a feasible answer whose cost bounds the program's
        line_rule = complete_suppression(current, n, order, edges, weight)
        chosen, summary = optimal_complements(current, n, edges, weight, order=order, max_cells=max_cells,
                                              seconds=seconds, feasible=line_rule)
        current |= chosen
        if report is not None:
            report.update(summary)
            report["program_cells"], report["program_contributors"] = int(chosen.sum()), int(n[chosen].sum())
            report["line_rule_cells"], report["line_rule_contributors"] = int(line_rule.sum()), int(n[line_rule].sum())
    for _ in range(_MAX_ROUNDS):
        current |= complete_suppression(current, n, order, edges, weight)
        if not linear:
            break
        targets = determined_unknowns(current, n, edges)
        if not len(targets):
            break
        extra = _repair_linear(current, n, order, edges, targets, weight)
        if not len(extra):
            raise RuntimeError("cannot protect cells the partition equations determine")  # pragma: no cover
        current[extra] = True
    return current & ~hidden


# A cell hidden in the previous published period costs this share of its n as a complement
# (complement_cost), so that the pattern stays the same from one period to the next.
PREVIOUS_COMPLEMENT_WEIGHT = 0.5


def previous_weight(cells: pd.DataFrame, previous_cells: pd.DataFrame | None) -> np.ndarray:
    """Per cell, the weight of its n in :func:`complement_cost`: ½ for a cell that was
    hidden (a complement, or any other reason but no data) in the previous published
    period's run, 1 otherwise."""
    weight = np.ones(len(cells))
    if previous_cells is None or not len(previous_cells):
        return weight
    hidden = previous_cells["suppressed"].fillna(False).astype(bool).to_numpy()
    if "suppression_reason" in previous_cells.columns:
        hidden = hidden & (previous_cells["suppression_reason"].fillna("").astype(str).to_numpy() != NO_DATA)
    weight[_keys(cells).isin(_keys(previous_cells.loc[hidden]))] = PREVIOUS_COMPLEMENT_WEIGHT
    return weight


def _previous_n(cells: pd.DataFrame, previous_cells: pd.DataFrame | None) -> np.ndarray:
    out = np.full(len(cells), np.nan)
    if previous_cells is None or not len(previous_cells) or "n" not in previous_cells.columns:
        return out
    pos = _keys(previous_cells).get_indexer(_keys(cells))
    found = pos >= 0
    out[found] = pd.to_numeric(previous_cells["n"], errors="coerce").to_numpy(float)[pos[found]]
    return out


# --- overlapping groups: the nation-level cells as unions of atoms ------------------------------


def overlap_suppression(cells: pd.DataFrame, scores: pd.DataFrame, params: IndexParameters,
                        record: list | None = None) -> np.ndarray:
    """Nation-level cells to suppress because a combination of published overlapping cells
    (nation, divisions, size classes, key industries) gives away the sum of a group of
    1 … min_cell_size − 1 filings, or of a hidden nation-level cell (reason ``overlap``).

    The exact check over atoms — filings grouped by (division, size class, key-industry
    tag set) — is :mod:`apps.indices.overlap`: it covers "key industry minus division",
    "key industry minus division minus the large firms", two key industries and a
    division together, and any other linear combination. Repairs are cheapest first (key
    industries, which are in no partition, before divisions and sizes; then by n).
    Returns a bool mask over ``cells`` (the cells already suppressed stay as they are);
    what each suppression protects is appended to ``record``."""
    from .overlap import overlap_suppression_mask

    hidden = cells["suppressed"].astype(bool).to_numpy()
    added, found = overlap_suppression_mask(cells, scores, hidden, params.min_cell_size)
    if record is not None:
        record += found
    return added


# --- group attribute disclosure: level distributions ---------------------------------------

# A level distribution with this share in one level puts every filer of the cell in it.
_WHOLE = 1.0 - 1e-9
# … and with all but this many filers in one level it tells the exceptions everyone
# else's level (docs/METHOD.md "等级分布：除一家外同一等级").
LEVEL_EXCEPTIONS = 1


def levels_withheld(cells: pd.DataFrame, level_hidden: Collection[str] | None = None) -> np.ndarray:
    """Cells whose level distribution the public does not see: those of
    :func:`one_level_cells`, and those ``level_hidden`` names ("kind|code", the run's
    complements of :func:`level_disclosure`, IndexRun.audit["protection"])."""
    withheld = one_level_cells(cells)
    if level_hidden:
        keys = cells["kind"].astype(str) + SEPARATOR + cells["code"].astype(str)
        withheld |= keys.isin(set(level_hidden)).to_numpy()
    return withheld


def one_level_cells(cells: pd.DataFrame) -> np.ndarray:
    """Published cells with filings whose level distribution puts all of them, or all but
    :data:`LEVEL_EXCEPTIONS` (one), in one level: showing it tells every member's level
    (group attribute disclosure), however large the cell — with all but one, the one
    firm in another level learns that every other member is in the first (and every
    member learns that all but one firm share its level). Needs ``n`` for the second rule
    (without it only the 100 % rule applies)."""
    if "level_shares" not in cells.columns:
        return np.zeros(len(cells), dtype=bool)
    top = np.array([max(s) if isinstance(s, (list, tuple, np.ndarray)) and len(s) else 0.0
                    for s in cells["level_shares"].tolist()], dtype=float)
    if "n" not in cells.columns:
        return top >= _WHOLE
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(float)
    # shares are counts / n: round the count back before comparing
    return (top >= _WHOLE) | ((n > 0) & (np.rint(top * n) >= n - LEVEL_EXCEPTIONS))


def level_disclosure(
    cells: pd.DataFrame, hidden: np.ndarray, n: np.ndarray, order: np.ndarray, edges: pd.DataFrame,
    *, linear: bool = True, weight: np.ndarray | None = None, report: dict | None = None,
    earlier: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Published cells whose level distribution the public must not see: those of
    :func:`one_level_cells`, and complements along the partitions so that the level
    counts of none of them are a difference of published ones (level counts add up like
    n, so the same :func:`protect` applies). With ``linear``, then the interval audit of
    the level counts (:func:`apps.indices.audit.protect_levels`): more distributions until
    the published counts pin no hidden one to all, or all but one, in one level; its
    summary goes into ``report``. Returns a bool mask (published cells only).

    ``earlier`` = (hidden then, this function's answer then): the audit of a smaller
    pattern of the same cells (:func:`apply_disclosure_control` runs it beside the later
    steps). Its distributions stay withheld, and only the distributions that became
    unknown since are audited: hiding more never makes a distribution the public could
    not pin pinnable (every solution of the smaller system, the new unknowns at their true
    counts, solves the larger one), nor a difference of published ones."""
    own = one_level_cells(cells) & ~hidden & (n > 0)
    unsafe = hidden | own | (earlier[1] if earlier is not None else False)
    if own.any() or earlier is not None:
        unsafe |= protect(unsafe, n, order, edges, linear=linear, weight=weight)
    if linear:
        from .audit import protect_levels

        among = None if earlier is None else unsafe & ~(earlier[0] | earlier[1])
        more, summary = protect_levels(cells, hidden, unsafe & ~hidden, order, edges, weight=weight, linear=linear,
                                       among=among)
        unsafe |= more
        if report is not None:
            report.update(summary)
    return unsafe & ~hidden


def _dimension_means(cells: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each dimension's mean per cell (NaN where a cell has none), from ``dimension_means``."""
    if "dimension_means" not in cells.columns:
        return {}
    rows = cells["dimension_means"].tolist()
    codes = sorted({code for r in rows if isinstance(r, dict) for code in r})
    return {code: np.array([r.get(code, np.nan) if isinstance(r, dict) else np.nan for r in rows], dtype=float)
            for code in codes}


def _intersections(
    cells: pd.DataFrame, kind: np.ndarray, code: np.ndarray, parent: np.ndarray, present: Collection[str]
) -> np.ndarray:
    """The county × division intersections :func:`with_county_divisions` adds for
    ``present``, as pairs of cell positions (county, prefecture × division cell): a code
    "prefecture|division|county" of ``present`` whose prefecture × division cell and county
    both hold filings, the county lying in that prefecture."""
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(float)
    counties = np.flatnonzero((kind == "county") & (n > 0))
    pdiv = np.flatnonzero((kind == "prefecture_division") & (n > 0))
    if not len(counties) or not len(pdiv) or not len(present):
        return np.zeros((0, 2), dtype=np.int64)
    # plain strings only (no list per code: at 200 k the heap is large and every
    # collection of the garbage collector scans it)
    present = [x for x in present if SEPARATOR in x]
    pdiv_at = dict(zip(code[pdiv].tolist(), pdiv.tolist(), strict=True))
    county_at = dict(zip(code[counties].tolist(), counties.tolist(), strict=True))
    d = np.array([pdiv_at.get(x[: x.rfind(SEPARATOR)], -1) for x in present], dtype=np.int64)
    c = np.array([county_at.get(x[x.rfind(SEPARATOR) + 1 :], -1) for x in present], dtype=np.int64)
    found = (d >= 0) & (c >= 0)
    d, c = d[found], c[found]
    prefecture = np.array([x.partition(SEPARATOR)[0] for x in code[d].tolist()], dtype=object)
    inside = parent[c] == prefecture
    key = np.unique(c[inside].astype(np.int64) * len(cells) + d[inside])  # each pair once
    return np.column_stack([key // len(cells), key % len(cells)])


def _intersection_pairs(cells: pd.DataFrame, scores: pd.DataFrame) -> np.ndarray:
    """:func:`_intersections` of the filings in ``scores`` (their "prefecture|division|county"
    codes), found from the distinct (prefecture, division, county) triples by integer codes:
    one lookup per distinct county and per distinct prefecture × division, not per filing."""
    if not len(scores):
        return np.zeros((0, 2), dtype=np.int64)
    kind, code, parent = _codes(cells)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(float)
    counties = np.flatnonzero((kind == "county") & (n > 0))
    pdiv = np.flatnonzero((kind == "prefecture_division") & (n > 0))
    factors = [pd.factorize(scores[c].astype(str).to_numpy(object)) for c in ("prefecture", "division", "county")]
    (p_code, p_names), (d_code, d_names), (c_code, c_names) = factors
    triple = pd.unique((p_code.astype(np.int64) * len(d_names) + d_code) * len(c_names) + c_code)
    p_of, rest = np.divmod(triple, len(d_names) * len(c_names))
    d_of, c_of = np.divmod(rest, len(c_names))
    county_at = dict(zip(code[counties].tolist(), counties.tolist(), strict=True))
    county = np.array([county_at.get(x, -1) for x in np.asarray(c_names, dtype=object).tolist()], dtype=np.int64)[c_of]
    pdiv_at = dict(zip(code[pdiv].tolist(), pdiv.tolist(), strict=True))
    pd_key, pd_inverse = np.unique(p_of * len(d_names) + d_of, return_inverse=True)
    p_names, d_names = np.asarray(p_names, dtype=object), np.asarray(d_names, dtype=object)
    prefectures, divisions = p_names[pd_key // len(d_names)].tolist(), d_names[pd_key % len(d_names)].tolist()
    cell = np.array(
        [pdiv_at.get(f"{a}{SEPARATOR}{b}", -1) for a, b in zip(prefectures, divisions, strict=True)], dtype=np.int64
    )
    cell = cell[pd_inverse.ravel()]
    found = (county >= 0) & (cell >= 0)
    county, cell, prefecture = county[found], cell[found], p_names[p_of[found]]
    inside = parent[county] == prefecture  # the county lies in that prefecture
    key = np.unique(county[inside] * len(cells) + cell[inside])
    return np.column_stack([key // len(cells), key % len(cells)])


def intersection_repairs(
    cells: pd.DataFrame, hidden: np.ndarray, n: np.ndarray, order: np.ndarray, weight: np.ndarray | None,
    present: Collection[str], edges: pd.DataFrame | None = None, pairs: np.ndarray | None = None,
) -> np.ndarray:
    """One round of the single-run audit with county × division intersections
    (:func:`with_county_divisions`; ``present``: the "prefecture|division|county" codes that
    hold filings): the published cells (positions) to hide so that no hidden cell of
    ``cells`` is determined by the partition equations together with the intersections
    as unknowns — one per determined cell, chosen as :func:`_repair_linear` chooses.
    Empty when nothing is determined. ``edges``: :func:`partition_table` of ``cells``, when
    the caller has it; ``pairs``: :func:`_intersection_pairs` (then ``present`` is not read)."""
    # Only prefectures with a hidden county or prefecture × division cell can have a hidden
    # cell determined through their intersections (elsewhere both margins are published and
    # the partition audit has settled the rest).
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    parent = cells["parent_code"].fillna("").astype(str).to_numpy(object)
    open_to = set(parent[hidden & (kind == "county")]) | {
        c.split(SEPARATOR, 1)[0] for c in code[hidden & (kind == "prefecture_division")]
    }
    if pairs is None:
        present = [c for c in present if c.partition(SEPARATOR)[0] in open_to]
    else:  # (a pair's county lies in the prefecture of its code)
        pairs = pairs[pd.Index(parent[pairs[:, 0]]).isin(open_to)] if len(pairs) else pairs
        cell_codes, county_codes = code[pairs[:, 1]].tolist(), code[pairs[:, 0]].tolist()
        present = [f"{a}{SEPARATOR}{b}" for a, b in zip(cell_codes, county_codes, strict=True)]
    # The intersections themselves are never needed as unknowns: each lies in exactly two
    # equations (its county's and its prefecture × division cell's), so eliminating them
    # leaves, per connected group K of counties and prefecture × division cells joined by
    # non-empty intersections, the one equation Σ_{d∈K} cell_d − Σ_{c∈K} county_c = 0 (a
    # bipartite incidence matrix has rank nodes − components). Which of the other unknowns
    # are determined is the same in both systems (their null spaces project onto the same
    # space), and the eliminated one is the size of the partition audit's.
    if pairs is None:
        pairs = _intersections(cells, kind, code, parent, present)
    k = len(pairs)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    matrix, variables = _linear_system(hidden, n, partition_table(cells) if edges is None else edges)
    column = np.full(len(cells), -1, dtype=np.int64)
    column[variables] = np.arange(len(variables))
    nodes = np.concatenate([pairs[:, 0], pairs[:, 1]])
    graph = sparse.coo_matrix((np.ones(k), (pairs[:, 0], pairs[:, 1])), shape=(len(cells), len(cells)))
    _, group = csgraph.connected_components(graph.tocsr(), directed=False)
    nodes = np.unique(nodes)
    unknown_nodes = nodes[column[nodes] >= 0]
    if len(unknown_nodes):
        used, row = np.unique(group[unknown_nodes], return_inverse=True)
        sign = np.where(kind[unknown_nodes] == "county", -1.0, 1.0)
        extra = sparse.csr_matrix((sign, (row, column[unknown_nodes])), shape=(len(used), len(variables)))
        matrix = sparse.vstack([matrix, extra]).tocsr()
    targets = np.sort(variables[_determined_columns(matrix)])
    if not len(targets):
        return np.zeros(0, dtype=np.int64)
    # a repair (rare): chosen on the system with the intersections, as before
    augmented = with_county_divisions(cells.assign(suppressed=hidden), present)
    edges = partition_table(augmented)
    all_hidden = np.concatenate([hidden, np.ones(k, dtype=bool)])
    all_n = np.concatenate([n, np.ones(k, dtype=np.int64)])
    all_order = np.concatenate([order, order.max() + 1 + np.arange(k)])
    all_weight = None if weight is None else np.concatenate([weight, np.ones(k)])
    extra = _repair_linear(all_hidden, all_n, all_order, edges, targets, all_weight)
    return extra[extra < len(cells)]


def _protect_small_groups(
    cells: pd.DataFrame, scores: pd.DataFrame, params: IndexParameters, hidden: np.ndarray,
    order: np.ndarray, weight: np.ndarray | None, edges: pd.DataFrame, hide: Callable[[np.ndarray, str], None],
    records: dict,
) -> None:
    """No group of 1 … min_cell_size − 1 filings may be derivable, cell or not
    (:mod:`apps.indices.intersections`: unions of hidden cells, county × division
    intersections, key industries and size classes against region cells). Each round
    hides one more cell per group found, and per hidden cell the equations with every
    prefecture's intersections determine (a key industry or size class for reason
    ``overlap``), then lets the nation-level overlap audit see the new pattern; ``hide``
    (apply_disclosure_control's) adds the partitions' complements. ``hidden`` is the live
    mask ``hide`` updates. Recorded in ``records["protection"]["small_groups"]`` (the run's
    ``audit.protection.small_groups``)."""
    from .intersections import small_group_repairs

    started = time.perf_counter()
    kind = cells["kind"].astype(str).to_numpy(object)
    record: list[dict] = []
    state: dict = {}
    for _ in range(_MAX_ROUNDS):
        extra, found = small_group_repairs(
            cells, scores, hidden, order, weight, params.min_cell_size, state=state, edges=edges
        )
        record += found
        if not len(extra):
            break
        before = hidden.copy()
        for why, pick in ((OVERLAP, np.isin(kind[extra], ("key_industry", "size"))), (SECONDARY, None)):
            chosen = extra[pick] if pick is not None else extra[~np.isin(kind[extra], ("key_industry", "size"))]
            if len(chosen):
                mask = np.zeros(len(hidden), dtype=bool)
                mask[chosen] = True
                hide(mask, why)
        # a nation-level cell hidden now may be what the overlap audit must protect (the
        # intersection audit is part of small_group_repairs' next round)
        if np.isin(kind[hidden & ~before], ("nation", "division", "size", "key_industry")).any():
            overlapping = overlap_suppression(cells, scores, params, records["overlap"])
            if overlapping.any():
                hide(overlapping, OVERLAP)
    groups = [r for r in record if not r.get("cell")]
    # hidden cells the intersections with the key-industry / size equations determined
    # (found in the same solve; each got one more complement)
    records["protection"]["intersections"] += [r["group"].replace(":", SEPARATOR, 1) for r in record if r.get("cell")]
    records["protection"]["small_groups"] = {
        "groups": groups[:50], "found": len(groups), "seconds": round(time.perf_counter() - started, 3),
    }


# What the level-count audit reads of the cells (level_disclosure, audit.protect_levels).
_LEVEL_AUDIT_COLUMNS = ("kind", "code", "n", "level_shares")


def _level_reports(earlier: dict, later: dict) -> dict:
    """One record of a level-count audit made in two parts (apply_disclosure_control): the
    audit of the early pattern and the audit of what became unknown after it. Counts add
    up; ``seconds`` is the early part's own time (it ran beside the other steps) plus the
    later part's; ``left`` keeps both parts' pinned distributions."""
    if not earlier:
        return later
    merged = {key: earlier.get(key, 0) + later.get(key, 0)
              for key in ("audited", "widened", "rounds", "swaps", "lps", "milps")}
    merged["largest_block"] = max(earlier.get("largest_block", 0), later.get("largest_block", 0))
    merged["left"] = (earlier.get("left", []) + later.get("left", []))[:50]
    merged["seconds"] = round(earlier.get("seconds", 0) + later.get("seconds", 0), 3)
    merged["later"] = {key: later.get(key, 0) for key in ("audited", "widened", "rounds", "lps", "seconds")}
    return merged


def apply_disclosure_control(
    cells: pd.DataFrame,
    params: IndexParameters,
    previous_cells: pd.DataFrame | None = None,
    *,
    linear_audit: bool = True,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Set ``suppressed`` and ``suppression_reason`` of every cell (steps 1–3 of the module
    docstring) and hide unsafe panel changes (step 4). Returns a new frame.

    ``cells`` needs kind, code, parent_code, n, and for weighted indices
    ``_dominance_share``; panel_n/panel_change are handled when present.
    ``previous_cells`` needs kind, code, suppressed (and n, for the panel rule about
    enterprises that left a cell). ``linear_audit`` = False keeps only the line rule.
    ``scores`` (the filings with division, size_class, key_industries) enables the check
    of overlapping groups (:func:`overlap_suppression`).
    """
    cells = cells.reset_index(drop=True).copy()
    # What the steps record (the run's audit) is kept here and set as the frame's attrs at
    # the end: pandas deep-copies a frame's attrs into every column taken from it, and the
    # steps take hundreds (0.22 s of the 200 k computation under cProfile, 0.005 s now).
    records: dict = cells.attrs  # (a copy already: the frame's own, from .copy())
    cells.attrs = {}
    n = cells["n"].to_numpy(np.int64)
    reason = primary_suppression(cells, params, previous_cells)
    hidden = (reason != "") & (reason != NO_DATA)
    edges = partition_table(cells)
    order = _code_order(cells)
    weight = previous_weight(cells, previous_cells)
    report: dict = {"method": params.complement_method}
    started = time.perf_counter()
    added = protect(hidden, n, order, edges, linear=linear_audit, weight=weight, method=params.complement_method,
                    max_cells=params.milp_max_cells, seconds=params.milp_seconds, report=report)
    report["seconds"] = round(time.perf_counter() - started, 3)
    report["protect_cells"], report["protect_contributors"] = int(added.sum()), int(n[added].sum())
    reason[added] = SECONDARY
    hidden |= added
    # The level-count audit of the pattern as it stands now runs in a thread beside the
    # steps below (most of it is HiGHS, which releases the GIL); at the end only the
    # distributions those steps made unknown are audited (level_disclosure's ``earlier``).
    # The thread gets its own copies: the steps below change ``cells`` and ``hidden``.
    hidden_then, early_report = hidden.copy(), {}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="level-audit")
    early = pool.submit(
        level_disclosure, cells[[c for c in _LEVEL_AUDIT_COLUMNS if c in cells.columns]].copy(), hidden_then, n,
        order, edges, linear=linear_audit, weight=weight, report=early_report,
    )
    pool.shutdown(wait=False)  # the thread ends with its one job
    if linear_audit and params.protection_p > 0 and "mean" in cells.columns:
        from .audit import protect_intervals

        widened, summary = protect_intervals(
            cells, hidden, reason, order, edges, p=params.protection_p, weight=weight,
            max_cells=params.audit_max_cells,
        )
        reason[widened] = SECONDARY
        hidden |= widened
        # the same audit for each dimension's sum (0 ≤ sum ≤ 100 n, same equations): one
        # pass per dimension on the pattern as it stands, adding complements where needed
        summary["dimensions"] = {}
        for dimension, means in (_dimension_means(cells) if params.audit_dimensions else {}).items():
            view = cells[["kind", "code", "parent_code", "n"]].assign(mean=means)
            widened, dim_summary = protect_intervals(
                view, hidden, reason, order, edges, p=params.protection_p, weight=weight,
                max_cells=params.audit_max_cells,
            )
            reason[widened] = SECONDARY
            hidden |= widened
            summary["widened"] += dim_summary["widened"]
            summary["dimensions"][dimension] = {
                k: dim_summary[k] for k in ("audited", "widened", "unprotected", "lps", "seconds")
            }
        records["protection"] = summary
    # what the complements cost, recorded on the run (audit "complements"): cells and
    # contributors hidden beyond the primary rules (the interval rule's additions included)
    secondary = hidden & (reason == SECONDARY)
    report.update({"secondary_cells": int(secondary.sum()), "secondary_contributors": int(n[secondary].sum())})
    records["complements"] = report
    cells["suppressed"] = hidden
    cells["suppression_reason"] = reason
    if scores is not None:
        # Overlaps, then the partitions again when a division or size class was hidden
        # (it needs complements like any cell), until neither adds anything. Each round
        # only hides cells, so this ends.
        records["overlap"] = []

        def hide(mask: np.ndarray, why: str) -> None:
            """Hide ``mask`` for ``why``, then the partitions' complements it needs."""
            nonlocal hidden
            reason[mask] = why
            hidden |= mask
            more = protect(hidden, n, order, edges, linear=linear_audit, weight=weight)
            reason[more] = SECONDARY
            hidden |= more
            cells["suppressed"] = hidden
            cells["suppression_reason"] = reason

        for _ in range(_MAX_ROUNDS):
            overlapping = overlap_suppression(cells, scores, params, records["overlap"])
            if not overlapping.any():
                break
            hide(overlapping, OVERLAP)
        # recorded on the run with the interval audit (IndexRun.audit["protection"])
        records.setdefault("protection", {})["overlap"] = records["overlap"]
        if linear_audit and params.protection_p > 0 and "composite" in scores.columns:
            from .audit import PRIMARY
            from .overlap import overlap_intervals

            primary = hidden & np.isin(reason.astype(str), PRIMARY)
            widened, summary = overlap_intervals(cells, scores, hidden, primary, params.protection_p)
            if widened.any():
                hide(widened, SECONDARY)
            records["protection"]["overlap_intervals"] = summary
        if linear_audit:
            # Counties and prefecture × division cells are two partitions of one prefecture:
            # audited together through their intersections (county × division, unknowns
            # that are never published), a county minus a prefecture × division cell can no
            # longer give away another hidden prefecture × division cell.
            pairs = _intersection_pairs(cells, scores)
            repaired, kinds, codes = [], cells["kind"].astype(str).to_numpy(object), cells["code"].astype(str).to_numpy(object)
            for _ in range(_MAX_ROUNDS):
                extra = intersection_repairs(cells, hidden, n, order, weight, (), edges, pairs)
                if not len(extra):
                    break
                mask = np.zeros(len(hidden), dtype=bool)
                mask[extra] = True
                hide(mask, SECONDARY)
                repaired += [f"{k}{SEPARATOR}{c}" for k, c in zip(kinds[extra], codes[extra], strict=True)]
            records["protection"]["intersections"] = repaired
            _protect_small_groups(cells, scores, params, hidden, order, weight, edges, hide, records)
    level_report: dict = {}
    levels_hidden = level_disclosure(cells, hidden, n, order, edges, linear=linear_audit, weight=weight,
                                     report=level_report, earlier=(hidden_then, early.result()))
    kind, code, _ = _codes(cells)
    if level_report:
        records.setdefault("protection", {})["level_intervals"] = _level_reports(early_report, level_report)
    records.setdefault("protection", {})["level_hidden"] = [
        f"{k}{SEPARATOR}{c}" for k, c in zip(kind[levels_hidden], code[levels_hidden], strict=True)
    ]

    if "panel_n" in cells.columns and "panel_change" in cells.columns:
        m = params.min_cell_size
        panel_n = pd.to_numeric(cells["panel_n"], errors="coerce").fillna(0).to_numpy(np.int64)
        prev_n = _previous_n(cells, previous_cells)
        moved = (n - panel_n) + np.where(np.isnan(prev_n), 0, np.nan_to_num(prev_n) - panel_n)
        unsafe = hidden | ((panel_n > 0) & (panel_n < m)) | ((moved > 0) & (moved < m))
        unsafe |= protect(unsafe, panel_n, order, edges, linear=linear_audit, weight=weight)
        cells.loc[unsafe, "panel_change"] = np.nan
    cells.attrs = records
    return cells


# --- what may be published ---------------------------------------------------------------------


def order_statistic_mask(n: np.ndarray, min_cell_size: int) -> dict[str, np.ndarray]:
    """Which order statistics of a cell may be published, from n alone.

    A linear-interpolation quantile at position h = q (n − 1) is shown only if at least
    ``min_cell_size`` filings lie at or below it (⌊h⌋ + 1) and at or above it
    (n − ⌈h⌉); otherwise it is, or is interpolated from, the score of one of a few
    enterprises (for n = 5 the quartiles ARE the 2nd, 3rd and 4th scores). The benchmark
    (mean of the filings at or above p90) needs at least ``min_cell_size`` such filings
    without ties (n − ⌈0.9 (n − 1)⌉; ties only add filings). With min_cell_size 5:
    median from n = 9, p25/p75 from n = 17, p10/p90/benchmark from n = 41.
    """
    n = np.asarray(n, dtype=float)
    out = {}
    with np.errstate(invalid="ignore"):
        for column, q in ORDER_STATISTICS.items():
            h = q * (n - 1)
            out[column] = (np.floor(h) + 1 >= min_cell_size) & (n - np.ceil(h) >= min_cell_size)
        out["benchmark"] = n - np.ceil(BENCHMARK_QUANTILE * (n - 1)) >= min_cell_size
    return out


def public_view(
    cells: pd.DataFrame, params: IndexParameters | None = None, level_hidden: Collection[str] | None = None
) -> pd.DataFrame:
    """The cells as the public may see them.

    Same rows; for suppressed cells every value column (n included) is None, only kind,
    code, parent_code, suppressed and suppression_reason remain, and the reason is the one
    public reason ``not_published`` (不公开) whatever the detailed one. For published cells
    the order statistics that :func:`order_statistic_mask` rejects are None. Cells without
    filings (reason no_data) show n = 0, their registered count and coverage. ``stale``
    (when present) is False: marking the cells a late filing touches would point at the
    filer; the public learns only that the period is being updated (IndexRun.stale_since).
    ``level_shares`` is None for a cell whose filers are all in one level
    (:func:`one_level_cells`) and for the cells ``level_hidden`` names ("kind|code", the
    run's complements of :func:`level_disclosure`, IndexRun.audit["protection"]).
    """
    from apps.indices.aggregation import IndexParameters

    params = params or IndexParameters()
    out = cells.copy().astype(object)
    suppressed = cells["suppressed"].astype(bool).to_numpy()
    value_columns = [c for c in out.columns if c not in IDENTITY_COLUMNS]
    for column in value_columns:
        out.loc[suppressed, column] = None
    if "suppression_reason" in out.columns:
        out.loc[suppressed, "suppression_reason"] = NOT_PUBLISHED
    if "stale" in out.columns:
        out["stale"] = False
    if "level_shares" in out.columns:
        out.loc[levels_withheld(cells, level_hidden), "level_shares"] = None
    n = pd.to_numeric(cells["n"], errors="coerce").to_numpy(float)
    for column, ok in order_statistic_mask(n, params.min_cell_size).items():
        if column in out.columns:
            out.loc[~ok, column] = None
    out = out.where(out.notna(), None)
    return out


def derivable_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The attacker's subtraction: which suppressed cells follow from published ones.

    A suppressed cell with n > 0 is unknown; everything else is known (a published cell,
    or a cell known to be empty). In a partition with exactly one unknown member, that
    member is parent − Σ children (or Σ children): it becomes known, and the attack is
    repeated until nothing new follows. Works on the output of :func:`public_view` too
    (where only the suppressed flag and reason of hidden cells remain). Returns the
    derived cells (kind, code, the partition that gave them away).
    """
    cells = cells.reset_index(drop=True)
    unknown = cells["suppressed"].astype(bool).to_numpy() & (
        cells["suppression_reason"].astype(str).to_numpy() != NO_DATA
    )
    edges = partition_table(cells)
    found_kind, found_code, found_how = [], [], []
    if not edges.empty:
        part = edges["partition"].to_numpy(np.int64)
        child = edges["child"].to_numpy(np.int64)
        names = edges.drop_duplicates("partition").sort_values("partition")["name"].to_numpy(object)
        parents = _partition_parents(edges)
        kind, code, _ = _codes(cells)
        unknown = unknown.copy()
        while True:
            count = np.bincount(part, unknown[child].astype(np.int64), minlength=len(parents)) + unknown[parents]
            solvable = np.flatnonzero(count == 1)
            if not len(solvable):
                break
            newly = set()
            for p in solvable:  # one per solvable partition (a handful), not per enterprise
                members = child[part == p]
                lone = members[unknown[members]]
                cell = int(lone[0]) if len(lone) else int(parents[p])
                if cell not in newly:
                    newly.add(cell)
                    found_kind.append(kind[cell])
                    found_code.append(code[cell])
                    found_how.append(names[p])
            unknown[list(newly)] = False
    return pd.DataFrame({"kind": found_kind, "code": found_code, "partition": found_how}, dtype=object)


def linearly_derivable_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Suppressed cells that the partition equations determine taken all together (the
    attack of :func:`derivable_cells` generalised to any linear combination of equations,
    e.g. rows and columns of the province × division table). Returns kind, code."""
    cells = cells.reset_index(drop=True)
    hidden = cells["suppressed"].astype(bool).to_numpy() & (
        cells["suppression_reason"].astype(str).to_numpy() != NO_DATA
    )
    # The audit needs only which cells are empty; public views hide n of suppressed cells,
    # which are never empty.
    n = np.where(hidden, 1, pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(float)).astype(np.int64)
    edges = partition_table(cells)
    if edges.empty:
        return pd.DataFrame({"kind": [], "code": []}, dtype=object)
    found = determined_unknowns(hidden, n, edges)
    kind, code, _ = _codes(cells)
    return pd.DataFrame({"kind": kind[found], "code": code[found]}, dtype=object)


def with_county_divisions(cells: pd.DataFrame, present: Collection[str] | None = None) -> pd.DataFrame:
    """``cells`` plus one hidden pseudo-cell per (county, division) that holds filings:
    counties and prefecture × division cells are two partitions of the same prefecture,
    and their intersections tie them together (a county whose filers are all of one
    division IS that prefecture × division cell's part). ``present``: the codes
    "prefecture|division|county" that hold filings (the attacker is assumed to know which
    intersections are empty, as from the register); without it, every pair whose county
    and prefecture × division cell both have filings. n 1 marks them non-empty."""
    kind = cells["kind"].astype(str)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0)
    counties = cells.loc[(kind == "county") & (n > 0), ["code", "parent_code"]].astype(str)
    pdiv = cells.loc[(kind == "prefecture_division") & (n > 0), "code"].astype(str)
    if counties.empty or pdiv.empty:
        return cells
    pairs = pd.DataFrame({"pd": pdiv.to_numpy(object)})
    pairs["prefecture"] = pairs["pd"].str.split(SEPARATOR, n=1).str[0]
    pairs = pairs.merge(counties.rename(columns={"code": "county", "parent_code": "prefecture"}), on="prefecture")
    codes = pairs["pd"] + SEPARATOR + pairs["county"]
    if present is not None:
        pairs, codes = pairs[codes.isin(set(present)).to_numpy()], codes[codes.isin(set(present))]
    extra = pd.DataFrame({
        "kind": COUNTY_DIVISION, "code": codes.to_numpy(object), "parent_code": pairs["county"].to_numpy(object),
        "n": 1, "suppressed": True,
    })  # fmt: skip
    return pd.concat([cells[["kind", "code", "parent_code", "n", "suppressed"]], extra], ignore_index=True)


class ChangeTotals:
    """The sets of changed filings whose total the public can form from two runs (see
    :func:`known_changes`): every set whose indicator lies in the span of the direct ones
    (a cell's change set, for each cell published in both runs). ``s in totals`` tests a
    set; the empty set is always in."""

    def __init__(self, direct: set[frozenset]):
        self.direct = {s for s in direct if s}
        members = sorted({f for s in self.direct for f in s}, key=repr)
        self.column = {f: j for j, f in enumerate(members)}
        matrix = np.zeros((len(self.direct), len(members)))
        for i, group in enumerate(self.direct):
            matrix[i, [self.column[f] for f in group]] = 1.0
        if len(self.direct):
            _u, sv, vt = np.linalg.svd(matrix, full_matrices=False)
            self.basis = vt[sv > 1e-9 * max(sv[0], 1.0)]
        else:
            self.basis = np.zeros((0, 0))

    def __contains__(self, group) -> bool:
        group = frozenset(group)
        if not group or group in self.direct:
            return True
        if any(f not in self.column for f in group):
            return False
        indicator = np.zeros(len(self.column))
        indicator[[self.column[f] for f in group]] = 1.0
        rest = indicator - self.basis.T @ (self.basis @ indicator)
        return bool(np.linalg.norm(rest) < 1e-7 * np.sqrt(len(group)))


def known_changes(
    published: pd.DataFrame, candidate: pd.DataFrame, changed: Mapping[tuple[str, str], frozenset],
    closure: bool = True,
) -> set[frozenset] | ChangeTotals:
    """The sets of changed filings whose total the public can form from two runs: the
    change set of every cell published in both (new sum − old sum) — with ``closure`` False,
    these (and the empty set) as a set — and, with ``closure``, every set in their span
    (:class:`ChangeTotals`, tested with ``in``): the difference of two such sets one inside
    the other, and any other combination. (This was once the closure under nested
    differences, which grows exponentially with the changed filings: 20 late filers in 133
    cells at 200 k did not finish in 20 minutes. The span holds that closure and is a
    least-squares test per set.) Small groups in the span are
    :mod:`apps.indices.revision_groups`' business (its changes-only system)."""
    open_a = set(zip(published.loc[~published["suppressed"].astype(bool), "kind"].astype(str),
                     published.loc[~published["suppressed"].astype(bool), "code"].astype(str), strict=True))
    open_b = set(zip(candidate.loc[~candidate["suppressed"].astype(bool), "kind"].astype(str),
                     candidate.loc[~candidate["suppressed"].astype(bool), "code"].astype(str), strict=True))
    known = {frozenset(changed.get(k, frozenset())) for k in open_a & open_b}
    known.discard(frozenset())
    if closure:
        return ChangeTotals(known)
    return known | {frozenset()}


def without_records(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its ``attrs`` — the records compute_cells hands over on its cells,
    which the database's cells do not carry (one shallow copy, instead of pandas deep-copying
    them into every column taken from the frame)."""
    if not frame.attrs:
        return frame
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def across_runs_determined(
    published: pd.DataFrame, candidate: pd.DataFrame, changed: Mapping[tuple[str, str], frozenset],
    min_cell_size: int = 5,
    present: tuple[Collection[str], Collection[str]] | Callable[[], tuple[Collection[str], Collection[str]]] | None = None,
) -> pd.DataFrame:
    """Hidden cells that two runs of one period give away together (issue 8, revisions).

    ``published`` and ``candidate`` are the cells of the run now published and of the
    run to publish (kind, code, parent_code, n, suppressed); ``changed`` gives, per
    (kind, code), the set of filings that differ between them (new, gone, re-scored).
    A cell published in one run is known in the other too when its change set is one the
    public can total (:func:`known_changes`: nothing changed, or the same late filers as
    a cell published in both) — whether that run hides it or not. So, for each run, those
    cells are taken as known and :func:`determined_unknowns` solves that run's partition
    equations: a hidden cell determined only by the two runs together is returned (kind,
    code, n, run "published" or "candidate"). A total of 1 … ``min_cell_size`` − 1 changed
    filings that the public can form (the difference of two cells' change sets, each of
    at least ``min_cell_size``) is returned as kind "changed_filings" (run "both").
    County × division intersections are modelled (:func:`with_county_divisions`;
    ``present``: the non-empty ones of each run)."""
    # cells straight from compute_cells carry its records as attrs, which pandas deep-copies
    # into every column taken here (the database's cells have none)
    published, candidate = without_records(published), without_records(candidate)
    found = []
    totals = known_changes(published, candidate, changed)
    # a total of 1 … m − 1 changed filings (two cells' change sets one inside the other)
    # is itself a small group: reported as one pseudo-cell (other combinations of change
    # sets: revision_groups' changes-only system)
    m = min_cell_size
    direct = sorted(totals.direct, key=len)
    nested = {a - b for a in direct for b in direct if b < a}
    for group in sorted(nested - totals.direct, key=lambda g: (len(g), sorted(map(str, g)))):
        if 0 < len(group) < m:  # direct ones: the Δn rule (revision_blockers)
            found.append({"kind": "changed_filings", "code": ",".join(map(str, sorted(group)[:10])),
                          "n": len(group), "run": "both"})

    def open_keys(frame: pd.DataFrame) -> set:
        shown = ~frame["suppressed"].astype(bool)
        return set(zip(frame.loc[shown, "kind"].astype(str), frame.loc[shown, "code"].astype(str), strict=True))

    def newly_known(this: pd.DataFrame, other: pd.DataFrame) -> bool:
        hidden = this["suppressed"].astype(bool) & (pd.to_numeric(this["n"], errors="coerce").fillna(0) > 0)
        keys = zip(this.loc[hidden, "kind"].astype(str), this.loc[hidden, "code"].astype(str), strict=True)
        shown = open_keys(other)
        return any(k in shown and frozenset(changed.get(k, frozenset())) in totals for k in keys)

    # Usual case: both runs hide the same cells (the stability rule keeps patterns), so no
    # hidden cell is known from the other run and nothing more follows — skip the solve.
    if not (newly_known(published, candidate) or newly_known(candidate, published)):
        return pd.DataFrame(found, columns=["kind", "code", "n", "run"])
    if callable(present):
        present = present()
    published = with_county_divisions(published, present[0] if present else None)
    candidate = with_county_divisions(candidate, present[1] if present else None)
    for name, this, other in (("candidate", candidate, published), ("published", published, candidate)):
        this = this.reset_index(drop=True)
        n = pd.to_numeric(this["n"], errors="coerce").fillna(0).to_numpy(np.int64)
        hidden = this["suppressed"].astype(bool).to_numpy() & (n > 0)
        if not hidden.any():
            continue
        other_open = set(zip(other.loc[~other["suppressed"].astype(bool), "kind"].astype(str),
                             other.loc[~other["suppressed"].astype(bool), "code"].astype(str), strict=True))
        keys = list(zip(this["kind"].astype(str), this["code"].astype(str), strict=True))
        known = np.array([k in other_open and frozenset(changed.get(k, frozenset())) in totals for k in keys])
        edges = partition_table(this)
        if edges.empty:
            continue
        together = set(determined_unknowns(hidden & ~known, n, edges).tolist())
        # what this run's own equations determine is the single-run audit's business
        alone = set(determined_unknowns(hidden, n, edges).tolist())
        for i in sorted(together - alone):
            if keys[i][0] == COUNTY_DIVISION:
                continue  # its n is not known here; the cells it lies in are what is reported
            found.append({"kind": keys[i][0], "code": keys[i][1], "n": int(n[i]), "run": name})
    return pd.DataFrame(found, columns=["kind", "code", "n", "run"])


def suppression_summary(cells: pd.DataFrame) -> dict[str, int]:
    """Number of cells per suppression reason (for IndexRun.suppressed_cells and logs)."""
    reasons = cells["suppression_reason"].fillna("").astype(str)
    return {r: int((reasons == r).sum()) for r in REASON_LABELS if (reasons == r).any()}


__all__: Sequence[str] = (
    "REASON_LABELS",
    "PARTITIONS",
    "top_contributor_share",
    "partition_table",
    "primary_suppression",
    "complete_suppression",
    "determined_unknowns",
    "protect",
    "apply_disclosure_control",
    "order_statistic_mask",
    "public_view",
    "one_level_cells",
    "level_disclosure",
    "derivable_cells",
    "linearly_derivable_cells",
    "across_runs_determined",
    "suppression_summary",
)
