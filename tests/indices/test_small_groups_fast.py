"""The small-group check's fast path against its reference (issue 13): the system built
from integer codes equals the one built from the atoms' code strings, and the search —
equations kept over all rows, blocks from the bipartite graph, row spaces from a pivoted
Cholesky factor, candidate sets matched on sorted probe sums — finds, round after round,
the same groups, the same determined hidden cells and remembers the same derivable sets
as the reference (eigendecompositions of each block, sets matched as
apps.indices.overlap matches them)."""

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csgraph

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells
from apps.indices.audit import PRIMARY
from apps.indices.intersections import build_system, group_members, small_group_leaks
from tests.indices.test_disclosure import DIMS as RANDOM_DIMS
from tests.indices.test_disclosure import random_population


def labels(system, leaks) -> list[tuple]:
    return [(tuple(group_members(system.frame, leak.rows)), leak.n, leak.cell) for leak in leaks]


def remembered(system) -> list[tuple]:
    return sorted(tuple(group_members(system.frame, rows)) for rows in system.derivable)


def primary_and_final(seed: int):
    n = 150 + (seed * 37) % 250
    scores, registry_, _ = random_population(seed, n)
    cells = compute_cells(scores, registry_, IndexParameters(), RANDOM_DIMS)
    final = cells["suppressed"].to_numpy(bool)
    hidden = final & np.isin(cells["suppression_reason"].astype(str), PRIMARY)
    return cells, scores, hidden, final


def assert_same_system(fast, reference) -> None:
    pd.testing.assert_frame_equal(fast.frame, reference.frame)
    pd.testing.assert_frame_equal(fast.edges.reset_index(drop=True), reference.edges.reset_index(drop=True))
    for name in ("hidden", "n", "finest"):
        assert np.array_equal(getattr(fast, name), getattr(reference, name)), name
    assert fast.splitting == reference.splitting
    assert fast.cells_count == reference.cells_count


@pytest.mark.parametrize("seed", range(1, 11))
def test_the_fast_search_finds_what_the_reference_finds_round_after_round(seed):
    """From the primary cells of a random population to its final pattern in three steps
    (as the rounds of apply_disclosure_control hide more cells), each round's leaks and the
    derivable sets remembered for the next round are the reference's."""
    cells, scores, hidden, final = primary_and_final(seed)
    m = IndexParameters().min_cell_size
    fast = build_system(cells, scores, hidden.copy(), m)
    reference = build_system(cells, scores, hidden.copy(), m, reference=True)
    assert_same_system(fast, reference)
    found = 0
    steps = [np.zeros(0, dtype=np.int64), *np.array_split(np.flatnonzero(final & ~hidden), 3)]
    for number, step in enumerate(steps):
        changed = None
        if number:
            hidden[step] = True
            changed = np.zeros(len(fast.hidden), dtype=bool)
            changed[step] = True
            for system in (fast, reference):
                system.hidden[: len(cells)] = hidden
        got = labels(fast, small_group_leaks(fast, m, changed=changed))
        expected = labels(reference, small_group_leaks(reference, m, changed=changed, reference=True))
        assert got == expected, number
        assert remembered(fast) == remembered(reference), number
        assert np.array_equal(fast.searched, reference.searched)
        found += len(got)
    assert found, "the primary pattern gives a small group away"


@pytest.mark.parametrize("seed", [1, 4, 7])
def test_the_blocks_are_numbered_as_connected_components_of_the_unknowns_graph_numbers_them(seed):
    """The probes are drawn block by block in the order of the blocks' numbers: the
    bipartite graph numbers them as connected_components on Aᵀ A does."""
    cells, scores, hidden, final = primary_and_final(seed)
    system = build_system(cells, scores, final.copy(), IndexParameters().min_cell_size)
    matrix, _ = dc._linear_system(system.hidden, system.n, system.edges)
    incidence = (dc._drop_absorbing_equations(matrix) != 0).astype(np.int8)
    count, block = dc.unknown_blocks(incidence)
    expected_count, expected = csgraph.connected_components((incidence.T @ incidence).tocsr(), directed=False)
    assert count == expected_count
    assert np.array_equal(block, expected)
