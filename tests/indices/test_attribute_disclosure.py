"""Group attribute disclosure (issue 8): a cell whose level distribution puts all its
filers in one level tells every member's level, however many they are. Worked example of
docs/METHOD.md ("等级分布：全部同一等级")."""

import numpy as np
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


# --- intervals: what the published level counts imply for hidden distributions -----------------------


def public_pins(cells: pd.DataFrame, params: IndexParameters | None = None) -> list[tuple[str, str, int, int]]:
    """The attacker on the public view: every cell whose level distribution is not shown
    has unknown integer counts 0 ≤ x_k ≤ n (the true n, as if the attacker knew it), with
    Σ_k x_k = n where n is shown; every partition and level gives Σ children = parent.
    Returns (kind, code, level, least count) for each hidden distribution whose least count
    at some level (an integer programme per cell and level) is at least max(n − 1, 1):
    all, or all but one, of its filers in one level."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    params = params or IndexParameters()
    cells = cells.reset_index(drop=True)
    public = dc.public_view(cells, params, cells.attrs.get("protection", {}).get("level_hidden", []))
    n = cells["n"].to_numpy(int)
    shown = public["level_shares"].map(lambda s: s is not None and len(s) == 5).to_numpy()
    n_shown = public["n"].map(lambda v: v is not None).to_numpy()
    unknown = np.flatnonzero(~shown & (n > 0))
    col = {int(c): i * 5 for i, c in enumerate(unknown)}
    known = np.zeros((len(cells), 5))
    for i in np.flatnonzero(shown):
        known[i] = np.rint(np.array(public.at[i, "level_shares"], dtype=float) * public.at[i, "n"])
    edges = dc.partition_table(cells)
    rows, rhs = [], []
    for _, part in edges.groupby("partition"):
        parent = int(part["parent"].iloc[0])
        members = [(int(c), 1.0) for c in part["child"]] + [(parent, -1.0)]
        if not any(c in col for c, _ in members):
            continue
        for k in range(5):
            row = np.zeros(len(unknown) * 5)
            b = 0.0
            for c, sign in members:
                if c in col:
                    row[col[c] + k] += sign
                else:
                    b -= sign * known[c, k]
            rows.append(row)
            rhs.append(b)
    for c in unknown:
        if n_shown[c]:
            row = np.zeros(len(unknown) * 5)
            row[col[int(c)]: col[int(c)] + 5] = 1.0
            rows.append(row)
            rhs.append(float(n[c]))
    if not len(unknown):
        return []
    upper = np.repeat(n[unknown].astype(float), 5)
    constraints = [LinearConstraint(np.array(rows), rhs, rhs)] if rows else []
    true = np.rint(np.array([s if len(s) else [0] * 5 for s in cells["level_shares"]], dtype=float) * n[:, None])
    pins = []
    for c in unknown:
        for k in range(5):
            if true[c, k] < max(n[c] - 1, 1):
                continue  # the true counts are a solution: this level cannot be pinned
            objective = np.zeros(len(unknown) * 5)
            objective[col[int(c)] + k] = 1.0
            res = milp(objective, constraints=constraints, integrality=np.ones(len(objective)),
                       bounds=Bounds(np.zeros(len(objective)), upper))
            assert res.status == 0
            if round(res.fun) >= max(n[c] - 1, 1):
                pins.append((cells.at[c, "kind"], cells.at[c, "code"], k + 1, round(res.fun)))
    return pins


def two_hidden_counties() -> pd.DataFrame:
    """Prefecture 320100: county 320102 has 1 firm (small, suppressed), 320104 five, the
    cheapest complement; both all at level 3. The two other counties of 320100 and the
    province 330000 have six firms each at mixed levels."""
    rows, eid = [], 0
    mixed = [1, 2, 4, 5, 2, 4]
    for county, levels in (("320102", [3]), ("320104", [3] * 5), ("320105", mixed), ("320106", mixed[::-1]),
                           ("330102", mixed), ("330104", mixed[::-1])):
        for i, level in enumerate(levels):
            eid += 1
            rows.append((eid, county[:2] + "0000", county[:4] + "00", county, "39", "small", (),
                         40.0 + 7 * i + 2 * eid % 5, level))
    scores = pd.DataFrame(rows, columns=["enterprise_id", "province", "prefecture", "county", "division",
                                         "size_class", "key_industries", "composite", "level"])
    scores["D1"] = scores["composite"]
    return scores


def test_two_hidden_counties_whose_levels_the_prefecture_gives_away_are_protected():
    """Before: 320102 and 320104 hidden, everything else published with its levels —
    prefecture − 320105 − 320106 = (0, 0, 6, 0, 0): both hidden counties all at level 3,
    though no published distribution was. Now the interval audit hides one more
    distribution and no hidden one is pinned."""
    scores = two_hidden_counties()
    params = IndexParameters()
    cells = compute_cells(scores, registry(scores), params, DIMS)
    assert cell(cells, "county", "320102")["suppressed"] and cell(cells, "county", "320104")["suppressed"]
    assert not cell(cells, "county", "320105")["suppressed"] and not cell(cells, "county", "320106")["suppressed"]
    assert dc.one_level_cells(cells.loc[~cells["suppressed"].astype(bool)]).sum() == 0  # no published one to flag
    # what the public could derive without the level audit (the published level counts)
    published = cells.copy()
    published.attrs = {"protection": {"level_hidden": []}}
    assert ("county", "320104", 3, 5) in public_pins(published, params)
    assert ("county", "320102", 3, 1) in public_pins(published, params)
    # now
    audit = cells.attrs["protection"]["level_intervals"]
    assert audit["widened"] >= 1 and audit["left"] == []
    hidden_levels = cells.attrs["protection"]["level_hidden"]
    assert "county|320105" in hidden_levels  # the cheaper sibling (6 firms, by code)
    public = dc.public_view(cells, params, hidden_levels)
    assert cell(public, "county", "320105")["level_shares"] is None
    assert cell(public, "county", "320105")["mean"] is not None  # only the distribution goes
    assert public_pins(cells, params) == []


@pytest.mark.parametrize("seed", range(1, 9))
def test_no_hidden_level_distribution_is_pinned_by_the_published_level_counts(seed):
    """Random small populations: with the run's published level counts as equations
    (integer programmes, the true n known), no hidden distribution has all, or all but
    one, of its filers in one level."""
    from tests.indices.test_disclosure import DIMS as RANDOM_DIMS
    from tests.indices.test_disclosure import random_population

    scores, registry_, _ = random_population(seed, 150 + 30 * seed)
    rng = np.random.default_rng(seed)
    # concentrated levels, so that hidden cells all at one level are common
    scores["level"] = np.where(rng.random(len(scores)) < 0.8, 3, scores["level"])
    cells = compute_cells(scores, registry_, IndexParameters(), RANDOM_DIMS)
    assert public_pins(cells) == []
