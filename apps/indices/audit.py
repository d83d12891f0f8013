"""Protection-interval audit of suppressed cells: pure numpy/scipy, no database.

The linear audit of :mod:`apps.indices.disclosure` guarantees that no hidden cell is
*determined* by the partition equations. An attacker can still bound it: every hidden
cell's sum of composites lies between 0 and 100 × n, and the equations tie the hidden cells
of a partition together. This audit solves, for each primarily suppressed cell c, the two
linear programmes (scipy.optimize.linprog, HiGHS)

    min / max  y_c   subject to   A y = b   (the partition equations with the published sums)
                                  0 ≤ y_k ≤ 100 · n_k   (every hidden cell k)

and calls c *protected* when the interval [min, max] reaches at least ``p`` × its true sum
on both sides (the τ-ARGUS / sdcTable "protection interval" with a symmetric p %). The
bounds use the true n of hidden cells (an attacker usually learns counts from the count
equations), so the audit errs on the attacker's side. It only reports: the result is
recorded on the run (``IndexRun.audit["protection"]``); it does not add suppressions.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog
from scipy.sparse import csgraph

from .disclosure import DOMINANCE, SMALL_N, STABILITY, _partition_parents, partition_table

PRIMARY = (SMALL_N, DOMINANCE, STABILITY)
SCORE_MAX = 100.0


def protection_audit(cells: pd.DataFrame, *, p: float = 0.10, max_cells: int = 400) -> dict:
    """Protection intervals of the primarily suppressed cells of ``cells`` (kind, code,
    parent_code, n, mean, suppressed, suppression_reason). Checks at most ``max_cells``
    cells (smallest n first, the most exposed); returns a summary for IndexRun.audit:
    p, checked, not_checked, unprotected (kind, code, n, low, high, value) and seconds."""
    started = time.perf_counter()
    cells = cells.reset_index(drop=True)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(float)
    mean = pd.to_numeric(cells["mean"], errors="coerce").fillna(0).to_numpy(float)
    total = n * mean
    hidden = cells["suppressed"].astype(bool).to_numpy() & (n > 0)
    reason = cells["suppression_reason"].astype(str).to_numpy(object)
    primary = np.flatnonzero(hidden & np.isin(reason, PRIMARY))
    order = primary[np.lexsort((cells["code"].astype(str).to_numpy(object)[primary], n[primary]))]
    targets, skipped = order[:max_cells], max(len(order) - max_cells, 0)
    summary = {"p": p, "checked": int(len(targets)), "not_checked": int(skipped), "unprotected": []}
    if not len(targets):
        summary["seconds"] = round(time.perf_counter() - started, 3)
        return summary

    # equations: per partition with a hidden member, Σ hidden children − hidden parent = known
    edges = partition_table(cells)
    variables = np.flatnonzero(hidden)
    column = np.full(len(cells), -1, dtype=np.int64)
    column[variables] = np.arange(len(variables))
    rows, cols, vals, rhs = [], [], [], {}
    if not edges.empty:
        parents = _partition_parents(edges)
        for p_id, group in edges.groupby("partition", sort=True):
            children = group["child"].to_numpy(np.int64)
            parent = int(parents[p_id])
            unknown_children = children[hidden[children]]
            if not len(unknown_children) and not hidden[parent]:
                continue
            r = len(rhs)
            known = (0.0 if hidden[parent] else total[parent]) - total[children[~hidden[children]]].sum()
            rhs[r] = known
            rows += [r] * len(unknown_children)
            cols += column[unknown_children].tolist()
            vals += [1.0] * len(unknown_children)
            if hidden[parent]:
                rows.append(r)
                cols.append(int(column[parent]))
                vals.append(-1.0)
    m = len(rhs)
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(m, len(variables)))
    b = np.array([rhs[i] for i in range(m)])
    upper = SCORE_MAX * n[variables]

    # blocks of variables tied by equations: one small LP per block and target
    if m:
        incidence = (A != 0).astype(np.int8)
        n_blocks, block = csgraph.connected_components((incidence.T @ incidence).tocsr(), directed=False)
        eq_block = np.full(m, -1)
        coo = A.tocoo()
        eq_block[coo.row] = block[coo.col]
    else:
        block = np.arange(len(variables))
    csc = A.tocsc()
    for target in targets:
        j = int(column[target])
        value = total[target]
        if m:
            in_block = np.flatnonzero(block == block[j])
            eqs = np.flatnonzero(eq_block == block[j])
        else:
            in_block, eqs = np.array([j]), np.array([], dtype=np.int64)
        if len(eqs):
            sub = csc[:, in_block].tocsr()[eqs, :]
            local = int(np.flatnonzero(in_block == j)[0])
            c = np.zeros(len(in_block))
            c[local] = 1.0
            bounds = list(zip(np.zeros(len(in_block)), upper[in_block], strict=True))
            low = linprog(c, A_eq=sub, b_eq=b[eqs], bounds=bounds, method="highs")
            high = linprog(-c, A_eq=sub, b_eq=b[eqs], bounds=bounds, method="highs")
            lo = low.fun if low.status == 0 else 0.0
            hi = -high.fun if high.status == 0 else upper[j]
        else:
            lo, hi = 0.0, upper[j]
        # required: [value (1 − p), value (1 + p)] inside [lo, hi], within what scores allow
        need_low, need_high = max(value * (1 - p), 0.0), min(value * (1 + p), upper[j])
        if lo > need_low + 1e-6 or hi < need_high - 1e-6:
            summary["unprotected"].append({
                "kind": str(cells.at[target, "kind"]), "code": str(cells.at[target, "code"]), "n": int(n[target]),
                "low": round(float(lo), 3), "high": round(float(hi), 3), "value": round(float(value), 3),
            })  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
