"""Overlapping groups in general: an exact linear check over *atoms* (issue 8).

The nation-level cells overlap: the nation, each division and each size class are unions
of filings, and a key-industry cell holds every filing tagged with it, across divisions,
sizes and other key industries. Key-industry and size cells exist at nation level only
(:func:`apps.indices.aggregation._cell_kinds`), so every nation-level cell is a union of
**atoms** — the filings grouped by (division, size class, key-industry tag set). Whatever
linear combination of published sums an attacker forms (n × mean of each cell is public),
it is a combination of atom sums. A set S of atoms has a derivable sum iff its indicator
vector lies in the row space of the published cells' incidence matrix over atoms. Rows
of that space are constant on atoms that no published cell tells apart, so those are
merged first (*classes*); a derivable set is a union of classes.

:func:`overlap_leaks` finds, exactly up to floating-point rank tests on a 0/1 matrix of
a few hundred rows:

* every **small set**: a union of 1 … 4 classes with 1 … ``min_cell_size`` − 1 filings
  whose sum is derivable ("key industry − division − the large firms = one firm"). The
  orthogonal complement of the row space is probed with two random vectors g
  (z = (I − QQᵀ) g, Q an orthonormal basis of the row space): a derivable set has
  Σ_S z = 0 in both, so candidates are found by sorting and matching sums (singles,
  pairs, pair + single, pair + pair), then each is confirmed by its exact residual;
* every **hidden nation-level cell** (a complement, a small key industry …) whose sum is
  derivable from the published ones (a hidden division that equals a published key
  industry, say).

:func:`overlap_suppression` repairs them one at a time, cheapest first: for the first
leak found, the published cell of least cost whose removal takes the leak out of the row
space is suppressed (key industries before divisions and size classes — they are in no
partition and need no complement — then by n), and the check runs again until nothing
leaks. Region cells are not part of the atoms; docs/METHOD.md ("重叠分组：原子检查") says
why and what that leaves open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NATION_LEVEL = ("nation", "division", "size", "key_industry")
_TAG_JOIN = "\x1f"
# Rank tolerance of the 0/1 incidence matrix (singular values are ≥ 1 or ≈ 0 in practice)
_RANK_TOL = 1e-9
# A set's residual (distance of its indicator from the row space) below this is derivable
_RESIDUAL_TOL = 1e-7
# Match tolerance of the random-probe sums (they are O(1))
_PROBE_TOL = 1e-7
# Largest number of classes combined into one small set (pair + pair)
MAX_SET_CLASSES = 4


@dataclass
class Atoms:
    """Atoms of the nation-level cells: ``n`` filings per atom, and the incidence of each
    nation-level cell (``cells`` positions ``rows``) over the atoms."""

    n: np.ndarray
    rows: np.ndarray
    incidence: np.ndarray  # len(rows) × atoms, 0/1 float
    label: list[str]


def _tagset(value) -> str:
    if value is None or isinstance(value, float):
        return ""
    if isinstance(value, str):
        return value
    return _TAG_JOIN.join(sorted(str(t) for t in value))


def atoms_of(cells: pd.DataFrame, scores: pd.DataFrame) -> Atoms:
    """Group ``scores`` (division, size_class, key_industries) into atoms and build the
    incidence of the nation-level cells of ``cells`` over them."""
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    rows = np.flatnonzero(np.isin(kind, NATION_LEVEL))
    if "key_industries" in scores.columns:
        # tag sets repeat (a few hundred distinct among 200,000 filings): name each once
        raw = [tuple(t) if isinstance(t, (tuple, list, np.ndarray)) else t for t in scores["key_industries"].tolist()]
        codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=False)
        tag_codes, tag_names = pd.factorize(np.array([_tagset(u) for u in uniques], dtype=object))
        tag_codes = tag_codes[codes]
    else:
        tag_codes, tag_names = np.zeros(len(scores), dtype=np.int64), np.array([""], dtype=object)
    # the atoms: distinct (division, size class, tag set) by integer codes, then named and
    # sorted as a sorted group-by on the three strings would give them
    d_codes, d_names = pd.factorize(scores["division"].astype(str).to_numpy(object))
    s_codes, s_names = pd.factorize(scores["size_class"].astype(str).to_numpy(object))
    key = (d_codes.astype(np.int64) * len(s_names) + s_codes) * len(tag_names) + tag_codes
    atom, distinct = pd.factorize(key)
    d_of, rest = np.divmod(distinct, len(s_names) * len(tag_names))
    s_of, t_of = np.divmod(rest, len(tag_names))
    keys = pd.DataFrame({
        "division": np.asarray(d_names, dtype=object)[d_of],
        "size": np.asarray(s_names, dtype=object)[s_of],
        "tags": np.asarray(tag_names, dtype=object)[t_of],
        "n": np.bincount(atom, minlength=len(distinct)),
    }).sort_values(["division", "size", "tags"]).reset_index(drop=True)  # fmt: skip
    n = keys["n"].to_numpy(np.int64)
    incidence = np.zeros((len(rows), len(n)))
    division = keys["division"].to_numpy(object)
    size = keys["size"].to_numpy(object)
    tagsets = [set(t.split(_TAG_JOIN)) if t else set() for t in keys["tags"]]
    for r, pos in enumerate(rows):
        k, c = kind[pos], code[pos]
        if k == "nation":
            incidence[r] = 1.0
        elif k == "division":
            incidence[r] = division == c
        elif k == "size":
            incidence[r] = size == c
        else:
            incidence[r] = [c in t for t in tagsets]
    label = [f"{d}/{s}/{t.replace(_TAG_JOIN, '+')}" for d, s, t in zip(division, size, keys["tags"], strict=True)]
    return Atoms(n=n, rows=rows, incidence=incidence, label=label)


def _basis(published: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns) of the row space of ``published`` (a few dozen rows,
    thousands of columns): from the eigenvectors of the small Gram matrix A Aᵀ, then one
    QR pass to restore orthonormality to machine precision."""
    if not len(published):
        return np.zeros((published.shape[1], 0))
    w, u = np.linalg.eigh(published @ published.T)
    keep = w > _RANK_TOL * max(float(w.max()), 1.0)
    q = published.T @ (u[:, keep] / np.sqrt(w[keep]))
    q, _ = np.linalg.qr(q)
    return q


