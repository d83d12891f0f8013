"""Protection intervals of suppressed cells: pure numpy/scipy, no database.

The linear audit of :mod:`apps.indices.disclosure` guarantees that no hidden cell is
*determined* by the partition equations. An attacker can still bound it: every hidden
cell's sum of composites lies between 0 and 100 × n, and the equations tie the hidden cells
of a partition together. For each primarily suppressed cell c the audit solves the two
linear programmes (scipy.optimize.linprog, HiGHS)

    min / max  y_c   subject to   A y = b   (the partition equations with the published sums)
                                  0 ≤ y_k ≤ 100 · n_k   (every hidden cell k)

and calls c *protected* when the interval [min, max] reaches at least ``p`` × its true sum
on both sides (the τ-ARGUS / sdcTable "protection interval" with a symmetric p %; ``p`` is
the run's ``protection_p``). The bounds use the true n of hidden cells (an attacker usually
learns counts from the count equations), so the audit errs on the attacker's side.

:func:`protect_intervals` makes it a rule: an unprotected cell gets one more complement
(a published cell of one of its partitions with room for ± p of the cell's sum, of least
:func:`apps.indices.disclosure.complement_cost`), the line and linear rules run again, and
the cells still unprotected are audited again until none is left. Adding a hidden cell
only widens intervals (every earlier solution stays feasible with the new unknown at its
true value), so a cell once protected stays protected and only the others are re-audited.

Scale: the LPs are solved per *equation block* — the hidden cells connected through shared
partition equations (in practice one hierarchy tree: a prefecture and its counties, a
province and its prefecture × division table) — never as one LP over the country.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from .disclosure import DOMINANCE, SMALL_N, STABILITY, _partition_parents, partition_table, unknown_blocks

PRIMARY = (SMALL_N, DOMINANCE, STABILITY)
SCORE_MAX = 100.0
_MAX_ROUNDS = 50


def _system(hidden: np.ndarray, total: np.ndarray, edges: pd.DataFrame):
    """Partition equations over the hidden cells: Σ hidden children − hidden parent = known
    (a sparse matrix, its right-hand side, and the cell of each column)."""
    variables = np.flatnonzero(hidden)
    column = np.full(len(hidden), -1, dtype=np.int64)
    column[variables] = np.arange(len(variables))
    if edges.empty:
        return sparse.csr_matrix((0, len(variables))), np.zeros(0), variables, column
    part = edges["partition"].to_numpy(np.int64)
    child = edges["child"].to_numpy(np.int64)
    parents = _partition_parents(edges)
    n_parts = len(parents)
    # known part of each partition: published parent − published children
    known = np.where(hidden[parents], 0.0, total[parents])
    known -= np.bincount(part, np.where(hidden[child], 0.0, total[child]), minlength=n_parts)
    has_unknown = (np.bincount(part, hidden[child].astype(np.int64), minlength=n_parts) + hidden[parents]) > 0
    row_of = np.full(n_parts, -1, dtype=np.int64)
    row_of[has_unknown] = np.arange(int(has_unknown.sum()))
    hc = hidden[child] & has_unknown[part]
    hp = np.flatnonzero(hidden[parents] & has_unknown)
    rows = np.concatenate([row_of[part[hc]], row_of[hp]])
    cols = np.concatenate([column[child[hc]], column[parents[hp]]])
    vals = np.concatenate([np.ones(int(hc.sum())), -np.ones(len(hp))])
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(int(has_unknown.sum()), len(variables)))
    return matrix, known[has_unknown], variables, column


def _witness(sub: sparse.csr_matrix, y: np.ndarray, upper: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inner bounds of the attacker's interval for the block's columns ``local``, from
    one feasible line each: d = the projection of e_c on the null space of the block's
    equations (scaled to d_c = 1); y* + t d solves every equation, and stays inside the
    boxes for t in [t_min, t_max]. So y*_c + t_min … y*_c + t_max are attainable sums (a
    witness, no LP); the true interval can only be wider."""
    from scipy.linalg import null_space

    basis = null_space(sub.toarray())
    low, high = y[local].copy(), y[local].copy()
    if not basis.shape[1]:
        return low, high
    d = basis @ basis[local].T  # column i: the projection of e_{local[i]}
    scale = d[local, np.arange(len(local))]
    ok = scale > 1e-9
    d = np.where(ok, d / np.where(ok, scale, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        room_up = (upper - y)[:, None]
        room_down = y[:, None]
        pos, neg = d > 1e-12, d < -1e-12
        t_max = np.min(np.where(pos, room_up / d, np.where(neg, room_down / -d, np.inf)), axis=0)
        t_min = -np.min(np.where(pos, room_down / d, np.where(neg, room_up / -d, np.inf)), axis=0)
    low[ok] = y[local][ok] + t_min[ok]
    high[ok] = y[local][ok] + t_max[ok]
    return low, high


def intervals(
    hidden: np.ndarray, n: np.ndarray, total: np.ndarray, edges: pd.DataFrame, targets: np.ndarray,
    p: float | None = None,
):
    """The attacker's bounds [low, high] on the sum of each target cell (positions),
    from the partition equations with the published sums and 0 ≤ y ≤ 100 n, per equation
    block: closed form for a block of one equation; otherwise, when ``p`` is given, first
    a feasible line through the true sums (:func:`_witness`) — if it already spans ± p of
    the target's sum the target is protected and its inner bounds are returned — and a
    pair of LPs for the rest. Returns (low, high, block size per target, LPs solved)."""
    matrix, rhs, variables, column = _system(hidden, total, edges)
    upper = SCORE_MAX * n[variables]
    m = matrix.shape[0]
    if m:
        _, block = unknown_blocks(matrix)
        eq_block = np.full(m, -1)
        coo = matrix.tocoo()
        eq_block[coo.row] = block[coo.col]
    else:
        block = np.arange(len(variables))
        eq_block = np.zeros(0, dtype=np.int64)
    csc = matrix.tocsc()
    low = np.zeros(len(targets))
    high = np.zeros(len(targets))
    j_all = column[targets]
    b_all = block[j_all] if len(targets) else np.zeros(0, dtype=np.int64)
    n_blocks = int(block.max()) + 1 if len(block) else 0
    size = np.bincount(block, minlength=n_blocks)[b_all].astype(np.int64)
    # Blocks without an equation and blocks of one equation, all at once: the bounds of a
    # block of one equation Σ a_k y_k = r with boxes 0 ≤ y_k ≤ u_k are exact in closed
    # form (the other terms range over an interval), no LP needed. The terms a_k u_k are
    # whole numbers (a = ±1, u = 100 n), so the sums over "the others" (all − own) are
    # exact and equal the per-block sums.
    eqs_per_block = np.bincount(eq_block, minlength=n_blocks) if m else np.zeros(n_blocks, dtype=np.int64)
    count = eqs_per_block[b_all]
    no_equation = count == 0
    low[no_equation], high[no_equation] = 0.0, upper[j_all[no_equation]]
    single = count == 1
    if single.any():
        coo = matrix.tocoo()
        coefficient = np.zeros(len(variables))
        coefficient[coo.col] = coo.data  # a variable of a one-equation block has one entry
        term = coo.data * upper[coo.col]
        some_min = np.bincount(coo.row, np.minimum(0.0, term), minlength=m)
        some_max = np.bincount(coo.row, np.maximum(0.0, term), minlength=m)
        equation_of = np.full(n_blocks, -1, dtype=np.int64)
        equation_of[eq_block] = np.arange(m)
        j, e = j_all[single], equation_of[b_all[single]]
        a = coefficient[j]
        lo_rest = some_min[e] - np.minimum(0.0, a * upper[j])
        hi_rest = some_max[e] - np.maximum(0.0, a * upper[j])
        x1, x2 = (rhs[e] - hi_rest) / a, (rhs[e] - lo_rest) / a
        lo, hi = np.where(x2 < x1, x2, x1), np.where(x2 < x1, x1, x2)
        low[single] = np.where(0.0 > lo, 0.0, lo)
        high[single] = np.where(upper[j] < hi, upper[j], hi)
    # the rest block by block (one block's matrix is sliced once)
    rest = np.flatnonzero(count > 1)
    rest = rest[np.argsort(b_all[rest], kind="stable")]
    cache: dict[int, tuple] = {}
    witnesses: dict[int, dict | None] = {}
    lps_solved = 0
    for i in rest.tolist():
        target = targets[i]
        j = int(column[target])
        b = int(block[j])
        if b not in cache:
            in_block = np.flatnonzero(block == b)
            eqs = np.flatnonzero(eq_block == b)
            sub = csc[:, in_block].tocsr()[eqs, :] if len(eqs) else None
            bounds = np.column_stack([np.zeros(len(in_block)), upper[in_block]])
            cache = {b: (in_block, eqs, sub, bounds)}  # targets come block by block
        in_block, eqs, sub, bounds = cache[b]
        local = int(np.searchsorted(in_block, j))
        if p is not None:
            if witnesses.get(b) is None:
                # every target of the block at once (targets come block by block)
                locals_b = np.searchsorted(in_block, j_all[np.sort(rest[b_all[rest] == b])])
                w_lo, w_hi = _witness(sub, total[variables[in_block]], bounds[:, 1], locals_b)
                witnesses = {b: dict(zip(locals_b.tolist(), zip(w_lo, w_hi, strict=True), strict=True))}
            w_lo, w_hi = witnesses[b][local]
            value = total[target]
            if w_lo <= max(value * (1 - p), 0.0) + 1e-6 and w_hi >= min(value * (1 + p), upper[j]) - 1e-6:
                low[i], high[i] = w_lo, w_hi
                continue
        lps_solved += 2
        c = np.zeros(len(in_block))
        c[int(np.searchsorted(in_block, j))] = 1.0
        lo = linprog(c, A_eq=sub, b_eq=rhs[eqs], bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=sub, b_eq=rhs[eqs], bounds=bounds, method="highs")
        low[i] = lo.fun if lo.status == 0 else 0.0
        high[i] = -hi.fun if hi.status == 0 else upper[j]
    return low, high, size, lps_solved


def _unprotected(value, upper, low, high, p) -> np.ndarray:
    need_low = np.maximum(value * (1 - p), 0.0)
    need_high = np.minimum(value * (1 + p), upper)
    return (low > need_low + 1e-6) | (high < need_high - 1e-6)


def _by_block(targets: np.ndarray, hidden: np.ndarray, total: np.ndarray, edges: pd.DataFrame) -> np.ndarray:
    """Targets sorted so that those of one equation block are adjacent (one block's
    matrix is then sliced once)."""
    matrix, _, _, column = _system(hidden, total, edges)
    if not matrix.shape[0]:
        return targets
    _, block = unknown_blocks(matrix)
    return targets[np.argsort(block[column[targets]], kind="stable")]


def _open_partners(parts, member_cell, member_part, hidden: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The published, non-empty cells that share one of the partitions ``parts`` (the
    candidates for one more complement)."""
    cand = member_cell[np.isin(member_part, parts)]
    return np.unique(cand[~hidden[cand] & (n[cand] > 0)])


def _widen(hidden: np.ndarray, new: set[int], n: np.ndarray, order: np.ndarray, edges: pd.DataFrame, *,
           linear: bool, weight: np.ndarray | None) -> np.ndarray:
    """The cells one more round of an audit hides: ``new`` and the complements their
    partitions then need (:func:`apps.indices.disclosure.protect`), those not hidden yet."""
    from .disclosure import protect

    step = np.zeros(len(hidden), dtype=bool)
    step[list(new)] = True
    step |= protect(hidden | step, n, order, edges, linear=linear, weight=weight)
    return step & ~hidden


def _cheapest(cand: np.ndarray, roomy: np.ndarray, order: np.ndarray, cost: np.ndarray, count: int = 1) -> list[int]:
    """The ``count`` candidates to hide: among the ``roomy`` ones (those that protect
    enough), or all if none is, those of least complement cost, then first in code order."""
    pool = cand[roomy] if roomy.any() else cand
    return [int(c) for c in pool[np.lexsort((order[pool], cost[pool]))[:count]]]


def protect_intervals(
    cells: pd.DataFrame, hidden: np.ndarray, reason: np.ndarray, order: np.ndarray, edges: pd.DataFrame,
    *, p: float, weight: np.ndarray | None = None, max_cells: int = 0, linear: bool = True,
) -> tuple[np.ndarray, dict]:
    """Audit every primarily suppressed cell (or the ``max_cells`` smallest, when > 0) and
    add complements until each has a protection interval of ± ``p`` of its sum. Returns
    the cells added (bool mask) and the audit summary recorded on the run: p, audited,
    widened (cells added), unprotected (left, if any: kind, code, n, low, high, value),
    rounds, largest block, LPs solved (blocks of one equation are bounded in closed form) and seconds."""
    from .disclosure import complement_cost

    started = time.perf_counter()
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    mean = pd.to_numeric(cells["mean"], errors="coerce").fillna(0).to_numpy(float)
    total = n * mean
    upper = SCORE_MAX * n
    current = hidden & (n > 0)
    primary = np.flatnonzero(current & np.isin(reason.astype(str), PRIMARY))
    primary = primary[np.lexsort((order[primary], n[primary]))]
    skipped = 0
    if max_cells and len(primary) > max_cells:
        primary, skipped = primary[:max_cells], len(primary) - max_cells
    added = np.zeros(len(hidden), dtype=bool)
    pending = primary
    rounds = lps = largest = 0
    left = np.zeros(0, dtype=np.int64)
    low = high = np.zeros(0)
    member_part = member_cell = None
    for rounds in range(1, _MAX_ROUNDS + 1):  # noqa: B007 (reported in the summary)
        if not len(pending):
            break
        if len(pending) > 1:  # (one target: nothing to order)
            pending = _by_block(pending, current, total, edges)
        low, high, size, solved = intervals(current, n, total, edges, pending, p=p)
        lps += solved
        largest = max(largest, int(size.max()) if len(size) else 0)
        bad = _unprotected(total[pending], upper[pending], low, high, p)
        left, low, high = pending[bad], low[bad], high[bad]
        if not len(left) or edges.empty:
            break
        # one complement per unprotected cell: a published non-empty cell of one of its
        # partitions with room for ± p of the cell's sum, of least cost
        cost = complement_cost(current, n, order, edges, weight)
        if member_part is None:  # every member of every partition (the edges do not change)
            parents = _partition_parents(edges)
            member_part = np.concatenate([edges["partition"].to_numpy(np.int64), np.arange(len(parents))])
            member_cell = np.concatenate([edges["child"].to_numpy(np.int64), parents])
        new = set()
        for target in left:
            parts = member_part[member_cell == target]
            cand = _open_partners(parts, member_cell, member_part, current, n)
            if not len(cand):
                continue
            need = p * total[target]
            new.update(_cheapest(cand, (total[cand] >= need) & (upper[cand] - total[cand] >= need), order, cost))
        if not new:
            break
        step = _widen(current, new, n, order, edges, linear=linear, weight=weight)
        added |= step
        current |= step
        pending = left
    summary = {
        "p": p, "audited": int(len(primary)), "not_audited": int(skipped), "widened": int(added.sum()),
        "widened_cells": [
            {"kind": str(cells.at[i, "kind"]), "code": str(cells.at[i, "code"]), "n": int(n[i])}
            for i in np.flatnonzero(added)[:50]
        ],
        "unprotected": [
            {"kind": str(cells.at[t, "kind"]), "code": str(cells.at[t, "code"]), "n": int(n[t]),
             "low": round(float(lo), 3), "high": round(float(hi), 3), "value": round(float(total[t]), 3)}
            for t, lo, hi in zip(left, low, high, strict=True)
        ] if len(left) else [],
        "rounds": rounds, "largest_block": largest, "lps": lps,
        "seconds": round(time.perf_counter() - started, 3),
    }  # fmt: skip
    return added, summary


def protection_audit(cells: pd.DataFrame, *, p: float = 0.10, max_cells: int = 0) -> dict:
    """Audit only (no suppression added) of the primarily suppressed cells of ``cells``
    (kind, code, parent_code, n, mean, suppressed, suppression_reason): the summary of
    :func:`protect_intervals` for the pattern as it stands."""
    started = time.perf_counter()
    cells = cells.reset_index(drop=True)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    mean = pd.to_numeric(cells["mean"], errors="coerce").fillna(0).to_numpy(float)
    total = n * mean
    hidden = cells["suppressed"].astype(bool).to_numpy() & (n > 0)
    reason = cells["suppression_reason"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    primary = np.flatnonzero(hidden & np.isin(reason, PRIMARY))
    primary = primary[np.lexsort((code[primary], n[primary]))]
    skipped = 0
    if max_cells and len(primary) > max_cells:
        primary, skipped = primary[:max_cells], len(primary) - max_cells
    summary = {"p": p, "checked": int(len(primary)), "not_checked": int(skipped), "unprotected": []}
    if len(primary):
        edges = partition_table(cells)
        targets = _by_block(primary, hidden, total, edges)
        low, high, _, _ = intervals(hidden, n, total, edges, targets, p=p)
        bad = _unprotected(total[targets], SCORE_MAX * n[targets], low, high, p)
        summary["unprotected"] = [
            {"kind": str(cells.at[t, "kind"]), "code": str(cells.at[t, "code"]), "n": int(n[t]),
             "low": round(float(lo), 3), "high": round(float(hi), 3), "value": round(float(total[t]), 3)}
            for t, lo, hi in zip(targets[bad], low[bad], high[bad], strict=True)
        ]  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


# --- level counts: the interval audit of hidden level distributions ----------------------------------
#
# Level counts add up along the partitions like n. A cell whose level distribution the
# public does not see (a suppressed cell, or a published one in the run's level_hidden
# list) has five unknown counts x_{c,k} with 0 ≤ x_{c,k} ≤ n_c, and Σ_k x_{c,k} = n_c when
# its n is published; every partition and level gives Σ hidden children − hidden parent =
# published parent − published children. The audit bounds x_{c,k} from below: a cell is
# *pinned* when for some level k every integer solution has x_{c,k} ≥ max(n_c − LEVEL_EXCEPTIONS, 1)
# — the rule for published distributions ("all, or all but one, in one level"), now for
# what the public derives.

N_LEVELS = 5
_BATCHES = 6
# the most complements a round adds for one pinned distribution (protect_levels)
_MOST_AT_ONCE = 8


def level_counts(cells: pd.DataFrame) -> np.ndarray:
    """Each cell's count of filers per level 1–5 (from level_shares × n; zeros without)."""
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(float)
    out = np.zeros((len(cells), N_LEVELS))
    if "level_shares" not in cells.columns:
        return out.astype(np.int64)
    for i, shares in enumerate(cells["level_shares"].tolist()):
        if isinstance(shares, (list, tuple, np.ndarray)) and len(shares) == N_LEVELS:
            out[i] = shares
    return np.rint(out * n[:, None]).astype(np.int64)


def level_threshold(n: np.ndarray) -> np.ndarray:
    """The least level count that pins a cell of n filers: all but LEVEL_EXCEPTIONS, and
    at least one (a bound of 0 tells nothing)."""
    from .disclosure import LEVEL_EXCEPTIONS

    return np.maximum(np.asarray(n, dtype=np.int64) - LEVEL_EXCEPTIONS, 1)


def _level_system(unknown: np.ndarray, n_known: np.ndarray, counts: np.ndarray, n: np.ndarray, edges: pd.DataFrame):
    """The equations over the unknown level counts: per level the partition equations of
    :func:`_system` (column = position of the cell among the unknown × 5 + level − 1), and
    Σ_k x_{c,k} = n_c for the unknown cells whose n is published. Returns the matrix, its
    right-hand side, the unknown cells and the column of each cell's level 1 (−1 if none)."""
    variables = np.flatnonzero(unknown)
    column = np.full(len(unknown), -1, dtype=np.int64)
    column[variables] = np.arange(len(variables)) * N_LEVELS
    blocks, rhs = [], []
    for k in range(N_LEVELS):
        matrix, known, _, _ = _system(unknown, counts[:, k].astype(float), edges)
        coo = matrix.tocoo()
        blocks.append((coo.row, coo.col * N_LEVELS + k, coo.data, matrix.shape[0]))
        rhs.append(known)
    sums = np.flatnonzero(n_known[variables])
    rows, cols, vals, offset = [], [], [], 0
    for r, c, v, m in blocks:
        rows.append(r + offset)
        cols.append(c)
        vals.append(v)
        offset += m
    rows.append(offset + np.repeat(np.arange(len(sums)), N_LEVELS))
    cols.append((sums[:, None] * N_LEVELS + np.arange(N_LEVELS)).ravel())
    vals.append(np.ones(len(sums) * N_LEVELS))
    rhs.append(n[variables[sums]].astype(float))
    shape = (offset + len(sums), len(variables) * N_LEVELS)
    matrix = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    return matrix, np.concatenate(rhs), variables, column


def level_lower_bounds(
    unknown: np.ndarray, n_known: np.ndarray, counts: np.ndarray, n: np.ndarray, edges: pd.DataFrame,
    targets: list[tuple[int, int]], threshold: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """The attacker's least value of x_{c,k} over the *integer* solutions of the level
    system (:func:`_level_system`, boxes 0 ≤ x ≤ n), for each target (cell, level 0–4),
    per equation block. The block's LP (HiGHS) answers when its optimum is an integer
    point (then it is the integer optimum too), otherwise the integer programme
    (scipy.optimize.milp) does. With ``threshold`` (per cell), first one LP per block
    minimising the sum of its targets: a target its integer optimum puts below the
    threshold is safe, and its value there (an attainable count, not the least) is
    returned instead. Returns the bounds and counts of LPs/MILPs solved."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    stats = {"lps": 0, "milps": 0, "largest_block": 0}
    low = np.zeros(len(targets))
    if not targets:
        return low, stats
    matrix, rhs, variables, column = _level_system(unknown, n_known, counts, n, edges)
    upper = np.repeat(n[variables].astype(float), N_LEVELS)
    _, block = unknown_blocks(matrix)
    eq_block = np.full(matrix.shape[0], -1)
    coo = matrix.tocoo()
    eq_block[coo.row] = block[coo.col]
    csc = matrix.tocsc()
    j_all = np.array([column[c] + k for c, k in targets], dtype=np.int64)
    safe: set[int] = set()
    if threshold is not None:
        # One LP over every block with a target: minimise the sum of the targets (the
        # blocks are independent, so this is each block's own LP at once). In a block
        # whose part of the optimum is whole, a target below its threshold is safe; its
        # value there (attainable, not the least) is returned.
        # Repeated for the targets left (fewer compete for the same room) while it frees some.
        need = np.array([threshold[c] for c, _ in targets], dtype=float)
        open_ = np.ones(len(targets), dtype=bool)
        for _ in range(_BATCHES):
            mine = np.flatnonzero(open_)
            cols = np.flatnonzero(np.isin(block, np.unique(block[j_all[mine]])))
            eqs = np.flatnonzero(np.isin(eq_block, np.unique(block[j_all[mine]])))
            if not len(eqs):
                break
            c = np.zeros(len(cols))
            c[np.searchsorted(cols, j_all[mine])] = 1.0
            box = np.column_stack([np.zeros(len(cols)), upper[cols]])
            stats["lps"] += 1
            lp = linprog(c, A_eq=csc[:, cols].tocsr()[eqs, :], b_eq=rhs[eqs], bounds=box, method="highs")
            if lp.status != 0:
                break
            fractional = np.abs(lp.x - np.rint(lp.x)) > 1e-6
            bad_blocks = np.unique(block[cols[fractional]])
            x = np.rint(lp.x[np.searchsorted(cols, j_all[mine])])
            ok = (x < need[mine]) & ~np.isin(block[j_all[mine]], bad_blocks)
            if not ok.any():
                break
            low[mine[ok]] = x[ok]
            open_[mine[ok]] = False
            if not open_.any():
                break
        safe = set(np.flatnonzero(~open_).tolist())
    cache: dict[int, tuple] = {}
    for i in np.argsort(block[j_all], kind="stable").tolist():
        j = int(j_all[i])
        b = int(block[j])
        if b not in cache:
            in_block = np.flatnonzero(block == b)
            eqs = np.flatnonzero(eq_block == b)
            sub = csc[:, in_block].tocsr()[eqs, :]
            cache = {b: (in_block, eqs, sub, safe)}
            stats["largest_block"] = max(stats["largest_block"], len(in_block))
        in_block, eqs, sub, safe = cache[b]
        if i in safe:
            continue
        if not len(eqs):  # no equation: the box alone
            low[i] = 0.0
            continue
        c = np.zeros(len(in_block))
        c[int(np.searchsorted(in_block, j))] = 1.0
        box = np.column_stack([np.zeros(len(in_block)), upper[in_block]])
        stats["lps"] += 1
        lp = linprog(c, A_eq=sub, b_eq=rhs[eqs], bounds=box, method="highs")
        if lp.status == 0 and np.allclose(lp.x, np.rint(lp.x), atol=1e-6):
            low[i] = round(lp.fun)
            continue
        stats["milps"] += 1
        ip = milp(c, constraints=LinearConstraint(sub, rhs[eqs], rhs[eqs]), integrality=np.ones(len(in_block)),
                  bounds=Bounds(box[:, 0], box[:, 1]))
        low[i] = round(ip.fun) if ip.status == 0 else 0.0
    return low, stats


def pinned_levels(
    unknown: np.ndarray, n_known: np.ndarray, counts: np.ndarray, n: np.ndarray, edges: pd.DataFrame,
    among: np.ndarray | None = None,
) -> tuple[list[tuple[int, int, int]], int, dict]:
    """The (cell, level 0–4, least count) of every unknown distribution the public pins
    (least count ≥ :func:`level_threshold`), and how many (cell, level) pairs were audited.
    Only a level whose true count reaches the threshold can be pinned (the true counts are
    a solution), so only those pairs are solved; with ``among``, only those cells'.
    Leaves that a trade with their siblings frees (:func:`_leaf_swaps`), and cells of two
    partitions that a trade around a rectangle frees (:func:`_rectangle_swaps`), need no
    programme."""
    threshold = level_threshold(n)
    cand = unknown & (n > 0)
    if among is not None:
        cand &= among
    cells_, levels = np.nonzero(cand[:, None] & (counts >= threshold[:, None]))
    swapped = _leaf_swaps(unknown & (n > 0), counts, n, threshold, edges, cells_, levels)
    swapped |= _rectangle_swaps(unknown & (n > 0), counts, threshold, edges, cells_, levels, swapped)
    targets = list(zip(cells_[~swapped].tolist(), levels[~swapped].tolist(), strict=True))
    low, stats = level_lower_bounds(unknown & (n > 0), n_known, counts, n, edges, targets, threshold)
    stats["swaps"] = int(swapped.sum())
    pinned = [(c, k, int(lo)) for (c, k), lo in zip(targets, low, strict=True) if lo >= threshold[c] - 1e-9]
    return pinned, len(cells_), stats


def _leaf_swaps(
    unknown: np.ndarray, counts: np.ndarray, n: np.ndarray, threshold: np.ndarray, edges: pd.DataFrame,
    cells_: np.ndarray, levels: np.ndarray,
) -> np.ndarray:
    """Targets shown safe without a programme: a *leaf* c (a child of one partition and
    the parent of none, e.g. a county) trades firms with the other unknown leaves d of its
    partition — c gives δ firms of level k and takes δ firms of other levels from them.
    Every equation holds (the partition's per level, each cell's Σ_k = n), the counts stay
    whole and within 0 … n, so the trade is an integer solution with x_{c,k} = true − δ;
    δ = true − threshold + 1 takes it below the threshold. Possible when the other leaves
    hold at least δ firms outside level k. Returns a mask over the targets."""
    safe = np.zeros(len(cells_), dtype=bool)
    if edges.empty or not len(cells_):
        return safe
    child = edges["child"].to_numpy(np.int64)
    part = edges["partition"].to_numpy(np.int64)
    as_child = np.bincount(child, minlength=len(n))
    as_parent = np.bincount(_partition_parents(edges), minlength=len(n))
    leaf = (as_child == 1) & (as_parent == 0)
    partition_of = np.full(len(n), -1, dtype=np.int64)
    partition_of[child] = part
    rows = np.flatnonzero(leaf[child] & unknown[child])
    outside = n[child[rows], None] - counts[child[rows]]  # firms outside each level, per unknown leaf
    room = np.zeros((int(part.max()) + 1, N_LEVELS), dtype=np.int64)
    np.add.at(room, part[rows], outside)
    ok = leaf[cells_]
    c, k = cells_[ok], levels[ok]
    others = room[partition_of[c], k] - (n[c] - counts[c, k])
    safe[ok] = others >= counts[c, k] - threshold[c] + 1
    return safe


def _rectangle_swaps(
    unknown: np.ndarray, counts: np.ndarray, threshold: np.ndarray, edges: pd.DataFrame,
    cells_: np.ndarray, levels: np.ndarray, done: np.ndarray,
) -> np.ndarray:
    """Targets shown safe by a trade around a rectangle, for cells that are a child of
    exactly two partitions and the parent of none (a prefecture × division cell: its
    prefecture's row and its province × division's column). c = (A, i) gives δ firms of
    level k and takes δ of level j; d = (A, i') in c's row the reverse; e = (B, i') in d's
    column gives k, takes j; f = (B, i) in e's row and c's column takes k, gives j. Each
    row and column keeps its per-level totals, every cell its n; whole counts within
    0 … n when d and f hold δ firms at level j and e δ at level k (all four unknown).
    δ = true − threshold + 1. Returns a mask over the targets."""
    safe = np.zeros(len(cells_), dtype=bool)
    if edges.empty or not len(cells_):
        return safe
    child = edges["child"].to_numpy(np.int64)
    part = edges["partition"].to_numpy(np.int64)
    name = edges["name"].astype(str).to_numpy(object)
    as_child = np.bincount(child, minlength=len(unknown))
    as_parent = np.bincount(_partition_parents(edges), minlength=len(unknown))
    two = (as_child == 2) & (as_parent == 0)
    rows = np.flatnonzero(two[child] & unknown[child])
    if not len(rows):
        return safe
    # each such cell's two partitions, in order of the partitions' names (row, column)
    by = rows[np.lexsort((name[rows].astype(str), child[rows]))]
    first, second = {}, {}
    for r in by.tolist():
        (second if child[r] in first else first)[int(child[r])] = int(part[r])
    at, row_members, column_members = {}, {}, {}
    for c, p1 in first.items():
        p2 = second[c]
        at[(p1, p2)] = c
        row_members.setdefault(p1, []).append(c)
        column_members.setdefault(p2, []).append(c)
    for t in np.flatnonzero(~done & two[cells_]).tolist():
        c, k = int(cells_[t]), int(levels[t])
        delta = counts[c, k] - threshold[c] + 1
        found = False
        for d in row_members[first[c]]:
            if d == c or found:
                continue
            for f in column_members[second[c]]:
                if f == c:
                    continue
                e = at.get((first[f], second[d]))
                if e is None or counts[e, k] < delta:
                    continue
                j = (counts[d] >= delta) & (counts[f] >= delta)
                j[k] = False
                if j.any():
                    found = True
                    break
        safe[t] = found
    return safe


def protect_levels(
    cells: pd.DataFrame, hidden: np.ndarray, level_hidden: np.ndarray, order: np.ndarray, edges: pd.DataFrame,
    *, weight: np.ndarray | None = None, linear: bool = True, among: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Hide more level distributions until the public pins none (:func:`pinned_levels`):
    for each pinned cell, the published distribution of least
    :func:`apps.indices.disclosure.complement_cost` among the members of its partitions,
    preferring those with at least LEVEL_EXCEPTIONS + 1 filers outside the pinned level
    (they give the attacker room); failing any, :func:`apps.indices.disclosure._repair_linear`'s
    choice one step further along hidden cells; then the partitions' complements
    (:func:`apps.indices.disclosure.protect`, as :func:`apps.indices.disclosure.level_disclosure`
    does), and again. Returns the distributions added (bool mask over published cells) and
    the summary recorded on the run (audit.protection.level_intervals).

    ``among``: audit only these cells in the first round — when every other unknown
    distribution was shown unpinned before, with fewer unknowns (an audit of an earlier,
    smaller pattern: hiding more cannot pin it, see below)."""
    from .disclosure import LEVEL_EXCEPTIONS, _repair_linear, complement_cost

    started = time.perf_counter()
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    counts = level_counts(cells)
    unknown = (hidden | level_hidden) & (n > 0)
    added = np.zeros(len(hidden), dtype=bool)
    audited = lps = milps = largest = rounds = 0
    pinned: list = []
    member_part = member_cell = None
    # Hiding more only widens the attacker's room (every earlier solution, with the new
    # unknowns at their true counts, still solves the system): after the first round only
    # the cells still pinned and the newly hidden distributions are audited again.
    swaps = 0
    times: dict[int, int] = {}  # rounds each cell was found pinned in
    for rounds in range(1, _MAX_ROUNDS + 1):  # noqa: B007 (reported in the summary)
        pinned, pairs, stats = pinned_levels(unknown, ~hidden, counts, n, edges, among)
        audited += pairs
        lps, milps, swaps = lps + stats["lps"], milps + stats["milps"], swaps + stats["swaps"]
        largest = max(largest, stats["largest_block"])
        if not pinned or edges.empty:
            break
        if member_part is None:
            parents = _partition_parents(edges)
            member_part = np.concatenate([edges["partition"].to_numpy(np.int64), np.arange(len(parents))])
            member_cell = np.concatenate([edges["child"].to_numpy(np.int64), parents])
        cost = complement_cost(unknown, n, order, edges, weight)
        new, stuck = set(), []
        for c in {c for c, _, _ in pinned}:
            times[c] = times.get(c, 0) + 1
        for c, k, _ in pinned:
            parts = member_part[member_cell == c]
            cand = _open_partners(parts, member_cell, member_part, unknown, n)
            if not len(cand):
                stuck.append(c)
                continue
            # A cell still pinned gets one more complement each round it stays pinned (up to
            # _MOST_AT_ONCE): one a round took eight rounds for one cell of the 200 k benchmark.
            count = min(times[c], _MOST_AT_ONCE)
            new.update(_cheapest(cand, n[cand] - counts[cand, k] > LEVEL_EXCEPTIONS, order, cost, count))
        if stuck:
            new.update(_repair_linear(unknown, n, order, edges, np.array(sorted(set(stuck))), weight).tolist())
        if not new:
            break
        step = _widen(unknown, new, n, order, edges, linear=linear, weight=weight)
        added |= step
        unknown |= step
        among = step.copy()
        among[[c for c, _, _ in pinned]] = True
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    summary = {
        "audited": int(audited), "widened": int(added.sum()), "rounds": rounds, "swaps": swaps, "lps": lps,
        "milps": milps,
        "largest_block": largest,
        "left": [{"kind": str(kind[c]), "code": str(code[c]), "n": int(n[c]), "level": k + 1, "low": lo}
                   for c, k, lo in pinned[:50]],
        "seconds": round(time.perf_counter() - started, 3),
    }  # fmt: skip
    return added, summary
