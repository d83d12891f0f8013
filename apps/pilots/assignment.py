"""Automatic reviewer assignment as a min-cost flow (pure numpy + OR-Tools, no ORM).

The problem (as HotCRP's and OpenReview's matchers pose it): give every application exactly
``k`` reviewers, never an expert with a conflict, expert loads differing by at most one, and
the total field affinity as large as possible.

Network::

    application a  (supply k) ──cap 1, cost = A_max − affinity[a, e]──▶ expert e (supply −L)
    expert e ──cap 1, cost 0──▶ sink (supply −r)

with ``L = ⌊n·k / m⌋`` and ``r = n·k − m·L``: every expert takes L reviews plus at most one
more, exactly r of them take L + 1, so loads differ by at most one. Conflicted pairs have no
arc. A min-cost flow is integral, so the solution is an assignment; minimising
``Σ (A_max − affinity)`` over a fixed number of arcs maximises the affinity. The solver is
deterministic for the same input (arcs are added in a fixed order).

When no feasible assignment exists, :func:`explain_infeasible` says which applications cannot
be covered and why (too few experts without a conflict, or not enough capacity left for them
once every expert must carry its share).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow


@dataclass
class AssignmentResult:
    feasible: bool
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (application index, expert index)
    affinity: int = 0
    loads: list[int] = field(default_factory=list)
    # application index -> {"reason": "candidates" | "capacity", "available": reviewers possible}
    problems: dict[int, dict] = field(default_factory=dict)
    message: str = ""


def _check(allowed: np.ndarray, affinity: np.ndarray, k: int) -> None:
    if allowed.shape != affinity.shape or allowed.ndim != 2:
        raise ValueError("allowed and affinity must be matrices of the same shape (applications × experts)")
    if k < 1:
        raise ValueError("k must be at least 1")
    if affinity.size and affinity.min() < 0:
        raise ValueError("affinity must be non-negative")


def solve_assignment(allowed: np.ndarray, affinity: np.ndarray, k: int) -> AssignmentResult:
    """Assign ``k`` experts to each application.

    ``allowed[a, e]`` is False for a conflicted pair; ``affinity[a, e]`` is a non-negative
    integer, larger is a better match. Returns the pairs in (application, expert) order.
    """
    allowed = np.asarray(allowed, dtype=bool)
    affinity = np.asarray(affinity, dtype=np.int64)
    _check(allowed, affinity, k)
    n, m = allowed.shape
    if n == 0:
        return AssignmentResult(feasible=True, loads=[0] * m)
    problems = _short_of_candidates(allowed, k)
    if problems or m == 0:
        return AssignmentResult(feasible=False, problems=problems, message="too few candidates")
    total = n * k
    low, extra = divmod(total, m)

    a_max = int(affinity.max()) if affinity.size else 0
    app_idx, exp_idx = np.nonzero(allowed)  # row-major: deterministic order
    sink = n + m
    smcf = min_cost_flow.SimpleMinCostFlow()
    tails = np.concatenate([app_idx, n + np.arange(m)])
    heads = np.concatenate([n + exp_idx, np.full(m, sink)])
    caps = np.ones(len(tails), dtype=np.int64)
    costs = np.concatenate([a_max - affinity[app_idx, exp_idx], np.zeros(m, dtype=np.int64)])
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.concatenate([np.full(n, k), np.full(m, -low), [-extra]])
    smcf.set_nodes_supplies(np.arange(n + m + 1), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        return explain_infeasible(allowed, k)
    flows = smcf.flows(np.arange(len(app_idx)))
    chosen = np.nonzero(flows)[0]
    pairs = list(zip(app_idx[chosen].tolist(), exp_idx[chosen].tolist(), strict=True))
    loads = np.bincount(exp_idx[chosen], minlength=m).tolist()
    return AssignmentResult(
        feasible=True, pairs=pairs, affinity=int(affinity[app_idx[chosen], exp_idx[chosen]].sum()), loads=loads
    )


def _short_of_candidates(allowed: np.ndarray, k: int) -> dict[int, dict]:
    counts = allowed.sum(axis=1)
    return {int(a): {"reason": "candidates", "available": int(counts[a])} for a in np.nonzero(counts < k)[0]}


def explain_infeasible(allowed: np.ndarray, k: int) -> AssignmentResult:
    """Which applications cannot get ``k`` reviewers, and why.

    First the applications with fewer than ``k`` experts free of conflict; otherwise a
    maximum flow with balanced capacities (each expert at most ⌈n·k/m⌉) shows which
    applications are left short when the experts they may have are full.
    """
    allowed = np.asarray(allowed, dtype=bool)
    n, m = allowed.shape
    problems = _short_of_candidates(allowed, k)
    if problems or m == 0:
        return AssignmentResult(feasible=False, problems=problems, message="too few candidates")
    cap = -(-n * k // m)
    app_idx, exp_idx = np.nonzero(allowed)
    source, sink = n + m, n + m + 1
    smcf = min_cost_flow.SimpleMinCostFlow()
    tails = np.concatenate([np.full(n, source), app_idx, n + np.arange(m)])
    heads = np.concatenate([np.arange(n), n + exp_idx, np.full(m, sink)])
    caps = np.concatenate([np.full(n, k), np.ones(len(app_idx), dtype=np.int64), np.full(m, cap)])
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, np.zeros(len(tails), dtype=np.int64))
    smcf.set_node_supply(source, n * k)
    smcf.set_node_supply(sink, -n * k)
    smcf.solve_max_flow_with_min_cost()
    got = np.asarray(smcf.flows(np.arange(n)), dtype=np.int64)
    short = {int(a): {"reason": "capacity", "available": int(got[a])} for a in np.nonzero(got < k)[0]}
    if not short:
        low = n * k // m
        under = [int(e) for e in np.nonzero(allowed.sum(axis=0) < low)[0]]
        return AssignmentResult(
            feasible=False,
            message=f"balanced loads impossible: experts {under} have fewer than {low} applications they may review",
        )
    return AssignmentResult(feasible=False, problems=short, message="capacity")


def relaxation_bound(allowed: np.ndarray, affinity: np.ndarray, k: int) -> int:
    """An upper bound on the affinity: every application takes its ``k`` best experts without
    a conflict, ignoring expert loads (the load-balance constraints relaxed)."""
    allowed = np.asarray(allowed, dtype=bool)
    masked = np.where(allowed, np.asarray(affinity, dtype=np.int64), -1)
    if masked.shape[1] < k:
        return 0
    top = -np.partition(-masked, k - 1, axis=1)[:, :k]
    return int(np.clip(top, 0, None).sum())
