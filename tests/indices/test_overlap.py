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
    scores = with_division_40(population(), [(18, "39", "small", ())])  # a tenth firm of 39
    extra = scores["enterprise_id"].between(10, 13)  # four more tagged firms of 39: 5 outside 27 …
    scores.loc[extra, "key_industries"] = [("biomedicine",)] * int(extra.sum())
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    # … and 5 untagged firms (14–18): biomedicine − 27, 39 − biomedicine and nation −
    # biomedicine are groups of 5
    assert not cell(cells, "key_industry", "biomedicine")["suppressed"]


def test_the_nation_minus_a_key_industry_is_a_difference_too():
    """Five more tagged firms (10–14) leave only firms 15–17 untagged: nation −
    biomedicine is their sum (the pair-by-pair rule did not compare a key industry with
    the nation; the check over atoms does)."""
    scores = population()
    extra = scores["enterprise_id"].between(10, 14)
    scores.loc[extra, "key_industries"] = [("biomedicine",)] * int(extra.sum())
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    assert cell(cells, "key_industry", "biomedicine")["suppression_reason"] == "overlap"
    assert cells.attrs["overlap"] == [
        {"kind": "key_industry", "code": "biomedicine", "n": 14, "protects": "39/small/", "filings": 3}
    ]


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
    # b − a = firms 15, 16 and nation − b = firms 9, 17: the check over atoms finds the
    # smaller difference first (two firms) and suppresses b (nation − b), then a (nation − a
    # = firms 9, 15, 16, 17); the pair-by-pair rule suppressed only a.
    assert cell(cells, "key_industry", "a")["suppression_reason"] == "overlap"
    assert cell(cells, "key_industry", "b")["suppression_reason"] == "overlap"
    assert [r["code"] for r in cells.attrs["overlap"]] == ["b", "a"]


# --- the general check over atoms (division × size class × tag set) ---------------------------


def with_division_40(scores: pd.DataFrame, extra: list[tuple[int, str, str, tuple]]) -> pd.DataFrame:
    """``scores`` plus firms (id, division, size, tags), alternating over the two provinces,
    composites 50 + id / 2 (every cell stays publishable on the primary rules)."""
    rows = []
    for eid, division, size, tags in extra:
        prov = "320000" if eid % 2 else "330000"
        rows.append((eid, prov, prov[:3] + "100", prov[:3] + "102", division, size, tags, 50.0 + eid / 2))
    more = pd.DataFrame(rows, columns=COLUMNS).assign(level=3)
    more["D1"] = more["composite"]
    return pd.concat([scores, more], ignore_index=True)


def two_dimension_population() -> pd.DataFrame:
    """biomedicine = division 27 (8 medium) + all 6 large firms (division 40) + firm 9.
    No division or size class lies inside biomedicine with a small remainder (27 leaves 7,
    the large class leaves 9), but biomedicine − division 27 − large = firm 9."""
    extra = [(20 + i, "40", "large", ("biomedicine",)) for i in range(6)]
    extra += [(26 + i, "40", "small", ()) for i in range(5)]
    extra += [(31 + i, "39", "medium", ()) for i in range(5)]
    return with_division_40(population(), extra)


def two_key_industries_population() -> pd.DataFrame:
    """biomedicine = division 27 (8) + firm 9 + six firms of division 40 that also carry
    "b"; b = those six. b lies inside biomedicine (9 apart) and inside division 40 (5
    apart), but biomedicine − b − division 27 = firm 9."""
    extra = [(20 + i, "40", "small", ("biomedicine", "b")) for i in range(6)]
    extra += [(26 + i, "40", "small", ()) for i in range(5)]
    return with_division_40(population(), extra)


def published_sum(cells: pd.DataFrame, kind: str, code: str) -> float:
    c = cell(cells, kind, code)
    assert not c["suppressed"], (kind, code, c["suppression_reason"])
    return c["n"] * c["mean"]