def _residual(q: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Norm of each row of ``vectors`` minus its projection on the row space (basis q)."""
    rest = vectors - (vectors @ q) @ q.T
    return np.linalg.norm(rest, axis=1)


def _classes(published: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Atoms that no published cell tells apart: (class of each atom, one atom per class)."""
    if not len(published):
        return np.zeros(published.shape[1], dtype=np.int64), np.zeros(1, dtype=np.int64)
    _, first, cls = np.unique(published.T, axis=0, return_index=True, return_inverse=True)
    return cls.ravel(), first


def _matches(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with a[i] + b[j] ≈ 0 (first probe only; sorted search)."""
    if not len(a) or not len(b):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(b, kind="stable")
    sb = b[order]
    # searched in ascending order (then put back): a binary search per query in random order
    # misses the cache on every step — half the time for the few hundred thousand pair sums
    # of the revision check's larger blocks
    queries = np.argsort(-a, kind="stable")
    targets = -a[queries]
    lo, hi = np.empty(len(a), np.int64), np.empty(len(a), np.int64)
    lo[queries] = np.searchsorted(sb, targets - _PROBE_TOL, side="left")
    hi[queries] = np.searchsorted(sb, targets + _PROBE_TOL, side="right")
    count = hi - lo
    i = np.repeat(np.arange(len(a)), count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    j = order[np.repeat(lo, count) + offsets]
    return i, j


def _small_sets(z: np.ndarray, n: np.ndarray, leverage: np.ndarray, limit: int) -> list[tuple[int, ...]]:
    """Candidate sets of classes (each of n ≤ ``limit``, together ≤ ``limit`` filings) whose
    probe sums vanish: singles, then pairs, triples, quadruples (meet in the middle over
    the sorted sums of the first probe, confirmed on the second). Returns the smallest
    size that has any, sorted by filings.

    Only classes of leverage h_j = ‖P e_j‖² ≥ 1/4 (P the projection on the row space) can
    be in a derivable set of at most 4 classes: for j ∈ S, 1 = e_jᵀ P 1_S ≤ √h_j · √|S|.
    The leverages sum to the rank (a few dozen), so at most 4 × rank classes qualify —
    the search stays small however many atoms there are."""
    small = np.flatnonzero((n >= 1) & (n <= limit) & (leverage >= 1.0 / MAX_SET_CLASSES - 1e-9))
    zs, ns = z[small], n[small]
    zero = np.all(np.abs(zs) < _PROBE_TOL, axis=1)
    if zero.any():
        return sorted(((int(small[k]),) for k in np.flatnonzero(zero)), key=lambda s: int(n[list(s)].sum()))
    # pairs (and the pair table for triples and quadruples)
    i, j = np.triu_indices(len(small), k=1)
    ok = ns[i] + ns[j] <= limit
    i, j = i[ok], j[ok]
    pair_z = zs[i] + zs[j]
    pair_n = ns[i] + ns[j]
    found = np.all(np.abs(pair_z) < _PROBE_TOL, axis=1)
    if found.any():
        sets = {(int(small[a]), int(small[b])) for a, b in zip(i[found], j[found], strict=True)}
        return sorted(sets, key=lambda s: int(n[list(s)].sum()))
    results: set[tuple[int, ...]] = set()
    if MAX_SET_CLASSES >= 3:
        pi, k = _matches(pair_z[:, 0], zs[:, 0])
        for a, c in zip(pi, k, strict=True):
            members = {int(i[a]), int(j[a]), int(c)}
            if len(members) == 3 and pair_n[a] + ns[c] <= limit and np.all(np.abs(pair_z[a] + zs[c]) < _PROBE_TOL):
                results.add(tuple(sorted(int(small[x]) for x in members)))
        if results:
            return sorted(results, key=lambda s: int(n[list(s)].sum()))
    if MAX_SET_CLASSES >= 4:
        pa, pb = _matches(pair_z[:, 0], pair_z[:, 0])
        keep = pa < pb
        for a, b in zip(pa[keep], pb[keep], strict=True):
            members = {int(i[a]), int(j[a]), int(i[b]), int(j[b])}
            if len(members) == 4 and pair_n[a] + pair_n[b] <= limit and np.all(np.abs(pair_z[a] + pair_z[b]) < _PROBE_TOL):
                results.add(tuple(sorted(int(small[x]) for x in members)))
    return sorted(results, key=lambda s: int(n[list(s)].sum()))


@dataclass
class Leak:
    """A derivable group: a set of atoms with 1 … m − 1 filings (``cell`` None), or a hidden
    nation-level cell (its position in ``cells``)."""

    atoms: np.ndarray  # atom positions
    n: int
    cell: int | None = None


def overlap_leaks(atoms: Atoms, hidden_rows: np.ndarray, nonempty_rows: np.ndarray, min_cell_size: int,
                  seed: int = 0) -> list[Leak]:
    """Everything the published nation-level cells give away (see the module docstring).
    ``hidden_rows``: per row of ``atoms.incidence``, whether the cell is suppressed;
    ``nonempty_rows``: whether it has filings. Returns the leaks of the smallest kind found
    (hidden cells first, then small sets of the fewest classes), each to be repaired."""
    published = atoms.incidence[~hidden_rows & nonempty_rows]
    q = _basis(published)
    leaks: list[Leak] = []
    targets = np.flatnonzero(hidden_rows & nonempty_rows)
    if len(targets):
        vec = atoms.incidence[targets]
        res = _residual(q, vec)
        scale = np.linalg.norm(vec, axis=1)
        for t in targets[res < _RESIDUAL_TOL * np.maximum(scale, 1.0)]:
            leaks.append(Leak(atoms=np.flatnonzero(atoms.incidence[t]), n=int(atoms.n[atoms.incidence[t] > 0].sum()),
                              cell=int(atoms.rows[t])))
    if leaks:
        return leaks
    cls, first = _classes(published)
    n_cls = np.bincount(cls, atoms.n, minlength=len(first)).astype(np.int64)
    # class space: the published rows restricted to one atom per class
    pc = published[:, first] if len(published) else np.zeros((0, len(first)))
    qc = _basis(pc)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((len(first), 2))
    z = g - qc @ (qc.T @ g)
    leverage = np.einsum("ij,ij->i", qc, qc)
    for s in _small_sets(z, n_cls, leverage, min_cell_size - 1):
        indicator = np.zeros(len(first))
        indicator[list(s)] = 1.0
        if _residual(qc, indicator[None, :])[0] < _RESIDUAL_TOL * np.sqrt(len(s)):
            members = np.flatnonzero(np.isin(cls, s))
            leaks.append(Leak(atoms=members, n=int(atoms.n[members].sum())))
    return leaks


def _breaks(atoms: Atoms, published_rows: np.ndarray, drop: int, leak: Leak) -> bool:
    keep = published_rows[published_rows != drop]
    q = _basis(atoms.incidence[keep])
    target = np.zeros(atoms.incidence.shape[1])
    target[leak.atoms] = 1.0
    return bool(_residual(q, target[None, :])[0] >= _RESIDUAL_TOL * max(np.sqrt(len(leak.atoms)), 1.0))


def repair_order(cells: pd.DataFrame, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Rows (of the atom incidence) in the order they are tried as suppressions: key
    industries first (no partition, no complement), then size classes and divisions; by
    n, then code. The nation is never suppressed for an overlap."""
    kind = cells["kind"].astype(str).to_numpy(object)[rows]
    code = cells["code"].astype(str).to_numpy(object)[rows]
    rank = np.select([kind == "key_industry", kind == "size", kind == "division"], [0, 1, 1], 9)
    order = np.lexsort((code, n[rows], rank))
    return order[rank[order] < 9]


def overlap_suppression_mask(cells: pd.DataFrame, scores: pd.DataFrame, hidden: np.ndarray, min_cell_size: int,
                             max_rounds: int = 1000) -> tuple[np.ndarray, list[dict]]:
    """Nation-level cells to suppress so that :func:`overlap_leaks` finds nothing, given
    the cells already ``hidden``. Returns (mask over ``cells``, what each suppression
    protected — kind, code and the leak's filings, for the run's record)."""
    added = np.zeros(len(cells), dtype=bool)
    record: list[dict] = []
    if scores is None or scores.empty:
        return added, record
    atoms = atoms_of(cells, scores)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    nonempty = n[atoms.rows] > 0
    tries = repair_order(cells, atoms.rows, n)
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    for _ in range(max_rounds):
        hidden_rows = (hidden | added)[atoms.rows]
        leaks = overlap_leaks(atoms, hidden_rows, nonempty, min_cell_size)
        if not leaks:
            return added, record
        leak = leaks[0]
        published_rows = np.flatnonzero(~hidden_rows & nonempty)
        choice = next((r for r in tries if not hidden_rows[r] and nonempty[r]
                       and _breaks(atoms, published_rows, r, leak)), None)
        if choice is None:
            # no single suppression breaks it (the group follows in two ways, e.g. a hidden
            # division that equals a published size class, which is nation − the others):
            # hide the cheapest published cell sharing its atoms and look again
            target = np.zeros(atoms.incidence.shape[1], dtype=bool)
            target[leak.atoms] = True
            choice = next((r for r in tries if not hidden_rows[r] and nonempty[r]
                           and atoms.incidence[r][target].any()), None)
        if choice is None:  # pragma: no cover - only the nation is left
            raise RuntimeError("overlap check cannot break a derivable group")
        pos = int(atoms.rows[choice])
        added[pos] = True
        record.append({
            "kind": str(kind[pos]), "code": str(code[pos]), "n": int(n[pos]),
            "protects": (f"{kind[leak.cell]}:{code[leak.cell]}" if leak.cell is not None
                         else "+".join(atoms.label[a] for a in leak.atoms[:6])),
            "filings": leak.n,
        })  # fmt: skip
    raise RuntimeError("overlap check did not converge")  # pragma: no cover


__all__ = ("Atoms", "Leak", "atoms_of", "overlap_leaks", "overlap_suppression_mask", "repair_order")


# --- protection intervals of hidden nation-level cells over atoms ------------------------------

SCORE_MAX = 100.0


def _interval(atoms: Atoms, published_rows: np.ndarray, totals: np.ndarray, atom_upper: np.ndarray,
              target: np.ndarray) -> tuple[float, float]:
    """min / max of Σ_{a ∈ target} y_a subject to (published cell sums) = incidence · y and
    0 ≤ y_a ≤ 100 n_a (scipy linprog, HiGHS): the attacker's bounds on a hidden cell."""
    from scipy.optimize import linprog

    a_eq = atoms.incidence[published_rows]
    bounds = np.column_stack([np.zeros(len(atom_upper)), atom_upper])
    lo = linprog(target, A_eq=a_eq, b_eq=totals[published_rows], bounds=bounds, method="highs")
    hi = linprog(-target, A_eq=a_eq, b_eq=totals[published_rows], bounds=bounds, method="highs")
    low = lo.fun if lo.status == 0 else 0.0
    high = -hi.fun if hi.status == 0 else float(target @ atom_upper)
    return float(low), float(high)


def overlap_intervals(cells: pd.DataFrame, scores: pd.DataFrame, hidden: np.ndarray, primary: np.ndarray,
                      p: float, value_column: str = "composite") -> tuple[np.ndarray, dict]:
    """The ± ``p`` protection-interval audit for hidden nation-level cells (``primary``:
    bool over ``cells``, the primarily suppressed ones — a small key industry, say), with
    the overlap equations: every published nation-level cell's sum is the sum of its atoms,
    each atom's sum lies in 0 … 100 n. One LP pair per audited cell over the nation-level
    block (a few thousand atoms, a few dozen equations; the region partitions are audited
    per block by apps.indices.audit). An unprotected cell gets the cheapest published
    nation-level cell (:func:`repair_order`) whose suppression widens its interval enough.
    Returns (cells added, summary)."""
    added = np.zeros(len(cells), dtype=bool)
    summary = {"audited": 0, "widened": 0, "unprotected": [], "lps": 0}
    if scores is None or scores.empty or p <= 0:
        return added, summary
    kinds = cells["kind"].astype(str).to_numpy(object)
    if not (primary & np.isin(kinds, NATION_LEVEL) & (pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy() > 0)).any():
        return added, summary  # nothing hidden at nation level on the primary rules: no LP
    atoms = atoms_of(cells, scores)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    nonempty = n[atoms.rows] > 0
    # atom sums (the attacker's unknowns; their true values are the witness of feasibility)
    key = _atom_keys(scores)
    sums = pd.Series(scores[value_column].to_numpy(float)).groupby(key).sum()
    atom_sum = sums.reindex(range(len(atoms.n)), fill_value=0.0).to_numpy(float)
    totals = atoms.incidence @ atom_sum
    upper = SCORE_MAX * atoms.n
    targets = np.flatnonzero(primary[atoms.rows] & nonempty)
    tries = repair_order(cells, atoms.rows, n)
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    for t in targets:
        summary["audited"] += 1
        value = float(totals[t])
        need_lo, need_hi = max(value * (1 - p), 0.0), min(value * (1 + p), float(upper @ atoms.incidence[t]))
        for _ in range(len(tries) + 1):
            hidden_rows = (hidden | added)[atoms.rows]
            published_rows = np.flatnonzero(~hidden_rows & nonempty)
            low, high = _interval(atoms, published_rows, totals, upper, atoms.incidence[t])
            summary["lps"] += 2
            if low <= need_lo + 1e-6 and high >= need_hi - 1e-6:
                break
            # the cheapest published cell sharing atoms with the target (one that shares
            # none enters its equations only through others)
            choice = next((r for r in tries if not hidden_rows[r] and nonempty[r]
                           and (atoms.incidence[r] * atoms.incidence[t]).any()), None)
            if choice is None:
                summary["unprotected"].append({"kind": str(kind[atoms.rows[t]]), "code": str(code[atoms.rows[t]]),
                                               "low": round(low, 3), "high": round(high, 3), "value": round(value, 3)})
                break
            added[atoms.rows[choice]] = True
    summary["widened"] = int(added.sum())
    return added, summary


def _atom_keys(scores: pd.DataFrame) -> np.ndarray:
    """The atom (position in :func:`atoms_of`'s order) of each filing."""
    if "key_industries" in scores.columns:
        raw = [tuple(t) if isinstance(t, (tuple, list, np.ndarray)) else t for t in scores["key_industries"].tolist()]
        codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=False)
        tags = np.array([_tagset(u) for u in uniques], dtype=object)[codes]
    else:
        tags = np.full(len(scores), "", dtype=object)
    frame = pd.DataFrame({"division": scores["division"].astype(str).to_numpy(object),
                          "size": scores["size_class"].astype(str).to_numpy(object), "tags": tags})
    return frame.groupby(["division", "size", "tags"], sort=True).ngroup().to_numpy(np.int64)
