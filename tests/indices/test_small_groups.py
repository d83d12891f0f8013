"""Small groups that are not cells (issue 8, the gaps left by the partition, overlap and
intersection audits): a key industry against a province × division cell, a county ×
division intersection that counties and prefecture × division cells determine, two hidden
counties whose total the prefecture gives away, and "all but one in one level". Worked
examples of docs/METHOD.md ("小群体：交集与重叠", "等级分布：除一家外同一等级").

The attacker here works on filings, not on the engine's equations: every filer's composite
is an unknown, every published cell gives the sum over its members (n × mean, both
public), and a group's total is derivable iff its membership vector lies in the row space
of the published cells' membership vectors (:func:`derivable_groups`)."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from apps.indices import disclosure as dc
from apps.indices.aggregation import IndexParameters, compute_cells, compute_statistics
from apps.indices.audit import PRIMARY
from apps.indices.intersections import build_system, group_members, small_group_leaks
from tests.indices.test_disclosure import DIMS as RANDOM_DIMS
from tests.indices.test_disclosure import random_population
from tests.indices.test_property import memberships

DIMS = ["D1"]
COLUMNS = ["enterprise_id", "province", "prefecture", "county", "division", "size_class", "key_industries", "composite"]


def frame(rows: list[tuple]) -> pd.DataFrame:
    scores = pd.DataFrame(rows, columns=COLUMNS)
    scores["level"] = 3
    scores["D1"] = scores["composite"]
    return scores


def registry(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[COLUMNS[:-1]].copy()


def cell(cells: pd.DataFrame, kind: str, code: str) -> dict:
    return cells[(cells["kind"] == kind) & (cells["code"] == code)].iloc[0].to_dict()


def published_sum(cells: pd.DataFrame, kind: str, code: str) -> float:
    c = cell(dc.public_view(cells), kind, code)
    assert c["mean"] is not None, (kind, code)
    return c["n"] * c["mean"]


def derivable_groups(cells: pd.DataFrame, scores: pd.DataFrame, m: int = 5, largest: int = 3) -> list[list[int]]:
    """Groups of 1 … m − 1 filings — unions of up to ``largest`` classes of filings that no
    published cell tells apart — whose total follows from the published cells, and every
    hidden cell whose total does (as its members). Brute force over the filings."""
    members = memberships(scores)
    ids = scores["enterprise_id"].astype(int).to_numpy()
    column = {int(e): j for j, e in enumerate(ids)}
    published, hidden = [], []
    for c in cells.itertuples(index=False):
        group = members.get((c.kind, c.code))
        if not group:
            continue
        v = np.zeros(len(ids))
        v[[column[i] for i in group]] = 1.0
        (hidden if c.suppressed else published).append(v)
    a = np.array(published)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    basis = vt[s > 1e-9 * s.max()]

    def follows(v: np.ndarray) -> bool:
        return bool(np.linalg.norm(v - (v @ basis.T) @ basis) < 1e-7 * max(np.linalg.norm(v), 1.0))

    found = [ids[h > 0].tolist() for h in hidden if follows(h)]
    _, cls, count = np.unique(a.T, axis=0, return_inverse=True, return_counts=True)
    cls = cls.ravel()
    small = np.flatnonzero(count < m)
    # each small class's distance from the row space; a union follows iff they cancel:
    # ‖Σ r‖² from the Gram matrix of the distances, every pair and every triple
    indicator = (cls[None, :] == small[:, None]).astype(float)
    rest = indicator - (indicator @ basis.T) @ basis
    gram = rest @ rest.T
    k, c = len(small), count[small]
    tol = 1e-12
    for a in range(k):
        if c[a] < m and gram[a, a] < tol:
            found.append(ids[cls == small[a]].tolist())
    for a, b in combinations(range(k), 2):
        pair = gram[a, a] + gram[b, b] + 2 * gram[a, b]
        if c[a] + c[b] < m and pair < tol:
            found.append(ids[np.isin(cls, small[[a, b]])].tolist())
        if largest >= 3:
            third = np.arange(b + 1, k)
            norm = pair + np.diag(gram)[third] + 2 * (gram[a, third] + gram[b, third])
            for t in third[(norm < tol) & (c[a] + c[b] + c[third] < m)]:
                found.append(ids[np.isin(cls, small[[a, b, t]])].tolist())
    return found


# --- 1. a key industry against a province × division cell ---------------------------------------


def key_industry_population() -> pd.DataFrame:
    """Two provinces (one prefecture, one county each). 320000: 6 medium firms of division
    27, all tagged biomedicine, and 6 small firms of 39. 330000: 6 medium firms of 27
    (untagged) and 6 small firms of 39, one of which — firm 99, composite 71.25 — is tagged
    biomedicine. Biomedicine (7 firms) = province × division 320000|27 (6) + firm 99."""
    rng = np.random.default_rng(8)
    rows = []
    for i in range(6):
        rows.append(
            (i + 1, "320000", "320100", "320102", "27", "medium", ("biomedicine",), float(rng.integers(40, 90)))
        )
        rows.append((i + 11, "320000", "320100", "320102", "39", "small", (), float(rng.integers(40, 90))))
        rows.append((i + 21, "330000", "330100", "330102", "27", "medium", (), float(rng.integers(40, 90))))
    for i in range(5):
        rows.append((i + 31, "330000", "330100", "330102", "39", "small", (), float(rng.integers(40, 90))))
    rows.append((99, "330000", "330100", "330102", "39", "small", ("biomedicine",), 71.25))
    return frame(rows)


def test_a_key_industry_minus_a_province_division_cell_gave_a_firm_away_and_no_longer_does():
    scores = key_industry_population()
    params = IndexParameters()
    # the checks before this one (primary, partitions, the nation-level overlap atoms) publish
    # both cells: biomedicine's atoms at nation level — (27, medium, tagged), (39, small,
    # tagged) — are not told apart by nation, divisions, sizes and biomedicine …
    stats = compute_statistics(scores, registry(scores), params, DIMS)
    before = dc.apply_disclosure_control(stats, params, scores=scores, linear_audit=False)
    assert not before["suppressed"].any()
    # … but biomedicine − 320000|27 is firm 99's composite
    gap = published_sum(before, "key_industry", "biomedicine") - published_sum(before, "province_division", "320000|27")
    assert gap == pytest.approx(71.25, abs=1e-6)
    assert [99] in derivable_groups(before, scores)

    cells = compute_cells(scores, registry(scores), params, DIMS)
    k = cell(cells, "key_industry", "biomedicine")
    assert k["suppressed"] and k["suppression_reason"] == "overlap"
    assert not cell(cells, "province_division", "320000|27")["suppressed"]  # the region table stays whole
    record = cells.attrs["protection"]["small_groups"]
    assert record["found"] == 1 and record["groups"][0]["hidden"] == ["key_industry|biomedicine"]
    assert record["groups"][0]["filings"] == 1
    assert derivable_groups(cells, scores) == []


def test_a_region_cell_minus_a_key_industry_is_a_difference_too():
    """The other way round: every firm of 330000|39 but firm 36 is tagged: 330000|39 −
    biomedicine (together with 320000|27, all tagged) is firm 36."""
    scores = key_industry_population()
    in_39 = (scores["province"] == "330000") & (scores["division"] == "39")
    scores.loc[in_39, "key_industries"] = pd.Series([("biomedicine",)] * int(in_39.sum()), index=scores.index[in_39])
    scores.loc[scores["enterprise_id"] == 35, "key_industries"] = pd.Series(
        [()], index=scores.index[scores["enterprise_id"] == 35]
    )
    params = IndexParameters()
    stats = compute_statistics(scores, registry(scores), params, DIMS)
    before = dc.apply_disclosure_control(stats, params, scores=scores, linear_audit=False)
    assert not before["suppressed"].any()
    gap = (
        published_sum(before, "province_division", "320000|27")
        + published_sum(before, "province_division", "330000|39")
        - published_sum(before, "key_industry", "biomedicine")
    )
    assert gap == pytest.approx(float(scores.loc[scores["enterprise_id"] == 35, "composite"].iloc[0]), abs=1e-6)
    cells = compute_cells(scores, registry(scores), params, DIMS)
    assert cell(cells, "key_industry", "biomedicine")["suppressed"]
    assert derivable_groups(cells, scores) == []


def test_a_key_industry_far_from_any_region_cell_stays_published():
    """330000|39 with 5 more firms (41–45), firms 31–34 tagged too: biomedicine − 320000|27
    is a group of five (31–34, 99), 330000|39 minus that a group of six; the primary rule
    allows both."""
    scores = key_industry_population()
    more = [(41 + i, "330000", "330100", "330102", "39", "small", (), 50.0 + i) for i in range(5)]
    scores = pd.concat([scores, frame(more)], ignore_index=True)
    tagged = scores["enterprise_id"].between(31, 34)
    scores.loc[tagged, "key_industries"] = pd.Series([("biomedicine",)] * 4, index=scores.index[tagged])
    cells = compute_cells(scores, registry(scores), IndexParameters(), DIMS)
    assert not cell(cells, "key_industry", "biomedicine")["suppressed"]
    assert cells.attrs["protection"]["small_groups"]["found"] == 0


# --- 2. an intersection that counties and prefecture × division cells determine -------------------


def intersection_population() -> pd.DataFrame:
    """Prefecture 320100: county 320102 holds 3 firms of division 13 and 10 of 27; county
    320103 holds 10 firms of 13. Every cell has at least 5 filings — 320102 (13),
    320103 (10), 320100|13 (13), 320100|27 (10) — but the intersection 320102 × 13, three
    firms, is 320102 − 320100|27."""
    rng = np.random.default_rng(3)
    rows = [(i + 1, "320000", "320100", "320102", "13", "small", (), float(rng.integers(40, 90))) for i in range(3)]
    rows += [(i + 11, "320000", "320100", "320102", "27", "small", (), float(rng.integers(40, 90))) for i in range(10)]
    rows += [(i + 31, "320000", "320100", "320103", "13", "small", (), float(rng.integers(40, 90))) for i in range(10)]
    return frame(rows)


def test_a_county_division_intersection_of_three_firms_was_derivable_and_is_protected_now():
    scores = intersection_population()
    params = IndexParameters()
    stats = compute_statistics(scores, registry(scores), params, DIMS)
    # the checks before this one (primary, partitions, overlaps): nothing to hide
    before = dc.apply_disclosure_control(stats, params, scores=scores, linear_audit=False)
    assert not before["suppressed"].any()
    three = published_sum(before, "county", "320102") - published_sum(before, "prefecture_division", "320100|27")
    assert three == pytest.approx(float(scores.loc[scores["enterprise_id"] <= 3, "composite"].sum()), abs=1e-6)
    assert [1, 2, 3] in derivable_groups(before, scores)
    # the rule (docs/METHOD.md): a group the public can total must pass the primary rules
    cells = compute_cells(scores, registry(scores), params, DIMS)
    record = cells.attrs["protection"]["small_groups"]
    assert record["found"] >= 1 and record["groups"][0]["filings"] == 3
    assert cells["suppressed"].any()
    assert derivable_groups(cells, scores) == []


# --- 3. a union of hidden cells -----------------------------------------------------------------------


def test_two_hidden_counties_of_one_firm_each_do_not_add_up_to_a_published_difference():
    """Prefecture 320100 (12 firms): counties 320102 and 320103 with one firm each (hidden,
    small sample), 320104 with 10. Each hidden county has another hidden county in its
    partition, so the partition audit was satisfied — but 320100 − 320104 is the total of
    the two firms, and each of them learns the other's score."""
    rng = np.random.default_rng(4)
    rows = [
        (1, "320000", "320100", "320102", "13", "small", (), 64.0),
        (2, "320000", "320100", "320103", "13", "small", (), 58.5),
    ]
    rows += [(i + 11, "320000", "320100", "320104", "13", "small", (), float(rng.integers(40, 90))) for i in range(10)]
    rows += [(i + 31, "330000", "330100", "330102", "13", "small", (), float(rng.integers(40, 90))) for i in range(6)]
    scores = frame(rows)
    params = IndexParameters()
    stats = compute_statistics(scores, registry(scores), params, DIMS)
    before = dc.apply_disclosure_control(stats, params, scores=scores, linear_audit=False)
    hidden = set(before.loc[before["suppressed"].astype(bool), "code"])
    assert hidden == {"320102", "320103"}
    pair = published_sum(before, "prefecture", "320100") - published_sum(before, "county", "320104")
    assert pair == pytest.approx(64.0 + 58.5, abs=1e-6)
    assert [1, 2] in derivable_groups(before, scores)
    cells = compute_cells(scores, registry(scores), params, DIMS)
    assert len(set(cells.loc[cells["suppressed"].astype(bool), "code"])) > 2
    assert derivable_groups(cells, scores) == []


