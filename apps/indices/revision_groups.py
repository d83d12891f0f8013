"""Small groups that two runs of one period give away together (issue 8, revisions).

:func:`apps.indices.services.revision_blockers` refuses a re-run of a published period
when a cell published in both runs has 1 … m − 1 differing filings, or when a hidden cell
follows from the two runs' equations together (:func:`apps.indices.disclosure.across_runs_determined`).
The single-run small-group check (:mod:`apps.indices.intersections`) makes sure no group
of 1 … m − 1 filings is derivable from one run. Neither looks at **groups that are not
cells, derived from both runs together**: a key industry of the re-run minus a division
cell of the published run, the union of two hidden counties across runs, or signed
combinations such as (new filer − replaced filer) across two different cells.

:func:`two_run_groups` finds them. Its unknowns are *pieces*: the filings of one
county × division intersection (atom) with one signature (size class and key-industry tags,
where those cells enter) that are the **same filings with the same scores in both runs**
(one unknown shared by both runs), and per run the **changed** filings' pieces (old
values in the published run, new ones in the candidate). Its equations are each run's
published cells. A group is leaked when a combination with coefficients in {−1, 0, +1}
over at most four pieces, touching 1 … m − 1 distinct filings, lies in the row space of
the equations (indicator sums and differences such as new − old). Two systems are solved:

1. **Changes only.** For a cell published in both runs (or absent from one: its total
   there is 0), the difference of its two totals is Σ old changed pieces − Σ new changed
   pieces in it: one equation over the changed pieces alone. Pieces here are the changed
   filings grouped by status and by the cells (published in both) they belong to. The
   system is small (the changed filings only) and covers every cell kind, key industries
   and size classes included: the Δn rule and its nested "change set minus change set"
   extension are its single-equation and two-equation cases.
2. **Structure.** Both runs' partition equations (parent = Σ children, published cells
   known, hidden cells unknown), with each run's counties and prefecture × division cells
   = Σ the pieces of their atoms (shared pieces + that run's changed pieces), and the key
   industries and size classes that can make a small group with region cells (a side of
   the atoms they split has fewer than m filings in either run, as
   :mod:`apps.indices.intersections` admits them) or whose hidden flag differs between the
   runs. Connected blocks of these equations are solved only where the two runs differ: a
   block holding a changed piece or a cell hidden in one run and published in the other;
   the rest is each run's own check. A group derivable from one run's equations alone is
   that run's own check's business and is not reported.

Per block the row space gets an orthonormal basis (a pivoted Cholesky factor of the Gram
matrix, as the single-run check's :class:`apps.indices.intersections._Cholesky`);
signed sets of 1 … 4 pieces are searched with two random probes of its orthogonal
complement (a member of a derivable set S has leverage ≥ 1/|S|; meet in the middle over
sorted probe sums) and confirmed by their exact residual. Blocks above ``max_unknowns``
unknowns are not solved and are reported (they block publication: the check could not
be made). Not covered (docs/METHOD.md 五 局限): equations of key industries and size
classes published in both runs enter system 1 but not system 2 (a combination needing
both their difference and the shared filings' structure is not searched); sets of more
than four pieces (when m > 5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import lsqr

from . import disclosure as dc
from .intersections import _admitted_by_combination, _Cholesky
from .overlap import _matches

SHARED, OLD, NEW = "shared", "old", "new"
SPLITTING_KINDS = ("key_industry", "size")
MAX_MEMBERS = 4
_RESIDUAL_TOL = 1e-7
_PROBE_TOL = 1e-7


@dataclass
class Group:
    """A derivable group: its pieces with coefficients ±1, distinct filings, the published
    cells whose equations give it ("published:kind:code" / "candidate:kind:code")."""

    pieces: tuple[tuple[int, str], ...]  # (coefficient, label)
    filings: int
    cells: tuple[str, ...]
    key: tuple = ()
    members: frozenset | None = None  # the filings, when every piece is a changed one

    def label(self) -> str:
        return " ".join(f"{'+' if c > 0 else '−'}{name}" for c, name in self.pieces)

    def record(self) -> dict:
        """The run's audit record: ``code`` the label, ``pieces`` the same in fields
        (:func:`piece_fields`), ``cells`` the published cells ("run:kind:code")."""
        return {"kind": "group", "code": self.label(), "n_published": 0, "n": self.filings, "changed": self.filings,
                "group": True, "cells": list(self.cells),
                "pieces": [{"sign": c, **piece_fields(name)} for c, name in self.pieces]}


def piece_fields(label: str) -> dict:
    """A piece's label ("new:320100|27|320102[medium][biomedicine]", as :func:`_system`
    writes it) in fields: status (shared / old / new), prefecture, division, county, and
    size and key-industry tags when the piece is split by them."""
    status, _, rest = label.partition(":")
    atom, _, split = rest.partition("[")
    prefecture, division, county = (atom.split(dc.SEPARATOR) + ["", "", ""])[:3]
    brackets = [b.rstrip("]") for b in ("[" + split).split("[")[1:]] if split else []
    from apps.reference.size import SizeClass

    sizes = set(SizeClass.values)
    size = next((b for b in brackets if b in sizes), "")
    tags = next((b.split(",") for b in brackets if b not in sizes), [])
    return {"status": status, "prefecture": prefecture, "division": division, "county": county, "size": size,
            "tags": tags}


def cell_fields(label: str) -> tuple[str, str, str]:
    """A cell of a group's record ("published:county:320102", "candidate:…", "both:…") as
    (run, kind, code)."""
    run, kind, code = label.split(":", 2)
    return run, kind, code


# --- filings ----------------------------------------------------------------------------------------


def _tags(value) -> tuple:
    if isinstance(value, str):
        return tuple(t for t in value.split(",") if t) if value else ()
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(sorted(str(t) for t in value))
    return ()


def filings_of(published: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """Both runs' filings, each as shared (in both with the same composite: one row), old
    (the published run's row of a filing that is gone or re-scored) or new (the
    candidate's row of a filing that is new or re-scored). Columns: submission, status,
    province, prefecture, county, division, size_class, tags, atom (:func:`_atoms`)."""
    a = published.drop_duplicates("submission").set_index("submission")
    b = candidate.drop_duplicates("submission").set_index("submission")
    common = a.index.intersection(b.index)
    same = common[a.loc[common, "composite"].to_numpy(float) == b.loc[common, "composite"].to_numpy(float)]
    cols = ["province", "prefecture", "county", "division", "size_class", "key_industries"]
    parts = [
        a.loc[same, cols].assign(status=SHARED),
        a.loc[a.index.difference(same), cols].assign(status=OLD),
        b.loc[b.index.difference(same), cols].assign(status=NEW),
    ]
    frame = pd.concat(parts).rename_axis("submission").reset_index()
    for c in cols[:-1]:
        frame[c] = frame[c].astype(str)
    frame["tags"] = [_tags(t) for t in frame.pop("key_industries").tolist()]
    frame["atom"] = _atoms(frame)
    return frame


def _atoms(frame: pd.DataFrame) -> np.ndarray:
    """Each filing's county × division intersection as "prefecture|division|county", the
    string built once per distinct intersection (concatenating the columns' strings took
    ~0.5 s a time for the 1.7 million rows of a 1,000,000-filing check)."""
    if frame.empty:
        return np.zeros(0, dtype=object)
    columns = ("prefecture", "division", "county")
    ids = [pd.factorize(frame[c].to_numpy(object)) for c in columns]
    combined = np.zeros(len(frame), dtype=np.int64)
    for codes, uniques in ids:
        combined = combined * len(uniques) + codes
    atom_id, _ = pd.factorize(combined)
    first = np.unique(atom_id, return_index=True)[1]
    parts = [uniques[codes[first]] for codes, uniques in ids]
    names = np.array([dc.SEPARATOR.join(p) for p in zip(*parts, strict=True)], dtype=object)
    return names[atom_id]


def _cell_keys(row) -> list[tuple[str, str]]:
    keys = [
        ("nation", "CN"), ("province", row.province), ("prefecture", row.prefecture), ("county", row.county),
        ("division", row.division), ("size", row.size_class),
        ("province_division", f"{row.province}{dc.SEPARATOR}{row.division}"),
        ("prefecture_division", f"{row.prefecture}{dc.SEPARATOR}{row.division}"),
    ]
    return keys + [("key_industry", t) for t in row.tags]


def _flags(cells: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """(kind, code) → whether the public knows the cell's total (published, or n = 0)."""
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy()
    known = ~cells["suppressed"].astype(bool).to_numpy() | (n == 0)
    keys = zip(cells["kind"].astype(str).tolist(), cells["code"].astype(str).tolist(), strict=True)
    return dict(zip(keys, known.tolist(), strict=True))


# --- linear algebra ---------------------------------------------------------------------------------


def _residual_ok(basis: _Cholesky, vector: np.ndarray) -> bool:
    """Whether ``vector`` lies in the row space ``basis`` spans."""
    if not len(basis.lower):
        return False
    rest = vector - basis.project(vector)
    return bool(np.linalg.norm(rest) < _RESIDUAL_TOL * max(1.0, np.linalg.norm(vector)))


def _both_signs(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``z`` and their negatives stacked, with each one's sign and row."""
    k = len(z)
    return np.concatenate([z, -z]), np.repeat(np.array([1, -1], np.int64), k), np.tile(np.arange(k), 2)


def signed_sets(z: np.ndarray, n: np.ndarray, leverage: np.ndarray, limit: int, max_pool: int = 2500):
    """Signed sets of 1 … 4 unknowns (coefficients ±1, the first +1; together ≤ ``limit``
    filings by ``n``) whose probe sums vanish: candidates, to be confirmed exactly. A
    member j of a derivable set S has leverage ≥ 1/|S| (v_j = e_jᵀ P v ≤ √h_j · √|S|).

    The matches of the first probe are confirmed on every probe as arrays, not one by one:
    a block of thousands of unknowns has tens of thousands of matches (2.4 s of the 200 k
    revision check one at a time). The sets come in the order the matches do."""
    out: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    ok = np.all(np.abs(z) < _PROBE_TOL, axis=1) & (leverage >= 1 - 1e-6) & (n >= 1) & (n <= limit)
    out += [((int(k),), (1,)) for k in np.flatnonzero(ok)]
    for size in range(2, min(MAX_MEMBERS, limit) + 1):
        pool = np.flatnonzero((leverage >= 1.0 / size - 1e-9) & (n >= 1) & (n <= limit - (size - 1)))
        if len(pool) < size or len(pool) > max_pool:
            continue
        zs, ns = z[pool], n[pool]
        if size == 2:
            for sign in (1, -1):
                i, j = _matches(zs[:, 0], sign * zs[:, 0])
                keep = (i < j) & (ns[i] + ns[j] <= limit)
                i, j = i[keep], j[keep]
                keep = _vanishes(zs[i] + sign * zs[j])
                out += [((int(pool[a]), int(pool[b])), (1, sign)) for a, b in zip(i[keep], j[keep], strict=True)]
            continue
        i, j = np.triu_indices(len(pool), k=1)
        keep = ns[i] + ns[j] <= limit - (size - 2)
        i, j = i[keep], j[keep]
        # pairs with both signs of the second member (the first +1)
        pi = np.concatenate([i, i])
        pj = np.concatenate([j, j])
        ps = np.concatenate([np.ones(len(i), np.int64), -np.ones(len(i), np.int64)])
        pz = zs[pi] + ps[:, None] * zs[pj]
        pn = ns[pi] + ns[pj]
        if size == 3:
            singles, sign_k, k_of = _both_signs(zs)
            a, b = _matches(pz[:, 0], singles[:, 0])
            k = k_of[b]
            keep = (k != pi[a]) & (k != pj[a]) & (pn[a] + ns[k] <= limit)
            a, b, k = a[keep], b[keep], k[keep]
            keep = _vanishes(pz[a] + singles[b])
            a, b, k = a[keep], b[keep], k[keep]
            members = np.stack([pi[a], pj[a], k], axis=1)
            signs = np.stack([np.ones(len(a), np.int64), ps[a], sign_k[b]], axis=1)
        else:
            both, sign_b, b_of = _both_signs(pz)
            a, b = _matches(pz[:, 0], both[:, 0])
            w = b_of[b]
            members = np.stack([pi[a], pj[a], pi[w], pj[w]], axis=1)
            ordered = np.sort(members, axis=1)
            keep = (w > a) & (np.diff(ordered, axis=1) != 0).all(axis=1) & (pn[a] + pn[w] <= limit)
            a, b, w, members = a[keep], b[keep], w[keep], members[keep]
            keep = _vanishes(pz[a] + both[b])
            a, b, w, members = a[keep], b[keep], w[keep], members[keep]
            signs = np.stack([np.ones(len(a), np.int64), ps[a], sign_b[b], sign_b[b] * ps[w]], axis=1)
        out += _canonical(pool, members, signs)
    return list(dict.fromkeys(out))


def _vanishes(sums: np.ndarray) -> np.ndarray:
    """Per row of probe sums: whether every probe vanishes."""
    return np.all(np.abs(sums) < _PROBE_TOL, axis=1) if len(sums) else np.zeros(0, bool)


def _canonical(pool: np.ndarray, members: np.ndarray, signs: np.ndarray) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Each row's set (``members`` positions in ``pool``, with ``signs``) as (unknowns in
    ascending order, signs with the first one +1)."""
    if not len(members):
        return []
    unknowns = pool[members]
    order = np.argsort(unknowns, axis=1, kind="stable")
    unknowns = np.take_along_axis(unknowns, order, axis=1)
    signs = np.take_along_axis(signs, order, axis=1)
    signs = signs * signs[:, :1]
    # the same set comes from several matches (each split into two pairs, each order): when
    # every unknown of a block is derivable, millions of rows for tens of thousands of sets.
    # The first of each, in the order of the matches, as dict.fromkeys would keep it.
    rows = np.ascontiguousarray(np.concatenate([unknowns, signs], axis=1).astype(np.int64))
    _, first = np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel(),
                         return_index=True)
    first.sort()
    k = unknowns.shape[1]
    return [(tuple(row[:k]), tuple(row[k:])) for row in rows[first].tolist()]


# --- the two systems --------------------------------------------------------------------------------


@dataclass
class _System:
    matrix: sparse.csr_matrix  # equations × unknowns
    n: np.ndarray  # per unknown: filings (0 for a hidden cell)
    finest: np.ndarray  # per unknown: a piece
    label: list[str]  # per unknown
    filings: list  # per unknown: frozenset of changed submissions, or None (shared: n distinct filings)
    changed: np.ndarray  # per unknown: a changed piece (old / new)
    differs: np.ndarray  # per unknown: a cell whose hidden flag differs between the runs
    eq_run: np.ndarray  # per equation: 0 published run, 1 candidate, 2 both (a difference)
    eq_cells: list  # per equation: the published cells it states


def _distinct(system: _System, cols: Iterable[int]) -> int:
    shared, changed = 0, set()
    for c in cols:
        if system.filings[c] is None:
            shared += int(system.n[c])
        else:
            changed |= system.filings[c]
    return shared + len(changed)


def _search(system: _System, m: int, blocks_of: np.ndarray, wanted: np.ndarray, max_unknowns: int, seed: int,
            skipped: list[int]) -> list[Group]:
    """Signed small groups in the blocks ``wanted`` (block ids) of ``system``."""
    matrix = system.matrix
    csc = matrix.tocsc()
    coo = matrix.tocoo()
    eq_block = np.full(matrix.shape[0], -1)
    eq_block[coo.row] = blocks_of[coo.col]
    rng = np.random.default_rng(seed)
    found: list[Group] = []
    for b in wanted:
        cols = np.flatnonzero(blocks_of == b)
        if len(cols) > max_unknowns:
            skipped.append(len(cols))
            continue
        eqs = np.flatnonzero(eq_block == b)
        if not len(eqs):
            continue
        sub = csc[:, cols].tocsr()[eqs, :]
        # the row space from a pivoted Cholesky factor of the Gram matrix, as the single-run
        # check takes it (intersections._Cholesky): an eigendecomposition of the largest
        # block's Gram matrix (1,726 equations, rank 1,053) took 0.8 s at 200 k
        basis = _Cholesky(sub)
        if not len(basis.lower):
            continue
        local = np.flatnonzero(system.finest[cols] & (system.n[cols] >= 1) & (system.n[cols] < m))
        if not len(local):
            continue
        g = rng.standard_normal((len(cols), 2))
        z = (g - basis.project(g))[local]
        rows = basis.rows(local)
        leverage = np.einsum("ij,ij->i", rows, rows)
        own_q: dict[int, _Cholesky | None] = {}
        # minimal groups only: a set holding a group already found (sizes come in
        # ascending order) adds nothing — the smaller group blocks publication on its own
        # (and, derivable both, so is the rest of the set); without this, every combination
        # of a few derivable late filers was confirmed one by one (46,936 groups, 37 s, for
        # 28 late filers at 200 k)
        found_here: list[frozenset[int]] = []
        for members, signs in signed_sets(z, system.n[cols[local]], leverage, m - 1):
            if any(group <= set(members) for group in found_here):
                continue
            signed_members = members
            positions = local[list(members)]
            vector = np.zeros(len(cols))
            vector[positions] = signs
            if not _residual_ok(basis, vector):
                continue
            filings = _distinct(system, cols[positions])
            if not 0 < filings < m:
                continue
            # derivable from one run's own equations: that run's check's business
            if any(_own_derivable(sub, eqs, system, run, vector, own_q) for run in (0, 1)):
                continue
            # which published cells give it (for the record): the least-norm combination
            # of the block's equations, by sparse LSQR (a dense least squares per group
            # cost 0.2 s on a block of thousands of unknowns — 8 s for 40 groups at 200 k)
            coefficients = lsqr(sub.T.tocsr(), vector, atol=1e-12, btol=1e-12, iter_lim=20 * sub.shape[0])[0]
            cutoff = 1e-6 * max(float(np.abs(coefficients).max()), 1e-12)
            cells = sorted({c for e, w in zip(eqs, coefficients, strict=True) if abs(w) > cutoff
                            for c in system.eq_cells[e]})
            pieces = tuple(sorted((int(s), system.label[cols[p]]) for p, s in zip(positions, signs, strict=True)))
            key = tuple(sorted((system.label[cols[p]], int(s) * int(signs[0])) for p, s in zip(positions, signs, strict=True)))
            chosen = cols[positions]
            members = None
            if all(system.filings[c] is not None for c in chosen):
                members = frozenset().union(*(system.filings[c] for c in chosen))
            found.append(Group(pieces=pieces, filings=filings, cells=tuple(cells[:12]), key=key, members=members))
            found_here.append(frozenset(int(x) for x in signed_members))
    return found


def _own_derivable(sub, eqs, system: _System, run: int, vector: np.ndarray, cache: dict) -> bool:
    """Whether ``vector`` follows from the equations of one run alone (``run`` 0 or 1)."""
    if run not in cache:
        rows = np.flatnonzero(system.eq_run[eqs] == run)
        cache[run] = _Cholesky(sub[rows, :]) if len(rows) else None
    basis = cache[run]
    return basis is not None and _residual_ok(basis, vector)


def _blocks(matrix: sparse.csr_matrix) -> np.ndarray:
    return dc.unknown_blocks(matrix)[1]


def _changes_system(filings: pd.DataFrame, published: pd.DataFrame, candidate: pd.DataFrame) -> _System | None:
    """System 1: the changed pieces; one equation per cell whose total both runs publish."""
    changed = filings[filings["status"] != SHARED]
    if changed.empty:
        return None
    known_a, known_b = _flags(published), _flags(candidate)
    keys_of = [_cell_keys(r) for r in changed.itertuples(index=False)]
    both = [tuple(sorted(k for k in keys if known_a.get(k, True) and known_b.get(k, True))) for keys in keys_of]
    status = changed["status"].to_numpy(object)
    atoms = changed["atom"].to_numpy(object)
    signature = pd.Series([(s, k) for s, k in zip(status, both, strict=True)], dtype=object)
    piece, uniques = pd.factorize(signature)
    subs = changed["submission"].to_numpy()
    sets = [set() for _ in range(len(uniques))]
    where: list[str] = ["" for _ in range(len(uniques))]
    for p, s, a in zip(piece, subs, atoms, strict=True):
        sets[p].add(int(s))
        where[p] = a
    cell_index: dict[tuple[str, str], int] = {}
    rows, cols, vals = [], [], []
    for p, (s, keys) in enumerate(uniques):
        for key in keys:
            e = cell_index.setdefault(key, len(cell_index))
            rows.append(e)
            cols.append(p)
            vals.append(1.0 if s == OLD else -1.0)
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(len(cell_index), len(uniques)))
    cells = [(f"both:{k}:{c}",) for k, c in cell_index]
    n = np.array([len(x) for x in sets], dtype=np.int64)
    return _System(
        matrix=matrix, n=n, finest=np.ones(len(uniques), bool), label=[f"{s}:{where[p]}" for p, (s, _) in enumerate(uniques)],
        filings=[frozenset(x) for x in sets], changed=np.ones(len(uniques), bool), differs=np.zeros(len(uniques), bool),
        eq_run=np.full(len(cell_index), 2), eq_cells=cells,
    )


def _included_splitters(filings: pd.DataFrame, published: pd.DataFrame, candidate: pd.DataFrame, m: int) -> set:
    """Key-industry and size cells that enter system 2: in either run, a side of the atoms
    they split has 1 … m − 1 filings, or they split no atom; or their hidden flag differs."""
    known_a, known_b = _flags(published), _flags(candidate)
    out = set()
    atom = filings["atom"].to_numpy(object)
    # each filing's set of tags as one of the few distinct sets: membership is asked per set
    tag_set, tag_sets = pd.factorize(filings["tags"].to_numpy(object))
    sizes = filings["size_class"].to_numpy(object)
    status = filings["status"].to_numpy(object)
    for run, cells, known in ((OLD, published, known_a), (NEW, candidate, known_b)):
        in_run = (status == SHARED) | (status == run)
        atom_id, _ = pd.factorize(atom[in_run])
        total = np.bincount(atom_id)
        run_tag_set = tag_set[in_run]
        run_sizes = sizes[in_run]
        kinds = cells["kind"].astype(str).to_numpy(object)
        codes = cells["code"].astype(str).to_numpy(object)
        n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy()
        key_members: dict[int, np.ndarray] = {}
        for pos in np.flatnonzero(np.isin(kinds, SPLITTING_KINDS) & (n > 0)):
            key = (kinds[pos], codes[pos])
            if kinds[pos] == "size":
                member = run_sizes == codes[pos]
            else:
                member = np.array([codes[pos] in t for t in tag_sets], dtype=bool)[run_tag_set]
                key_members[int(pos)] = member
            if key in out:
                continue
            other = known_b if run == OLD else known_a
            if known.get(key, True) != other.get(key, True):
                out.add(key)
                continue
            inside = np.bincount(atom_id, member.astype(np.int64), minlength=len(total))
            partial = (inside > 0) & (inside < total)
            x_in, x_out = int(inside[partial].sum()), int((total - inside)[partial].sum())
            if not partial.any() or 0 < x_in < m or 0 < x_out < m:
                out.add(key)
        # two key industries cutting one atom where a combination of tags is small (a firm
        # with both tags): as the single-run check admits them
        for pos in _admitted_by_combination(atom_id, total, key_members, kinds, m):
            out.add((kinds[pos], codes[pos]))
    return out


def _structure_system(filings: pd.DataFrame, published: pd.DataFrame, candidate: pd.DataFrame, m: int,
                      whole_divisions: bool = True) -> _System:
    """System 2: both runs' partitions; counties and prefecture × division cells = Σ the
    pieces of their atoms; the admitted key industries and size classes = Σ their pieces
    (a key industry that is a union of whole divisions in a run: = Σ those division cells,
    unless ``whole_divisions`` is off — the plain form the tests compare with)."""
    splitters = _included_splitters(filings, published, candidate, m)
    key_tags = {c for k, c in splitters if k == "key_industry"}
    use_size = any(k == "size" for k, _ in splitters)
    atom = filings["atom"].to_numpy(object)
    # the admitted tags of each distinct set, then per filing (a Series: 1-d whatever the tuples)
    tag_set, tag_sets = pd.factorize(filings["tags"].to_numpy(object))
    tags = pd.Series([tuple(t for t in ts if t in key_tags) for ts in tag_sets], dtype=object).to_numpy()[tag_set]
    sizes = filings["size_class"].to_numpy(object) if use_size else np.full(len(filings), "", dtype=object)
    status = filings["status"].to_numpy(object)
    subs = filings["submission"].to_numpy()
    signature = pd.Series(list(zip(status, atom, sizes, tags, strict=True)), dtype=object)
    piece, uniques = pd.factorize(signature)
    uniques = uniques.tolist()  # a list: the loops below index it (a pandas Index costs 2 µs an item)
    n_piece = np.bincount(piece, minlength=len(uniques))
    changed_sets: dict[int, set] = {}
    for p, s, st in zip(piece, subs, status, strict=True):
        if st != SHARED:
            changed_sets.setdefault(int(p), set()).add(int(s))
    frames = [published.reset_index(drop=True), candidate.reset_index(drop=True)]
    offsets = [0, len(frames[0]), len(frames[0]) + len(frames[1])]
    n_cells = offsets[2]
    known_ab = [_flags(f) for f in frames]
    # nodes: the two runs' cells, then the pieces
    hidden_cells, n_cells_arr, labels, differs, frame_keys = [], [], [], [], []
    for r, f in enumerate(frames):
        n = pd.to_numeric(f["n"], errors="coerce").fillna(0).to_numpy(np.int64)
        hidden = f["suppressed"].astype(bool).to_numpy() & (n > 0)
        hidden_cells.append(hidden)
        n_cells_arr.append(n)
        keys = list(zip(f["kind"].astype(str).tolist(), f["code"].astype(str).tolist(), strict=True))
        frame_keys.append(keys)
        labels += [f"{('published', 'candidate')[r]}:{k}:{c}" for k, c in keys]
        other = known_ab[1 - r]
        differs.append(np.array([other.get(k, True) == h for k, h in zip(keys, hidden.tolist(), strict=True)]))
    unknown = np.concatenate([*hidden_cells, np.ones(len(uniques), bool)])
    node_label = labels + [f"{s}:{a}" + (f"[{z}]" if z else "") + (f"[{','.join(t)}]" if t else "")
                           for s, a, z, t in uniques]
    # equations: (run, parent node, children nodes)
    eq_parent: list[np.ndarray] = []
    eq_child: list[np.ndarray] = []
    eq_id: list[np.ndarray] = []
    eq_run: list[int] = []
    next_eq = 0
    for r, f in enumerate(frames):
        edges = dc.partition_table(f)
        if len(edges):
            part = edges["partition"].to_numpy(np.int64)
            ids, inverse = np.unique(part, return_inverse=True)
            eq_child.append(offsets[r] + edges["child"].to_numpy(np.int64))
            eq_parent.append(offsets[r] + edges["parent"].to_numpy(np.int64))
            eq_id.append(next_eq + inverse)
            eq_run += [r] * len(ids)
            next_eq += len(ids)
        key = pd.Index([f"{k}#{c}" for k, c in frame_keys[r]], dtype=object)
        run_status = OLD if r == 0 else NEW
        in_run = np.array([u[0] in (SHARED, run_status) for u in uniques], dtype=bool)
        pieces = np.flatnonzero(in_run)
        if not len(pieces):
            continue
        p_atom = [uniques[p][1].split(dc.SEPARATOR) for p in pieces]
        p_division = np.array([a[1] for a in p_atom], dtype=object)
        p_size = np.array([uniques[p][2] for p in pieces], dtype=object)
        p_tags = [uniques[p][3] for p in pieces]
        county = key.get_indexer([f"county#{a[2]}" for a in p_atom])
        pdiv = key.get_indexer([f"prefecture_division#{a[0]}{dc.SEPARATOR}{a[1]}" for a in p_atom])
        for parent in (county, pdiv):
            ok = parent >= 0
            ids, inverse = np.unique(parent[ok], return_inverse=True)
            eq_parent.append(offsets[r] + parent[ok])
            eq_child.append(n_cells + pieces[ok])
            eq_id.append(next_eq + inverse)
            eq_run += [r] * len(ids)
            next_eq += len(ids)
        for kind, code in sorted(splitters):
            pos = key.get_indexer([f"{kind}#{code}"])[0]
            if pos < 0:
                continue
            if kind == "size":
                member = p_size == code
            else:
                member = np.array([code in t for t in p_tags], dtype=bool)
            if not member.any():
                continue
            children = n_cells + pieces[member]
            if kind == "key_industry" and whole_divisions:
                # a union of whole divisions in this run: "= Σ those division cells" says all
                # the pieces would (division = Σ its prefecture × division cells = Σ their
                # atoms), as the single-run check writes it, and keeps the blocks small — over
                # every atom of the country, a key industry made one block of 62,720
                # unknowns at 200,000 filings, too large to solve
                inside = set(p_division[member].tolist())
                if not (np.isin(p_division, list(inside)) & ~member).any():
                    cells_of = key.get_indexer([f"division#{d}" for d in sorted(inside)])
                    if (cells_of >= 0).all():
                        children = offsets[r] + cells_of
            eq_parent.append(np.full(len(children), offsets[r] + pos))
            eq_child.append(children)
            eq_id.append(np.full(len(children), next_eq))
            eq_run.append(r)
            next_eq += 1
    parent = np.concatenate(eq_parent)
    child = np.concatenate(eq_child)
    eq = np.concatenate(eq_id)
    column = np.full(len(unknown), -1, dtype=np.int64)
    variables = np.flatnonzero(unknown)
    column[variables] = np.arange(len(variables))
    rows = np.concatenate([eq[unknown[child]], eq[unknown[parent]]])
    cols = np.concatenate([column[child[unknown[child]]], column[parent[unknown[parent]]]])
    vals = np.concatenate([np.ones(int(unknown[child].sum())), -np.ones(int(unknown[parent].sum()))])
    # a parent appears once per child edge: keep one entry per (equation, parent)
    frame = pd.DataFrame({"r": rows, "c": cols, "v": vals}).drop_duplicates()
    matrix = sparse.csr_matrix((frame["v"], (frame["r"], frame["c"])), shape=(next_eq, len(variables)))
    # the published cells each equation states (for the record)
    known_nodes = ~unknown
    eq_cells: list[list[str]] = [[] for _ in range(next_eq)]
    ends, nodes = np.concatenate([eq, eq]), np.concatenate([parent, child])
    stated = (nodes < n_cells) & known_nodes[nodes]
    for code in np.unique(ends[stated] * len(unknown) + nodes[stated]).tolist():
        e, node = divmod(code, len(unknown))
        eq_cells[e].append(node_label[node])
    n_all = np.concatenate([np.zeros(n_cells, np.int64), n_piece])
    is_piece = np.concatenate([np.zeros(n_cells, bool), np.ones(len(uniques), bool)])
    changed_piece = np.concatenate([np.zeros(n_cells, bool), np.array([u[0] != SHARED for u in uniques], bool)])
    filings_of_node = [None] * n_cells + [frozenset(changed_sets[p]) if p in changed_sets else None
                                         for p in range(len(uniques))]
    differs_all = np.concatenate([*differs, np.zeros(len(uniques), bool)])
    return _System(
        matrix=matrix, n=n_all[variables], finest=is_piece[variables], label=[node_label[v] for v in variables],
        filings=[filings_of_node[v] for v in variables], changed=changed_piece[variables],
        differs=differs_all[variables], eq_run=np.array(eq_run), eq_cells=eq_cells,
    )


def two_run_groups(
    published: pd.DataFrame, candidate: pd.DataFrame, published_scores: pd.DataFrame, candidate_scores: pd.DataFrame,
    m: int = 5, *, max_unknowns: int = 6000, seed: int = 0, skipped: list[int] | None = None, reference: bool = False,
) -> list[Group]:
    """Groups of 1 … ``m`` − 1 filings (signed combinations of at most four pieces) the two
    runs give away together (module docstring). ``published`` / ``candidate``: each run's
    cells (kind, code, parent_code, n, suppressed); ``*_scores``: each run's filings
    (submission, composite, province, prefecture, county, division, size_class,
    key_industries). ``skipped`` collects the sizes (unknowns) of blocks too large to solve.
    ``reference``: key industries always as the sum of their pieces (for the tests that the
    whole-division form finds the same groups)."""
    skipped = [] if skipped is None else skipped
    filings = filings_of(published_scores, candidate_scores)
    if (filings["status"] == SHARED).all():
        # the same filings with the same scores: the runs differ only in hidden flags
        if _flags(published) == _flags(candidate):
            return []
    found: list[Group] = []
    changes = _changes_system(filings, published, candidate)
    if changes is not None and changes.matrix.shape[0]:
        blocks = _blocks(changes.matrix)
        found += _search(changes, m, blocks, np.unique(blocks), max_unknowns, seed, skipped)
    structure = _structure_system(filings, published, candidate, m, whole_divisions=not reference)
    if structure.matrix.shape[1]:
        used = np.asarray((structure.matrix != 0).sum(axis=0)).ravel() > 0
        blocks = _blocks(structure.matrix)
        wanted = np.unique(blocks[(structure.changed | structure.differs) & used])
        found += _search(structure, m, blocks, wanted, max_unknowns, seed, skipped)
    out: dict[tuple, Group] = {}
    for group in sorted(found, key=lambda g: (g.filings, len(g.pieces))):
        out.setdefault(group.key, group)
    return list(out.values())


__all__ = ("Group", "cell_fields", "filings_of", "piece_fields", "signed_sets", "two_run_groups")
