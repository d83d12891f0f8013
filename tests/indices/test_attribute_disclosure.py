"""Group attribute disclosure (issue 8): a cell whose level distribution puts all its
filers in one level tells every member's level, however many they are. Worked example of
docs/METHOD.md ("等级分布：全部同一等级")."""

import pandas as pd
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells
from tests.indices.test_overlap import DIMS, cell, population, registry


@pytest.fixture(scope="module")
def scores():
    """The 17 filings of the overlap example; the 9 of province 320000 are all
    at level 3, those of 330000 at levels 2–4."""
    frame = population()
    frame["key_industries"] = [()] * len(frame)  # no key industries: only regions and divisions
    in_320 = frame["province"] == "320000"
    frame.loc[in_320, "level"] = 3
    frame.loc[~in_320, "level"] = [2, 3, 4, 2, 3, 4, 2, 3, 4][: int((~in_320).sum())]
    return frame


def test_a_province_all_at_one_level_shows_no_level_distribution_to_the_public(scores):
    params = IndexParameters()
    cells = compute_cells(scores, registry(scores), params, DIMS)
    hidden_levels = cells.attrs["protection"]["level_hidden"]
    province = cell(cells, "province", "320000")
    assert not province["suppressed"] and province["n"] == 9 and province["level_shares"] == [0, 0, 1.0, 0, 0]
    public = dc.public_view(cells, params, hidden_levels)
    assert cell(public, "province", "320000")["level_shares"] is None
    assert cell(public, "province", "320000")["mean"] is not None  # the cell itself stays published
    # its prefecture and county hold the same 9 filings: all at level 3 too
    for kind, code in (("prefecture", "320100"), ("county", "320102")):
        assert cell(public, kind, code)["level_shares"] is None
    # nation − 330000 would give 320000's counts: the other province's distribution goes too
    assert "province|330000" in hidden_levels
    assert cell(public, "province", "330000")["level_shares"] is None
    assert cell(public, "nation", "CN")["level_shares"] is not None
    # without the run's list the rule on a cell's own distribution still holds
    alone = dc.public_view(cells, params)
    assert cell(alone, "province", "320000")["level_shares"] is None


def test_a_mixed_population_keeps_its_level_distributions(scores):
    mixed = scores.assign(level=[1 + i % 5 for i in range(len(scores))])
    cells = compute_cells(mixed, registry(mixed), IndexParameters(), DIMS)
    assert cells.attrs["protection"]["level_hidden"] == []
    public = dc.public_view(cells, IndexParameters(), [])
    shown = public.loc[~public["suppressed"].astype(bool) & (pd.to_numeric(public["n"]) > 0), "level_shares"]
    assert shown.map(lambda s: s is not None).all()