# --- 4. the property on random populations -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(1, 11))
def test_no_group_of_fewer_than_five_filings_is_derivable_from_one_run(seed):
    """Random populations (3–5 provinces, key-industry tags, skewed sizes): before this check
    each of these ten gave away a group of 2–4 filings (a union of hidden cells, an
    intersection, or a key industry against region cells); now no group of 1–4 filings
    (up to three classes of filings) and no hidden cell is derivable."""
    n = 150 + (seed * 37) % 250
    scores, registry_, _ = random_population(seed, n)
    cells = compute_cells(scores, registry_, IndexParameters(), RANDOM_DIMS)
    assert cells["suppressed"].any()
    assert derivable_groups(cells, scores) == []


# --- 5. all but one in one level ---------------------------------------------------------------------


def test_all_but_one_firm_in_one_level_shows_no_level_distribution_to_the_public():
    """Province 320000 of the key-industry example: 11 of its 12 firms at level 3, one at
    level 4 — the one firm at level 4 learns that every other firm is at level 3."""
    scores = key_industry_population()
    scores["key_industries"] = [()] * len(scores)
    in_320 = scores["province"] == "320000"
    scores.loc[in_320, "level"] = 3
    scores.loc[scores["enterprise_id"] == 1, "level"] = 4
    scores.loc[~in_320, "level"] = [1 + i % 5 for i in range(int((~in_320).sum()))]
    params = IndexParameters()
    cells = compute_cells(scores, registry(scores), params, DIMS)
    province = cell(cells, "province", "320000")
    assert province["n"] == 12 and province["level_shares"] == pytest.approx([0, 0, 11 / 12, 1 / 12, 0])
    public = dc.public_view(cells, params, cells.attrs["protection"]["level_hidden"])
    assert cell(public, "province", "320000")["level_shares"] is None
    assert cell(public, "province", "320000")["mean"] is not None
    # level counts add up like n: nation − 330000 would give them, so 330000's go too
    assert cell(public, "province", "330000")["level_shares"] is None
    # two firms outside level 3 (10 of 12 in it): the province's own distribution is not
    # flagged any more ...
    scores.loc[scores["enterprise_id"] == 2, "level"] = 2
    cells = compute_cells(scores, registry(scores), params, DIMS)
    assert not dc.one_level_cells(cells)[(cells["kind"] == "province") & (cells["code"] == "320000")].any()
    # ... but its division 39 (6 firms, all at level 3) is, with its complements; with them
    # hidden, the published province and division counts still pin 320000|39: division
    # 27 has 5 firms at level 3, so 320000|27 at most 5 of its 6, and 320000|39 at least
    # 10 − 5 = 5 of 6 (docs/METHOD.md "等级家数的区间"). The interval audit hides more,
    # the province's distribution among them.
    assert cells.attrs["protection"]["level_intervals"]["widened"] > 0
    public = dc.public_view(cells, params, cells.attrs["protection"]["level_hidden"])
    assert cell(public, "province", "320000")["level_shares"] is None