@pytest.mark.parametrize("make,attack", [
    (two_dimension_population, [("key_industry", "biomedicine", 1), ("division", "27", -1), ("size", "large", -1)]),
    (two_key_industries_population, [("key_industry", "biomedicine", 1), ("key_industry", "b", -1), ("division", "27", -1)]),
])  # fmt: skip
def test_combinations_across_two_dimensions_recovered_firm_9_before_and_not_now(make, attack):
    scores = make()
    params = IndexParameters()
    from apps.indices.aggregation import compute_statistics

    # the attack works on the cells as the pair-by-pair rule left them
    stats = compute_statistics(scores, registry(scores), params, DIMS)
    old = dc.apply_disclosure_control(stats, params)
    old_hidden = old["suppressed"].to_numpy().copy()
    old.loc[dc.overlap_suppression(old, scores, params) & ~old_hidden, "suppressed"] = False
    assert sum(sign * published_sum(old, k, c) for k, c, sign in attack) == pytest.approx(71.25, abs=1e-6)
    # now one of the cells of the combination is suppressed (the key industry: no complement needed)
    cells = compute_cells(scores, registry(scores), params, DIMS)
    hidden = [(k, c) for k, c, _ in attack if cell(cells, k, c)["suppressed"]]
    assert len(hidden) == 1 and hidden[0][0] == "key_industry"  # the cheapest: a key industry
    assert cell(cells, *hidden[0])["suppression_reason"] == "overlap"
    assert cells.attrs["overlap"][0]["protects"] == "39/small/biomedicine"
    assert cells.attrs["overlap"][0]["filings"] == 1


def test_a_key_industry_of_two_whole_divisions_and_one_firm_is_suppressed():
    """biomedicine = division 27 + division 40 + firm 9 (the pair-by-pair rule caught this
    one too: K minus its whole divisions)."""
    scores = with_division_40(population(), [(20 + i, "40", "small", ("biomedicine",)) for i in range(6)])
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    assert cell(cells, "key_industry", "biomedicine")["suppression_reason"] == "overlap"
    assert not cell(cells, "division", "27")["suppressed"] and not cell(cells, "division", "40")["suppressed"]


NATION_LEVEL = ("nation", "division", "size", "key_industry")


def nation_level_rows(cells: pd.DataFrame, scores: pd.DataFrame):
    """Membership vectors over the filings of the nation-level cells with filings:
    (published rows, hidden rows, hidden keys)."""
    tags = scores["key_industries"].map(lambda t: set(t or ()))
    published, hidden, keys = [], [], []
    for c in cells[cells["kind"].isin(NATION_LEVEL)].itertuples(index=False):
        if c.kind == "nation":
            v = np.ones(len(scores))
        elif c.kind == "division":
            v = (scores["division"] == c.code).to_numpy(float)
        elif c.kind == "size":
            v = (scores["size_class"] == c.code).to_numpy(float)
        else:
            v = tags.map(lambda t, code=c.code: code in t).to_numpy(float)
        if not v.any():
            continue
        (hidden if c.suppressed else published).append(v)
        if c.suppressed:
            keys.append((c.kind, c.code))
    return np.array(published), np.array(hidden), keys


def tagged_population(seed: int, n: int) -> pd.DataFrame:
    """Random filings over 5 divisions, 4 sizes and 5 key industries whose tags follow the
    division often (key industries close to a division plus a few firms elsewhere: the
    pattern the attacks need)."""
    rng = np.random.default_rng(seed)
    divisions = np.array(["13", "17", "26", "27", "39"])
    d = divisions[rng.choice(5, n, p=[0.35, 0.25, 0.2, 0.12, 0.08])]
    home = {"13": "food", "17": "textile", "26": "chem", "27": "bio", "39": "ict"}
    tags = []
    for division in d:
        t = set()
        if rng.random() < 0.8:
            t.add(home[division])
        if rng.random() < 0.06:
            t.add(str(rng.choice(list(home.values()))))
        tags.append(tuple(sorted(t)))
    prov = rng.choice(["320000", "330000"], n)
    rows = pd.DataFrame({
        "enterprise_id": np.arange(1, n + 1), "province": prov, "prefecture": [p[:3] + "100" for p in prov],
        "county": [p[:3] + "102" for p in prov], "division": d,
        "size_class": rng.choice(["large", "medium", "small", "micro"], n, p=[0.1, 0.2, 0.35, 0.35]),
        "key_industries": tags, "composite": rng.uniform(20, 95, n).round(2),
    })  # fmt: skip
    rows["level"] = 3
    rows["D1"] = rows["composite"]
    return rows


