"""An independent attacker for two runs of one period (issue 8, revisions): every filing
is an unknown — one column for a filing in both runs with the same score, and one per run
for a filing that is new, gone or re-scored (its old value in the published run, its new
one in the candidate) — and every published cell of either run is an equation over its
members. A signed combination (coefficients ±1) of columns is derivable iff it lies in
the row space; candidates are all signed sets of up to four columns whose probes of the
orthogonal complement vanish (a necessary condition, so none is missed), confirmed
exactly. Pure numpy; used by tests/indices/test_revision_groups.py."""

import itertools

import numpy as np
import pandas as pd

KEYS = ("nation", "province", "prefecture", "county", "division", "size", "province_division", "prefecture_division")


def cell_keys(row) -> list[tuple[str, str]]:
    keys = [("nation", "CN"), ("province", row.province), ("prefecture", row.prefecture), ("county", row.county),
            ("division", row.division), ("size", row.size_class),
            ("province_division", f"{row.province}|{row.division}"),
            ("prefecture_division", f"{row.prefecture}|{row.division}")]
    tags = row.key_industries
    tags = (tags,) if isinstance(tags, str) and tags else tuple(tags) if not isinstance(tags, str) else ()
    return keys + [("key_industry", t) for t in tags]


def columns(first: pd.DataFrame, second: pd.DataFrame):
    """(column labels, filing of each column, column of each (run, enterprise))."""
    a = dict(zip(first["enterprise_id"].astype(int), first["composite"].astype(float), strict=True))
    b = dict(zip(second["enterprise_id"].astype(int), second["composite"].astype(float), strict=True))
    labels, filing, where = [], [], {}
    for e in sorted(set(a) | set(b)):
        if e in a and e in b and a[e] == b[e]:
            where[(0, e)] = where[(1, e)] = len(labels)
            labels.append(f"shared:{e}")
            filing.append(e)
            continue
        if e in a:
            where[(0, e)] = len(labels)
            labels.append(f"old:{e}")
            filing.append(e)
        if e in b:
            where[(1, e)] = len(labels)
            labels.append(f"new:{e}")
            filing.append(e)
    return labels, np.array(filing), where


def equations(cells: pd.DataFrame, scores: pd.DataFrame, run: int, where: dict, width: int) -> np.ndarray:
    members: dict[tuple[str, str], list[int]] = {}
    for row in scores.itertuples(index=False):
        for key in cell_keys(row):
            members.setdefault(key, []).append(where[(run, int(row.enterprise_id))])
    rows = []
    for c in cells.itertuples(index=False):
        cols = members.get((str(c.kind), str(c.code)))
        if cols and not c.suppressed:
            v = np.zeros(width)
            v[cols] = 1.0
            rows.append(v)
    return np.array(rows).reshape(-1, width)


def basis(matrix: np.ndarray) -> np.ndarray:
    if not len(matrix):
        return np.zeros((matrix.shape[1], 0))
    _, s, vt = np.linalg.svd(matrix, full_matrices=False)
    return vt[s > 1e-9 * s.max()].T


def in_span(q: np.ndarray, v: np.ndarray) -> bool:
    return bool(np.linalg.norm(v - q @ (q.T @ v)) < 1e-7 * np.linalg.norm(v))


def derivable_groups(first_cells, first_scores, second_cells, second_scores, m: int = 5, members: int = 4):
    """Signed sets of ≤ ``members`` columns over 1 … m − 1 distinct filings derivable from
    both runs' published cells and from neither run alone: [(labels with signs, filings)]."""
    labels, filing, where = columns(first_scores, second_scores)
    width = len(labels)
    e1 = equations(first_cells, first_scores, 0, where, width)
    e2 = equations(second_cells, second_scores, 1, where, width)
    q = basis(np.vstack([e1, e2]))
    q1, q2 = basis(e1), basis(e2)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((width, 3))
    z = z - q @ (q.T @ z)
    leverage = np.einsum("ij,ij->i", q, q)
    found = []
    for size in range(1, members + 1):
        pool = np.flatnonzero(leverage >= 1.0 / size - 1e-9)
        if size == 1:
            candidates = [((i, 1),) for i in pool]
        elif size == 2:
            candidates = [((i, 1), (j, s)) for i, j in itertools.combinations(pool, 2) for s in (1, -1)]
        else:
            # meet in the middle with a tolerance on the first probe (sorted search): every
            # signed pair, against every signed single (3) or signed pair (4)
            pairs = [((i, 1), (j, s)) for i, j in itertools.combinations(pool, 2) for s in (1, -1)]
            pair_z = np.array([z[i] + s * z[j] for (i, _), (j, s) in pairs]).reshape(-1, z.shape[1])
            if size == 3:
                other = [((k, s),) for k in pool for s in (1, -1)]
                other_z = np.array([s * z[k] for k in pool for s in (1, -1)]).reshape(-1, z.shape[1])
            else:
                other = pairs + [((i, -a), (j, -b)) for (i, a), (j, b) in pairs]
                other_z = np.vstack([pair_z, -pair_z])
            order = np.argsort(other_z[:, 0])
            first = other_z[order, 0]
            lo = np.searchsorted(first, -pair_z[:, 0] - 1e-6, side="left")
            hi = np.searchsorted(first, -pair_z[:, 0] + 1e-6, side="right")
            candidates = [(*pairs[a], *other[order[b]]) for a in range(len(pairs)) for b in range(lo[a], hi[a])]
        for combo in candidates:
            cols = [c for c, _ in combo]
            if len(set(cols)) < size:
                continue
            v = np.zeros(width)
            for c, s in combo:
                v[c] = s
            if np.abs(v @ z).max() > 1e-6:
                continue
            n = len(set(filing[cols].tolist()))
            if not 0 < n < m or not in_span(q, v) or in_span(q1, v) or in_span(q2, v):
                continue
            key = tuple(sorted((labels[c], int(s * combo[0][1])) for c, s in combo))
            found.append((key, n))
    return sorted(set(found))