# --- 6. the rounds' remembered search against a fresh one ---------------------------------------------


def leaks_as_labels(system, leaks) -> list[tuple]:
    return [(tuple(group_members(system.frame, leak.rows)), leak.n, leak.cell) for leak in leaks]


@pytest.mark.parametrize("seed", range(1, 11))
def test_a_round_that_remembers_the_last_search_finds_what_a_fresh_search_finds(seed):
    """Later rounds check the sets the last search found before searching again (hiding a
    cell only takes knowledge away). From the primary cells of a random population to its
    final pattern in three steps, each round's leaks — groups and determined hidden cells —
    are those of a system built afresh with the same hidden cells and searched in full."""
    n = 150 + (seed * 37) % 250
    scores, registry_, _ = random_population(seed, n)
    cells = compute_cells(scores, registry_, IndexParameters(), RANDOM_DIMS)
    m = IndexParameters().min_cell_size
    final = cells["suppressed"].to_numpy(bool)
    hidden = final & np.isin(cells["suppression_reason"].astype(str), PRIMARY)
    system = build_system(cells, scores, hidden.copy(), m)
    rounds = [leaks_as_labels(system, small_group_leaks(system, m))]
    assert rounds[0], "the primary pattern gives a small group away"
    for step in np.array_split(np.flatnonzero(final & ~hidden), 3):
        hidden[step] = True
        changed = np.zeros(len(system.hidden), dtype=bool)
        changed[step] = True
        system.hidden[: len(cells)] = hidden
        remembered = leaks_as_labels(system, small_group_leaks(system, m, changed=changed))
        fresh_system = build_system(cells, scores, hidden.copy(), m)
        fresh = leaks_as_labels(fresh_system, small_group_leaks(fresh_system, m, changed=changed))
        assert remembered == fresh
        rounds.append(remembered)
    # the final pattern leaks nothing
    assert rounds[-1] == []
