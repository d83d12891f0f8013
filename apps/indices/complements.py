"""Complementary suppression that loses the least information: a 0/1 program per block of
partition equations, solved by HiGHS (scipy.optimize.milp). docs/METHOD.md 三,
"互补隐藏：最优选择".

The primary cells (small n, dominance, stability) are given. Choose the further cells to
hide, x_c ∈ {0, 1}, so that

    minimise    Σ_c cost_c · x_c,     cost_c = w_c · n_c   (contributors hidden)
    subject to  Σ_{d ∈ P} x_d ≥ 2 · x_c   for every partition P and member c of P
                x_c = 1 for the primary cells, x_c = 0 for empty cells (n = 0, known)

The constraint says: a partition (parent = Σ children) that holds a hidden non-empty
member holds at least two, so no hidden cell is the difference of published ones along a
line. ``w_c`` is :data:`apps.indices.disclosure.PREVIOUS_COMPLEMENT_WEIGHT` (½) for a cell
hidden in the previous published period (the pattern stays stable), 1 otherwise.

Two lines are not enough against an attacker who solves all equations at once, nor for the
±p protection interval: the caller (:func:`apps.indices.disclosure.protect`) runs the
linear audit after this choice and repairs with the heuristic where needed, and
:func:`apps.indices.audit.protect_intervals` then checks the intervals, as before.

Blocks: partitions that already hold two hidden (primary) cells are satisfied whatever is
chosen and drop out; the cells still linked through the remaining partitions form the
blocks (connected components), solved one by one. A block with no hidden cell needs
nothing. A block with more than ``max_cells``
variables, or whose solve finds no feasible choice within ``seconds``, is left to the
heuristic (:func:`apps.indices.disclosure.complete_suppression`); each block's outcome is
recorded (the run's audit, "complements").
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

METHODS = ("milp", "heuristic")
# Added to a cell's cost per step of code order (÷ number of cells, so below 0.001 per
# cell): among choices of equal cost the one of smaller codes wins, whatever the order of
# the frame, so two runs on the same filings give the same pattern.
TIE_BREAK = 1e-3
# The run's record lists the first blocks solved to optimality and every block that was not.
BLOCKS_LISTED = 5


def _members(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    from .disclosure import _members as members

    part, cell, _ = members(edges)
    return part, cell


def blocks(part: np.ndarray, cell: np.ndarray, size: int) -> tuple[int, np.ndarray]:
    """Connected components of the cells through the partitions of the members (``part``,
    ``cell``): (number of blocks, block of each of ``size`` cells; −1 for a cell in none)."""
    block = np.full(size, -1, dtype=np.int64)
    if not len(cell):
        return 0, block
    cells = np.unique(cell)
    column = np.full(size, -1, dtype=np.int64)
    column[cells] = np.arange(len(cells))
    incidence = sparse.csr_matrix((np.ones(len(cell)), (part, column[cell])), shape=(int(part.max()) + 1, len(cells)))
    from .disclosure import unknown_blocks

    count, labels = unknown_blocks(incidence)
    block[cells] = labels
    return count, block


def weighted_cost(n: np.ndarray, weight: np.ndarray | None, order: np.ndarray | None) -> np.ndarray:
    """Each cell's cost as a complement: w_c · n_c plus the tie-break by code order."""
    n = np.asarray(n, dtype=np.int64)
    cost = (np.ones(len(n)) if weight is None else np.asarray(weight, dtype=float)) * n
    if order is not None and len(n):  # ties: the smaller code first, as the heuristic does
        cost = cost + TIE_BREAK * (np.asarray(order, dtype=float) + 1) / len(n)
    return cost


def _solve_block(
    cells: np.ndarray, hidden: np.ndarray, cost: np.ndarray, part: np.ndarray, cell: np.ndarray, seconds: float
):
    """The 0/1 program over ``cells`` (positions of one block) with its members (part,
    cell). Returns (chosen mask over ``cells`` or None, status text, objective, gap)."""
    column = pd.Index(cells).get_indexer(cell)
    _, local_part = np.unique(part, return_inverse=True)
    # Row r = member (P, c):  Σ_{d ∈ P} x_d − 2 x_c ≥ 0: every member of P enters row r.
    # (the pairs in the order an inner merge of the members with themselves on P gives:
    # row by row, and within a row the members of P in their order)
    by_part = np.argsort(local_part, kind="stable")
    size = np.bincount(local_part)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    per_row = size[local_part]
    rows_p = np.repeat(np.arange(len(cell)), per_row)
    within = np.arange(int(per_row.sum())) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    entries = column[by_part[np.repeat(start[local_part], per_row) + within]]
    matrix = sparse.csr_matrix(
        (np.concatenate([np.ones(len(rows_p)), -2.0 * np.ones(len(cell))]),
         (np.concatenate([rows_p, np.arange(len(cell))]), np.concatenate([entries, column]))),
        shape=(len(cell), len(cells)),
    )
    fixed = hidden[cells].astype(float)
    result = milp(
        c=cost[cells], integrality=np.ones(len(cells)), bounds=Bounds(fixed, np.ones(len(cells))),
        constraints=LinearConstraint(matrix, lb=np.zeros(len(cell)), ub=np.inf),
        options={"time_limit": max(seconds, 0.01), "disp": False},
    )
    gap = getattr(result, "mip_gap", None)
    if result.x is None:
        return None, result.message, None, None
    chosen = np.round(result.x).astype(bool)
    status = "optimal" if result.status == 0 else "time_limit"
    return chosen, status, float(result.fun), (None if gap is None else float(gap))


