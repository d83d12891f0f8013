"""Differential tests of the linear audit's fast paths (issue 8, speed): each is checked
against a slow, obviously correct reference — a dense SVD test of which unknowns the
equations determine — on a few hundred random systems built from random small populations.

* :func:`apps.indices.disclosure.determined_unknowns` (blocks, absorbing equations dropped,
  leverage per block, blocks remembered by their matrix) against: e_j lies in the row space
  of the partition equations iff row j of an orthonormal basis of their null space is 0.
* :func:`apps.indices.disclosure.intersection_repairs` (county × division intersections
  eliminated, one equation per group of counties and prefecture × division cells) against
  the system that keeps every intersection as an unknown, as docs/METHOD.md states the
  audit.
* :func:`apps.indices.aggregation.compute_cells` (the whole disclosure step): no hidden cell
  is determined by the dense reference, with or without the intersections."""

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import null_space

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells, compute_statistics
from tests.indices.test_disclosure import DIMS, random_population

POPULATIONS = [(seed, 60 + 17 * seed % 240) for seed in range(101, 121)]
MASKS_PER_POPULATION = 15  # 20 × 15 = 300 random systems


def dense_determined(hidden: np.ndarray, n: np.ndarray, edges: pd.DataFrame) -> set[int]:
    """The hidden non-empty cells that the partition equations determine: one dense row per
    partition (+1 per unknown child, −1 for an unknown parent) and an SVD."""
    unknown = hidden & (n > 0)
    cells = np.flatnonzero(unknown)
    column = {int(c): j for j, c in enumerate(cells)}
    rows = []
    for _, members in edges.groupby("partition"):
        row = np.zeros(len(cells))
        for child in members["child"]:
            if unknown[child]:
                row[column[int(child)]] += 1.0
        parent = int(members["parent"].iloc[0])
        if unknown[parent]:
            row[column[parent]] -= 1.0
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    # e_j is in the row space iff it is orthogonal to the null space: row j of an
    # orthonormal null-space basis (one SVD) is zero
    basis = null_space(np.array(rows))
    return {int(c) for c, row in zip(cells, basis, strict=True) if np.abs(row).max(initial=0.0) < 1e-9}


def present_codes(scores: pd.DataFrame) -> set[str]:
    return set(scores["prefecture"].astype(str) + "|" + scores["division"].astype(str) + "|"
               + scores["county"].astype(str))  # fmt: skip


def reference_intersection_repairs(cells, hidden, n, order, weight, present) -> np.ndarray:
    """The intersection audit on the system that keeps the intersections as unknowns
    (dense SVD), for the prefectures with a hidden county or prefecture × division cell."""
    kind, code, parent = cells["kind"].to_numpy(object), cells["code"].to_numpy(object), cells["parent_code"]
    parent = parent.fillna("").astype(str).to_numpy(object)
    open_to = set(parent[hidden & (kind == "county")]) | {
        c.split("|", 1)[0] for c in code[hidden & (kind == "prefecture_division")]
    }
    present = [c for c in present if c.split("|", 1)[0] in open_to]
    augmented = dc.with_county_divisions(cells.assign(suppressed=hidden), present)
    k = len(augmented) - len(cells)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    edges = dc.partition_table(augmented)
    all_hidden = np.concatenate([hidden, np.ones(k, dtype=bool)])
    all_n = np.concatenate([n, np.ones(k, dtype=np.int64)])
    targets = np.array(sorted(t for t in dense_determined(all_hidden, all_n, edges) if t < len(cells)), dtype=np.int64)
    if not len(targets):
        return np.zeros(0, dtype=np.int64)
    all_order = np.concatenate([order, order.max() + 1 + np.arange(k)])
    all_weight = None if weight is None else np.concatenate([weight, np.ones(k)])
    extra = dc._repair_linear(all_hidden, all_n, all_order, edges, targets, all_weight)
    return extra[extra < len(cells)]


