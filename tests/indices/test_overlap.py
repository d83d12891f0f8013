"""Overlapping groups (issue 8, finding 2): key industries against divisions, sizes and
other key industries. Worked example of docs/METHOD.md ("重叠分组")."""

import numpy as np
import pandas as pd
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells

DIMS = ["D1"]
COLUMNS = ["enterprise_id", "province", "prefecture", "county", "division", "size_class", "key_industries", "composite"]


def population() -> pd.DataFrame:
    """Division 27 (医药制造业): 8 medium-sized firms, all tagged biomedicine; biomedicine
    also holds firm 9, the only tagged firm of division 39 (composite 71.25). Division 39
    has 8 more firms; all 9 of 39 are small. Spread over two provinces so that every
    region cell is publishable."""
    rows = []
    rng = np.random.default_rng(5)
    for i in range(8):
        prov = "320000" if i % 2 else "330000"
        rows.append((i + 1, prov, prov[:3] + "100", prov[:3] + "102", "27", "medium", ("biomedicine",),
                     float(rng.integers(40, 90))))
    rows.append((9, "320000", "320100", "320102", "39", "small", ("biomedicine",), 71.25))
    for i in range(8):
        prov = "320000" if i % 2 else "330000"
        rows.append((10 + i, prov, prov[:3] + "100", prov[:3] + "102", "39", "small", (), float(rng.integers(40, 90))))
    scores = pd.DataFrame(rows, columns=COLUMNS)
    scores["level"] = 3
    scores["D1"] = scores["composite"]
    return scores


def registry(scores):
    return scores[COLUMNS[:-1]].copy()


def cell(frame, kind, code):
    return frame[(frame["kind"] == kind) & (frame["code"] == code)].iloc[0].to_dict()


def test_key_industry_minus_division_recovered_a_firm_before_and_is_suppressed_now():
    scores = population()
    params = IndexParameters()
    # without the overlap check (what the engine did): both cells published ...
    from apps.indices.aggregation import compute_statistics

    stats = compute_statistics(scores, registry(scores), params, DIMS)
    old = dc.apply_disclosure_control(stats, params)
    k, d = cell(old, "key_industry", "biomedicine"), cell(old, "division", "27")
    assert not k["suppressed"] and not d["suppressed"] and k["n"] == 9 and d["n"] == 8
    # ... and n·mean − n·mean is firm 9's composite, to six decimals
    assert k["n"] * k["mean"] - d["n"] * d["mean"] == pytest.approx(71.25, abs=1e-6)
    # now: the key industry is suppressed (reason overlap), the division stays published
    cells = compute_cells(scores, registry(scores), params, DIMS)
    k, d = cell(cells, "key_industry", "biomedicine"), cell(cells, "division", "27")
    assert k["suppressed"] and k["suppression_reason"] == "overlap" and not d["suppressed"]
    public = dc.public_view(cells, params)
    hidden = cell(public, "key_industry", "biomedicine")
    assert hidden["n"] is None and hidden["mean"] is None and hidden["suppression_reason"] == "not_published"


def test_a_key_industry_with_enough_firms_outside_the_division_stays_published():
    scores = population()
    extra = scores["enterprise_id"].between(10, 14)  # five more tagged firms of 39: 6 outside 27 in all
    scores.loc[extra, "key_industries"] = [("biomedicine",)] * int(extra.sum())
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    assert not cell(cells, "key_industry", "biomedicine")["suppressed"]


def test_a_key_industry_inside_a_division_with_few_others_is_suppressed():
    scores = population()
    scores["key_industries"] = [("biomedicine",) if d == "27" else () for d in scores["division"]]
    tagged = scores["enterprise_id"].between(9, 15)  # 7 of the 9 firms of 39
    scores.loc[tagged, "key_industries"] = [("electronics",)] * 7
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    # division 39 (9) − electronics (7) = firms 16 and 17
    assert cell(cells, "key_industry", "electronics")["suppression_reason"] == "overlap"
    # biomedicine is exactly division 27 (and the medium size class): an empty difference
    assert not cell(cells, "key_industry", "biomedicine")["suppressed"]


def test_two_key_industries_differing_by_two_firms_lose_the_smaller():
    scores = population()
    ids = scores["enterprise_id"]
    scores["key_industries"] = [
        ("a", "b") if i <= 8 or 10 <= i <= 14 else (("b",) if i in (15, 16) else ()) for i in ids
    ]
    scores.loc[ids == 9, "key_industries"] = [()]
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    assert cell(cells, "key_industry", "a")["n"] == 13 and cell(cells, "key_industry", "b")["n"] == 15
    assert cell(cells, "key_industry", "a")["suppression_reason"] == "overlap"  # b − a = firms 15, 16
    assert not cell(cells, "key_industry", "b")["suppressed"]