def optimal_complements(
    hidden: np.ndarray, n: np.ndarray, edges: pd.DataFrame, weight: np.ndarray | None = None, *,
    order: np.ndarray | None = None, max_cells: int = 50_000, seconds: float = 20.0, feasible: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """The complements of least cost for ``hidden`` (bool per cell; the primary cells):
    the cells to add (bool mask) and the report recorded on the run: how many blocks were
    solved how ("optimal"; "time_limit" = the best choice found in the time left;
    "heuristic" = too large, no time left or nothing found: left to the heuristic), the
    largest block, the objective (contributors of the complements, weighted) and, per block
    (the first few and every one not solved to optimality): cells, hidden, constraints,
    status, objective, seconds. ``seconds`` bounds all blocks together. ``feasible``: the cells
    of a feasible choice (the heuristic's line rule): per block, cells dearer than its part
    of that choice are left out."""
    n = np.asarray(n, dtype=np.int64)
    cost = weighted_cost(n, weight, order)
    added = np.zeros(len(n), dtype=bool)
    report: dict = {"method": "milp", "blocks": [], "largest_block": 0, "max_cells": max_cells,
                    "seconds_limit": seconds}
    if edges.empty:
        return added, report
    part, cell = _members(edges)
    keep = n[cell] > 0
    part, cell = part[keep], cell[keep]
    unknown = hidden & (n > 0)
    if not len(part):
        return added, report
    # A partition that already holds two hidden cells satisfies all its constraints whatever
    # else is chosen: it drops out, and the rest falls apart into small independent blocks
    # (exactly: nothing links them any more).
    fixed = np.bincount(part, unknown[cell].astype(np.int64), minlength=int(part.max()) + 1)
    keep = fixed[part] < 2
    part, cell = part[keep], cell[keep]
    count, block = blocks(part, cell, len(n))
    if feasible is not None:
        # Within a block, a cell costing more than a known feasible choice of the block (the
        # heuristic's cells in it) is in no choice of least cost: x_c = 0, its constraints
        # hold trivially and it leaves the others. Exact, and repeated while it prunes: the
        # hubs (nation, provinces, divisions) go and the blocks fall apart.
        report["bound"] = round(float(cost[feasible & (block >= 0)].sum()), 2)
        for _ in range(10):
            upper = np.bincount(block[feasible & (block >= 0)], cost[feasible & (block >= 0)], minlength=count)
            keep = unknown[cell] | (cost[cell] <= upper[block[cell]] + 1e-9)
            if keep.all():
                break
            part, cell = part[keep], cell[keep]
            count, block = blocks(part, cell, len(n))
    by_block = np.argsort(block[cell], kind="stable")
    member_starts = np.searchsorted(block[cell][by_block], np.arange(count + 1))
    cell_order = np.argsort(block, kind="stable")
    cell_starts = np.searchsorted(block[cell_order], np.arange(count + 1))
    deadline = time.perf_counter() + seconds
    statuses: dict[str, int] = {}
    objective_total = 0.0
    for b in np.unique(block[unknown & (block >= 0)]).tolist():
        cells = np.sort(cell_order[cell_starts[b]:cell_starts[b + 1]])
        rows = by_block[member_starts[b]:member_starts[b + 1]]
        entry = {"cells": int(len(cells)), "hidden": int(unknown[cells].sum()), "constraints": int(len(rows))}
        started = time.perf_counter()
        left = deadline - started
        if len(cells) > max_cells or left <= 0:
            entry["status"], entry["why"] = "heuristic", ("too_large" if len(cells) > max_cells else "time")
        else:
            chosen, status, objective, gap = _solve_block(cells, unknown, cost, part[rows], cell[rows], left)
            if chosen is None:
                entry["status"], entry["why"] = "heuristic", str(status)
            else:
                entry["status"] = status
                entry["objective"] = round(objective - float(cost[cells][unknown[cells]].sum()), 2)
                objective_total += entry["objective"]
                if gap is not None:
                    entry["gap"] = round(gap, 6)
                added[cells[chosen & ~unknown[cells]]] = True
        entry["seconds"] = round(time.perf_counter() - started, 3)
        statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
        report["largest_block"] = max(report["largest_block"], entry["cells"])
        if entry["status"] != "optimal" or len(report["blocks"]) < BLOCKS_LISTED:
            report["blocks"].append(entry)
    report.update({"solved": statuses, "objective": round(objective_total, 2)})
    return added, report
