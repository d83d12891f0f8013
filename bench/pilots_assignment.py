"""Reviewer-assignment benchmark (issue 10): `.venv/bin/python bench/pilots_assignment.py`.

A random instance of 3,000 applications × 400 experts, 3 reviewers each, 5 % of the pairs
conflicted, affinity 0–5 (key industry + scenario levels, as apps.pilots.services computes it).
It measures, in one process and the same run:

  * floor: one numpy pass over the instance (the arcs the solver is given: np.nonzero of
    the allowed matrix and the affinity gather) — the baseline the ratios are taken against;
  * the min-cost-flow solve (apps.pilots.assignment.solve_assignment, OR-Tools), checked:
    k reviewers each, no conflicted pair, loads within one;
  * two upper bounds on the affinity: the relaxation without load constraints (each
    application takes its k best experts) and the LP relaxation of the full problem solved
    by scipy's HiGHS (the flow matrix is totally unimodular, so the LP optimum equals the
    integer optimum: the gap shows the solver is optimal, and its time is the comparison
    with a general LP solver);
  * a second solve of the same input, to show the result is the same (deterministic).

Figures are printed and appended to docs/PERFORMANCE.md with --write. The machine is shared
and noisy: compare ratios, not seconds. No database is used.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.pilots.assignment import relaxation_bound, solve_assignment  # noqa: E402


def instance(n: int, m: int, conflict_share: float, seed: int):
    """Applications with one of 6 key industries and 1–3 scenario levels; experts with 1–2
    key industries and 1–2 levels; affinity = 2 for the industry + 1 per shared level (0–5),
    as apps.pilots.services.affinity_of computes it."""
    rng = np.random.default_rng(seed)
    allowed = rng.random((n, m)) >= conflict_share
    app_ind = rng.integers(0, 6, n)
    app_lv = rng.random((n, 3)) < 0.5
    app_lv[np.arange(n), rng.integers(0, 3, n)] = True
    exp_ind = np.zeros((m, 6), dtype=bool)
    exp_ind[np.arange(m), rng.integers(0, 6, m)] = True
    exp_ind[np.arange(m), rng.integers(0, 6, m)] |= rng.random(m) < 0.5
    exp_lv = np.zeros((m, 3), dtype=bool)
    exp_lv[np.arange(m), rng.integers(0, 3, m)] = True
    exp_lv[np.arange(m), rng.integers(0, 3, m)] |= rng.random(m) < 0.5
    affinity = 2 * exp_ind[:, app_ind].T.astype(np.int64) + app_lv.astype(np.int64) @ exp_lv.T.astype(np.int64)
    return allowed, affinity


def lp_bound(allowed: np.ndarray, affinity: np.ndarray, k: int) -> tuple[float, float]:
    from scipy.optimize import linprog
    from scipy.sparse import csr_array

    n, m = allowed.shape
    a_idx, e_idx = np.nonzero(allowed)
    v = len(a_idx)
    cols = np.arange(v)
    eq = csr_array((np.ones(v), (a_idx, cols)), shape=(n, v))
    load = csr_array((np.ones(v), (e_idx, cols)), shape=(m, v))
    low = n * k // m
    high = low + (1 if n * k % m else 0)
    from scipy.sparse import vstack

    a_ub = vstack([load, -load])
    b_ub = np.concatenate([np.full(m, high), np.full(m, -low)])
    t = time.perf_counter()
    res = linprog(-affinity[a_idx, e_idx].astype(float), A_ub=a_ub, b_ub=b_ub, A_eq=eq, b_eq=np.full(n, k),
                  bounds=(0, 1), method="highs")
    return -res.fun, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=3000)
    parser.add_argument("--experts", type=int, default=400)
    parser.add_argument("--reviewers", type=int, default=3)
    parser.add_argument("--conflicts", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-lp", action="store_true", help="skip the LP relaxation (slow)")
    parser.add_argument("--write", action="store_true", help="append the figures to docs/PERFORMANCE.md")
    args = parser.parse_args()
    n, m, k = args.applications, args.experts, args.reviewers
    allowed, affinity = instance(n, m, args.conflicts, args.seed)

    t = time.perf_counter()
    a_idx, e_idx = np.nonzero(allowed)
    _ = affinity[a_idx, e_idx].sum()
    floor = time.perf_counter() - t

    t = time.perf_counter()
    result = solve_assignment(allowed, affinity, k)
    solve = time.perf_counter() - t
    assert result.feasible
    pairs = np.array(result.pairs)
    assert (np.bincount(pairs[:, 0], minlength=n) == k).all()
    assert allowed[pairs[:, 0], pairs[:, 1]].all()
    loads = np.bincount(pairs[:, 1], minlength=m)
    assert loads.max() - loads.min() <= 1

    t = time.perf_counter()
    again = solve_assignment(allowed, affinity, k)
    solve2 = time.perf_counter() - t
    deterministic = again.pairs == result.pairs

    t = time.perf_counter()
    top_k = relaxation_bound(allowed, affinity, k)
    top_k_time = time.perf_counter() - t
    lp, lp_time = (None, None) if args.no_lp else lp_bound(allowed, affinity, k)

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} CPUs, {platform.platform()}"
    lines = [
        f"## Pilot reviewer assignment, {now} ({machine})",
        "",
        f"`bench/pilots_assignment.py`: {n:,} applications × {m:,} experts × {k} reviewers, "
        f"{args.conflicts:.0%} conflicted pairs ({int((~allowed).sum()):,}), affinity 0–5 from fields, seed {args.seed}. "
        "Shared 2-core machine, six engineers running tests at the same time: compare ratios.",
        "",
        "| step | seconds | × floor |",
        "|---|---|---|",
        f"| floor: one numpy pass over the {len(a_idx):,} allowed pairs | {floor:.3f} | 1 |",
        f"| min-cost flow (OR-Tools), checked feasible | {solve:.2f} | {solve / floor:.0f} |",
        f"| same input again (identical result: {deterministic}) | {solve2:.2f} | {solve2 / floor:.0f} |",
        f"| bound without load constraints (k best each) | {top_k_time:.3f} | {top_k_time / floor:.1f} |",
    ]
    if lp is not None:
        lines.append(f"| LP relaxation of the full problem (scipy HiGHS) | {lp_time:.2f} | {lp_time / floor:.0f} |")
    lines += [
        "",
        f"Affinity of the assignment: {result.affinity:,}; bound without load constraints: {top_k:,}"
        + (f"; LP-relaxation bound: {lp:,.1f} (gap {lp - result.affinity:,.1f})" if lp is not None else "")
        + f". Loads {loads.min()}–{loads.max()}. Target ≤ 10 s: {'met' if solve <= 10 else 'NOT met'}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(ROOT / "docs" / "PERFORMANCE.md", "a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