@pytest.mark.parametrize("seed", range(1, 9))
def test_no_group_of_fewer_than_five_filings_follows_from_the_nation_level_cells(seed):
    """Property (the attacker works on filings, not atoms): after disclosure control no
    set of 1 … 4 filings and no hidden nation-level cell has a sum in the row space of the
    published nation-level cells' membership vectors. ‖(I − QQᵀ) 1_S‖² = Σ_{i,j∈S} M_ij
    with M = I − QQᵀ, for every set at once."""
    scores = tagged_population(seed, 70 + 5 * seed)
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    published, hidden, keys = nation_level_rows(cells, scores)
    _, s, vt = np.linalg.svd(published, full_matrices=False)
    q = vt[s > 1e-9 * s.max()].T
    m = np.eye(len(scores)) - q @ q.T
    d = np.diag(m)
    tol = 1e-8
    assert (d > tol).all(), "a single filing is derivable"
    i, j = np.triu_indices(len(scores), 1)
    assert (d[i] + d[j] + 2 * m[i, j] > tol).all(), "a pair is derivable"
    a, b, c = (x.ravel() for x in np.meshgrid(*[np.arange(len(scores))] * 3, indexing="ij"))
    keep = (a < b) & (b < c)
    a, b, c = a[keep], b[keep], c[keep]
    triple = d[a] + d[b] + d[c] + 2 * (m[a, b] + m[a, c] + m[b, c])
    assert (triple > tol).all(), "three filings are derivable"
    if len(hidden):
        rest = hidden - (hidden @ q) @ q.T
        found = np.linalg.norm(rest, axis=1) < 1e-7 * np.linalg.norm(hidden, axis=1)
        assert not found.any(), [k for k, f in zip(keys, found, strict=True) if f]


def test_the_property_is_not_vacuous_the_pair_by_pair_rule_leaves_groups_derivable():
    """On the same populations the old rule (key industries against one group at a time)
    left some group of 1 … 4 filings derivable: the cells as the engine published them
    before the check over atoms."""
    from apps.indices.aggregation import compute_statistics

    leaky = 0
    for seed in range(1, 9):
        scores = tagged_population(seed, 70 + 5 * seed)
        params = IndexParameters()
        cells = dc.apply_disclosure_control(compute_statistics(scores, registry(scores), params, DIMS), params)
        published, _, _ = nation_level_rows(cells, scores)
        _, s, vt = np.linalg.svd(published, full_matrices=False)
        q = vt[s > 1e-9 * s.max()].T
        m = np.eye(len(scores)) - q @ q.T
        d = np.diag(m)
        i, j = np.triu_indices(len(scores), 1)
        leaky += bool((d < 1e-8).any() or (d[i] + d[j] + 2 * m[i, j] < 1e-8).any())
    assert leaky >= 1


def test_a_hidden_key_industry_keeps_its_protection_interval_with_the_overlap_equations():
    """Division 39 = 3 firms of the key industry "k" (95 each, hidden: n = 3) + 5 untagged
    firms at 99.5. The published division 39 says y_k + y_rest = 285 + 497.5, and y_rest ≤
    500, so y_k ≥ 282.5: within 1 % of 285 although nothing determines it. The audit over
    atoms finds it and hides cells sharing k's atoms until ± 10 % holds."""
    rows = []
    for i in range(8):
        prov = "320000" if i % 2 else "330000"
        rows.append((i + 1, prov, prov[:3] + "100", prov[:3] + "102", "27", "medium", (), 40.0 + 5 * i))
    for i in range(3):
        prov = "320000" if i % 2 else "330000"
        rows.append((20 + i, prov, prov[:3] + "100", prov[:3] + "102", "39", "small", ("k",), 95.0))
    for i in range(5):
        prov = "320000" if i % 2 else "330000"
        rows.append((30 + i, prov, prov[:3] + "100", prov[:3] + "102", "39", "small", (), 99.5))
    scores = pd.DataFrame(rows, columns=COLUMNS).assign(level=3)
    scores["D1"] = scores["composite"]
    off = compute_cells(scores, registry(scores), IndexParameters(protection_p=0), DIMS)
    assert cell(off, "key_industry", "k")["suppression_reason"] == "small_n"
    assert not cell(off, "division", "39")["suppressed"]
    from apps.indices.overlap import overlap_intervals

    hidden = off["suppressed"].to_numpy(bool)
    primary = (off["kind"] == "key_industry").to_numpy() & hidden
    _, found = overlap_intervals(off, scores, hidden, primary, 0.10)
    assert found["audited"] == 1 and found["widened"] >= 1  # it had to hide something
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    summary = cells.attrs["protection"]["overlap_intervals"]
    # in the full run the cells it needs hidden are hidden (here already by the other rules)
    assert summary["audited"] == 1 and summary["unprotected"] == []
    assert cell(cells, "division", "39")["suppressed"] or cell(cells, "size", "small")["suppressed"]
    _, again = overlap_intervals(cells, scores, cells["suppressed"].to_numpy(bool), primary, 0.10)
    assert again["widened"] == 0 and again["unprotected"] == []
