"""Small groups through an atom that two key industries split (issue 8; docs/METHOD.md
"小群体：交集与重叠", the case the limits section named): a firm carrying both tags is the
intersection of the two key industries inside one county × division atom, and
key industry A + key industry B − the atom gives it away when no firm of the atom carries
neither. The atom is split by the combination of tags (four pieces), not by each tag on its
own (two pairs of halves, which cannot express "in both")."""

import numpy as np
import pandas as pd
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells, compute_statistics
from apps.indices.intersections import build_system, group_members, small_group_leaks
from tests.indices.test_small_groups import cell, derivable_groups, frame, published_sum, registry


def two_tag_population() -> pd.DataFrame:
    """County 320102 (prefecture 320100) holds only division 27: six firms tagged
    electronics, six tagged biomedicine and firm 99 (71.25) tagged both. Division 27 also
    has eight untagged firms in county 330102, and division 39 eight untagged firms in each
    county, so that neither key industry is a union of whole divisions and the county is no
    division."""
    rng = np.random.default_rng(21)
    rows = []
    for i in range(6):
        rows.append((i + 1, "320000", "320100", "320102", "27", "medium", ("electronics",), float(rng.integers(40, 90))))
        rows.append((i + 11, "320000", "320100", "320102", "27", "medium", ("biomedicine",), float(rng.integers(40, 90))))
    rows.append((99, "320000", "320100", "320102", "27", "medium", ("biomedicine", "electronics"), 71.25))
    for i in range(8):
        rows.append((i + 21, "330000", "330100", "330102", "27", "medium", (), float(rng.integers(40, 90))))
        rows.append((i + 31, "320000", "320100", "320104", "39", "small", (), float(rng.integers(40, 90))))
        rows.append((i + 41, "330000", "330100", "330102", "39", "small", (), float(rng.integers(40, 90))))
    return frame(rows)


def test_two_key_industries_over_one_county_gave_a_firm_with_both_tags_away_and_no_longer_do():
    scores = two_tag_population()
    params = IndexParameters()
    stats = compute_statistics(scores, registry(scores), params, DIMS := ["D1"])
    before = dc.apply_disclosure_control(stats, params, scores=scores, linear_audit=False)
    # every cell has at least five firms and is published …
    assert not before["suppressed"].any()
    # … and electronics + biomedicine − county 320102 is firm 99
    gap = (published_sum(before, "key_industry", "electronics") + published_sum(before, "key_industry", "biomedicine")
           - published_sum(before, "county", "320102"))
    assert gap == pytest.approx(71.25, abs=1e-6)
    assert [99] in derivable_groups(before, scores)
    # the atom 320100|27|320102 is cut into its tag combinations: both, one, the other
    system = build_system(stats, scores, np.zeros(len(stats), dtype=bool), params.min_cell_size)
    pieces = {c: n for c, n in zip(system.frame["code"], system.n, strict=True) if "&" in str(c)}
    assert pieces == {"key_industry:biomedicine&key_industry:electronics|320100|27|320102": 1,
                      "key_industry:biomedicine&~key_industry:electronics|320100|27|320102": 6,
                      "key_industry:electronics&~key_industry:biomedicine|320100|27|320102": 6}
    leaks = small_group_leaks(system, params.min_cell_size)
    assert [group_members(system.frame, leak.rows) for leak in leaks if not leak.cell] == [
        ["part:key_industry:biomedicine&key_industry:electronics|320100|27|320102"]
    ]

    cells = compute_cells(scores, registry(scores), params, DIMS)
    assert derivable_groups(cells, scores) == []
    # one of the two key industries is hidden (overlap); the region tables stay whole
    hidden = cells[cells["suppressed"]]
    assert list(hidden["kind"]) == ["key_industry"] and hidden["suppression_reason"].tolist() == ["overlap"], hidden
    assert not cell(cells, "county", "320102")["suppressed"]
    assert cells.attrs["protection"]["small_groups"]["found"] >= 1


def test_the_reference_builder_cuts_the_same_pieces():
    scores = two_tag_population()
    params = IndexParameters()
    stats = compute_statistics(scores, registry(scores), params, ["D1"])
    hidden = np.zeros(len(stats), dtype=bool)
    fast = build_system(stats, scores, hidden, params.min_cell_size)
    plain = build_system(stats, scores, hidden, params.min_cell_size, reference=True)
    pd.testing.assert_frame_equal(fast.frame, plain.frame)
    pd.testing.assert_frame_equal(fast.edges.reset_index(drop=True), plain.edges.reset_index(drop=True))
    assert (fast.finest == plain.finest).all() and (fast.n == plain.n).all()
