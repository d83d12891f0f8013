"""The level-count audit in two parts (issue 13): apply_disclosure_control audits the level
distributions of the pattern after the first complements in a thread, beside the later
steps, and at the end only what those steps made unknown (disclosure.level_disclosure's
``earlier``). Whatever smaller pattern the early part saw, the attacker of
test_attribute_disclosure (integer programmes over the published level counts) must find
no hidden distribution pinned in the final one."""

import functools

import numpy as np
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells
from apps.indices.audit import PRIMARY
from tests.indices.test_attribute_disclosure import public_pins
from tests.indices.test_disclosure import DIMS, random_population


def _with_levels_withheld(cells, withheld):
    out = cells.copy()
    keys = (out["kind"].astype(str) + dc.SEPARATOR + out["code"].astype(str)).to_numpy(object)
    out.attrs = {"protection": {"level_hidden": keys[withheld].tolist()}}
    return out


def _cells(seed):
    return _computed_cells(seed).copy()  # a copy: the test must not change the next one's cells


@functools.cache  # both early patterns of a seed audit the same cells
def _computed_cells(seed):
    scores, registry_, _ = random_population(seed, 150 + 30 * seed)
    rng = np.random.default_rng(seed)
    scores["level"] = np.where(rng.random(len(scores)) < 0.8, 3, scores["level"])  # concentrated levels
    return compute_cells(scores, registry_, IndexParameters(), DIMS).reset_index(drop=True)


@pytest.mark.parametrize("early_pattern", ["nothing hidden", "primary rules only"])
@pytest.mark.parametrize("seed", range(1, 7))
def test_the_audit_of_a_smaller_pattern_protects_the_final_one(seed, early_pattern):
    cells = _cells(seed)
    final = cells["suppressed"].to_numpy(bool)
    early = np.zeros(len(cells), dtype=bool)
    if early_pattern == "primary rules only":
        early = final & cells["suppression_reason"].astype(str).isin(PRIMARY).to_numpy()
    n, edges, order = cells["n"].to_numpy(np.int64), dc.partition_table(cells), dc._code_order(cells)
    then = dc.level_disclosure(cells, early, n, order, edges)
    report: dict = {}
    withheld = dc.level_disclosure(cells, final, n, order, edges, report=report, earlier=(early, then))
    assert not (withheld & final).any()  # published cells only
    assert not (then & ~final & ~withheld).any()  # what the early part withheld stays withheld
    assert public_pins(_with_levels_withheld(cells, withheld)) == []
    # A distribution that can be pinned has all, or all but one, of its filers in one
    # level: published in the smaller pattern, the early part withheld it already. So the
    # later part finds nothing new to audit (it stays as a check of that argument).
    assert report["audited"] == 0


def test_the_run_records_both_parts_of_the_level_audit():
    cells = _cells(3)
    audit = cells.attrs["protection"]["level_intervals"]
    assert audit["later"]["audited"] == 0 and audit["left"] == []
    assert audit["audited"] > 0 and audit["rounds"] >= 2  # the early part's rounds and the later one
    assert public_pins(cells) == []


def test_an_error_in_the_early_level_audit_fails_the_computation(monkeypatch):
    """The early part runs in a thread: an error there must reach the join (which then
    marks the run failed), never leave distributions published unaudited."""
    scores, registry_, _ = random_population(2, 180)
    real = dc.level_disclosure

    def failing(cells, hidden, n, order, edges, *, earlier=None, **kwargs):
        if earlier is None:  # the early part, in its thread
            raise RuntimeError("level audit failed")
        return real(cells, hidden, n, order, edges, earlier=earlier, **kwargs)

    monkeypatch.setattr(dc, "level_disclosure", failing)
    with pytest.raises(RuntimeError, match="level audit failed"):
        compute_cells(scores, registry_, IndexParameters(), DIMS)