def random_systems():
    """(cells, scores, hidden) for 300 random hidden patterns: 5–45 % of the non-empty
    cells, counties and prefecture × division cells more often (where intersections matter)."""
    params = IndexParameters()
    for seed, size in POPULATIONS:
        rng = np.random.default_rng(seed)
        scores, registry, _ = random_population(seed, size)
        cells = compute_statistics(scores, registry, params, DIMS).reset_index(drop=True)
        n = cells["n"].to_numpy(np.int64)
        regional = cells["kind"].isin(["county", "prefecture_division"]).to_numpy()
        for _ in range(MASKS_PER_POPULATION):
            share = rng.uniform(0.05, 0.45)
            hidden = (rng.random(len(cells)) < np.where(regional, 1.5 * share, share)) & (n > 0)
            yield cells, scores, hidden


@pytest.fixture(scope="module")
def systems():
    return list(random_systems())


@pytest.mark.parametrize("dense_block", [50_000, 0], ids=["dense blocks", "sparse blocks"])
def test_determined_unknowns_agrees_with_a_dense_svd_on_300_random_systems(systems, dense_block, monkeypatch):
    # both ways of solving a block (small ones dense, large ones sparse), each from scratch
    monkeypatch.setattr(dc, "_DENSE_BLOCK", dense_block)
    dc._DETERMINED.clear()
    determined_somewhere = free_somewhere = 0
    for cells, _scores, hidden in systems:
        n = cells["n"].to_numpy(np.int64)
        edges = dc.partition_table(cells)
        expected = dense_determined(hidden, n, edges)
        assert set(dc.determined_unknowns(hidden, n, edges).tolist()) == expected
        # again: blocks now come from the remembered answers
        assert set(dc.determined_unknowns(hidden, n, edges).tolist()) == expected
        determined_somewhere += len(expected)
        free_somewhere += int((hidden & (n > 0)).sum()) - len(expected)
    # the systems exercise both answers (a test that cannot fail would not)
    assert determined_somewhere > 100 and free_somewhere > 100


def test_intersection_audit_agrees_with_the_system_that_keeps_every_intersection(systems):
    repaired = 0
    for cells, scores, hidden in systems:
        n = cells["n"].to_numpy(np.int64)
        order = dc._code_order(cells)
        weight = np.where(np.arange(len(cells)) % 3 == 0, 0.5, 1.0)
        edges = dc.partition_table(cells)
        # the partition audit first (as apply_disclosure_control does): what remains
        # determined is determined through the intersections only
        hidden = hidden | dc.protect(hidden, n, order, edges, weight=weight)
        present = present_codes(scores)
        expected = reference_intersection_repairs(cells, hidden, n, order, weight, present)
        from_codes = dc.intersection_repairs(cells, hidden, n, order, weight, present)
        from_pairs = dc.intersection_repairs(
            cells, hidden, n, order, weight, (), edges, dc._intersection_pairs(cells, scores)
        )
        assert from_codes.tolist() == expected.tolist()
        assert from_pairs.tolist() == expected.tolist()
        repaired += bool(len(expected))
    assert repaired >= 5  # the intersections do determine hidden cells in some systems


@pytest.mark.parametrize("seed,size", [(131, 120), (132, 200), (133, 280), (134, 360), (135, 150), (136, 240)])
def test_no_hidden_cell_of_a_run_is_determined_by_the_dense_reference(seed, size):
    scores, registry, previous = random_population(seed, size)
    cells = compute_cells(scores, registry, IndexParameters(), DIMS, previous_scores=previous)
    hidden = cells["suppressed"].astype(bool).to_numpy()
    n = pd.to_numeric(cells["n"]).to_numpy(np.int64)
    assert hidden.any()
    assert dense_determined(hidden, n, dc.partition_table(cells)) == set()
    augmented = dc.with_county_divisions(cells.assign(n=n), present_codes(scores))
    k = len(augmented) - len(cells)
    all_hidden = np.concatenate([hidden, np.ones(k, dtype=bool)])
    all_n = np.concatenate([n, np.ones(k, dtype=np.int64)])
    found = dense_determined(all_hidden, all_n, dc.partition_table(augmented))
    assert {t for t in found if t < len(cells)} == set()
