"""The protection-interval audit (apps.indices.audit): linear programmes over the hidden
cells of the partition equations, bounds 0 ≤ sum ≤ 100 n."""

import pytest

from apps.indices.aggregation import IndexParameters, compute_cells
from apps.indices.audit import protection_audit
from tests.indices.test_aggregation import cell
from tests.indices.test_disclosure import DIMS, filings, random_population


def population(b_score: float):
    """Prefecture 310100: county 310101 has 2 filings (90, 90) — too few; 310102 has 6
    filings of ``b_score`` and becomes its complement; 310103 and 310104 have 10 each."""
    rows = [("310101", "39", 90)] * 2 + [("310102", "39", b_score)] * 6
    rows += [("310103", "39", 50)] * 10 + [("310104", "39", 60)] * 10
    scores = filings(rows)
    return scores, scores[["enterprise_id", "province", "prefecture", "county", "division", "size_class", "key_industries"]]


def test_bounds_can_pin_a_hidden_cell_the_equations_leave_open_and_the_rule_widens_them():
    # y(310101) + y(310102) = 180 + 597 = 777 is all the equations say; but
    # y(310102) ≤ 6 × 100 = 600, so y(310101) ≥ 177: within 1.7 % of its true sum 180,
    # although no equation determines it.
    scores, registry = population(99.5)
    old = compute_cells(scores, registry, IndexParameters(protection_p=0), DIMS)  # the rule off
    assert set(old.loc[old["suppressed"], "code"]) >= {"310101", "310102"}
    result = protection_audit(old, p=0.10)
    assert result["checked"] >= 1 and result["p"] == 0.10
    found = {c["code"]: c for c in result["unprotected"]}
    assert found["310101"]["low"] == pytest.approx(177.0) and found["310101"]["value"] == pytest.approx(180.0)

    # with the rule (protection_p 0.10, the default) the run adds a complement with room
    # (310103: 10 filings of 50, sum 500) and audits again: every primary cell keeps ± 10 %
    cells = compute_cells(scores, registry, IndexParameters(), DIMS)
    summary = cells.attrs["protection"]
    assert summary["p"] == 0.10 and summary["audited"] >= 1 and summary["unprotected"] == []
    assert summary["widened"] >= 1 and {"kind": "county", "code": "310103", "n": 10} in summary["widened_cells"]
    assert cell(cells, "county", "310103")["suppression_reason"] == "secondary"
    assert protection_audit(cells, p=0.10)["unprotected"] == []


@pytest.mark.parametrize("seed,n", [(11, 300), (12, 800)])
def test_every_primary_cell_of_a_random_population_keeps_its_interval(seed, n):
    scores, registry, previous = random_population(seed, n)
    cells = compute_cells(scores, registry, IndexParameters(protection_p=0.15), DIMS, previous_scores=previous)
    summary = cells.attrs["protection"]
    primary = cells["suppression_reason"].isin(["small_n", "dominance", "stability"]) & (cells["n"] > 0)
    assert summary["audited"] == int(primary.sum()) and summary["not_audited"] == 0
    assert summary["unprotected"] == [] and protection_audit(cells, p=0.15)["unprotected"] == []


def test_a_complement_with_room_protects_the_cell():
    scores, registry = population(60.0)  # 310102 could hold 0 … 600: y(310101) anywhere in 0 … 200
    cells = compute_cells(scores, registry, IndexParameters(), DIMS)
    result = protection_audit(cells, p=0.10)
    assert result["checked"] >= 1 and result["unprotected"] == []


@pytest.mark.parametrize("seed,n", [(21, 400), (22, 900)])
def test_the_witness_shortcut_decides_like_the_linear_programmes(seed, n):
    """Blocks of several equations: a feasible line through the true sums proves most
    targets protected without an LP; the verdict must equal the LPs' for every target."""
    import numpy as np

    from apps.indices import audit
    from apps.indices.disclosure import partition_table

    scores, registry, previous = random_population(seed, n)
    cells = compute_cells(scores, registry, IndexParameters(protection_p=0), DIMS, previous_scores=previous)
    n_ = cells["n"].to_numpy(np.int64)
    total = n_ * cells["mean"].astype(float).fillna(0).to_numpy()
    hidden = cells["suppressed"].to_numpy(bool) & (n_ > 0)
    targets = np.flatnonzero(hidden & cells["suppression_reason"].isin(audit.PRIMARY).to_numpy())
    edges = partition_table(cells)
    targets = audit._by_block(targets, hidden, total, edges)
    for p in (0.05, 0.10, 0.30):
        lo, hi, _, lps = audit.intervals(hidden, n_, total, edges, targets)
        w_lo, w_hi, _, fewer = audit.intervals(hidden, n_, total, edges, targets, p=p)
        exact = audit._unprotected(total[targets], 100 * n_[targets], lo, hi, p)
        fast = audit._unprotected(total[targets], 100 * n_[targets], w_lo, w_hi, p)
        assert (exact == fast).all() and fewer <= lps
        assert (w_lo >= lo - 1e-6).all() and (w_hi <= hi + 1e-6).all()  # inner bounds


def test_a_dimension_sum_is_audited_like_the_composite():
    """The composite leaves room (310102 at 60: 310101 anywhere in 0 … 200), but dimension
    D1 of 310102 is 99.5: y_D1(310101) ≥ 777 − 600 = 177 of 180. The pass for D1 adds the
    complement with room, as for the composite (worked example of docs/METHOD.md)."""
    scores, registry = population(60.0)
    scores.loc[scores["county"] == "310101", "D1"] = 90.0
    scores.loc[scores["county"] == "310102", "D1"] = 99.5
    off = compute_cells(scores, registry, IndexParameters(protection_p=0), DIMS)
    assert not cell(off, "county", "310103")["suppressed"]
    assert compute_cells(scores, registry, IndexParameters(), DIMS).attrs["protection"]["dimensions"] == {}  # off by default
    cells = compute_cells(scores, registry, IndexParameters(audit_dimensions=True), DIMS)
    summary = cells.attrs["protection"]
    assert summary["dimensions"]["D1"]["widened"] >= 1 and summary["dimensions"]["D1"]["unprotected"] == []
    assert summary["dimensions"]["D2"]["widened"] == 0
    assert cell(cells, "county", "310103")["suppression_reason"] == "secondary"
    # the composite alone did not need it
    assert protection_audit(off, p=0.10)["unprotected"] == []
