"""Small groups that published cells give away through their intersections (issue 8).

The partition audits of :mod:`apps.indices.disclosure` make sure that no *hidden cell* is
determined by the published ones. An attacker can also derive the total of a group that
is not a cell at all:

* **unions of hidden cells**: a published prefecture minus its published counties is the
  total of its hidden counties together — two hidden counties of one filing each give a
  group of two (each of the two firms learns the other's score);
* **intersections**: a county × division intersection (never published) whose total
  follows from counties and prefecture × division cells;
* **key industries and size classes against region cells**: a key industry that holds all
  the filings of a province × division cell plus one more firm gives that firm away
  (key industry − province × division), and a region cell whose filers all carry one tag
  but one gives that one away (region cell − key industry).

docs/METHOD.md ("小群体：交集与重叠") states the rule: **every group whose total the public
can derive must itself pass the primary rules** (no group of 1 … ``min_cell_size`` − 1
filings).

How it is checked (:func:`small_group_leaks`). The finest pieces the region cells are
made of are the county × division intersections (*atoms*, ``county_division`` pseudo-cells
of :func:`apps.indices.disclosure.with_county_divisions`, with their true numbers of
filings): every region cell is a union of them. A key-industry or size cell that splits an
atom (some of its filings in the cell, some not) splits it into two *parts*; an atom that
two or more such cells split is cut by their combinations instead (:func:`_combinations`:
a firm with two tags is a piece of its own). Unknowns are
the hidden cells, the atoms and the parts; equations are the partitions (parent = Σ
children), atom = its two parts, and key industry / size = its whole atoms + its parts.
A group of at most ``min_cell_size`` − 1 filings is a set of at most that many atoms or
parts; its total is derivable iff its indicator lies in the row space of the equations
over the unknowns. Per connected block of equations the row space gets an orthonormal
basis (:class:`_Cholesky`: a pivoted Cholesky factor of the equations' Gram matrix, only
the basis rows of the unknowns needed formed), and sets of 1 … 4 unknowns are searched
with random probes of the orthogonal complement (:func:`_fast_candidate_sets`: a member of
a set S has leverage ≥ 1/|S|; probe sums matched after sorting) and confirmed by their
exact residual. The same solve finds
hidden cells the equations determine (the intersection audit, with every prefecture's
atoms and the key-industry / size equations).

Kept cheap (issue 13; ``reference=True`` of :func:`build_system` and
:func:`small_group_leaks` is the plain path the tests compare with): the system is built
once per run from integer codes (every prefecture's atoms; the atoms' partitions by county
and prefecture × division), its equations kept as one matrix over all rows of which a round
takes the unknowns' columns, and later rounds solve only the blocks a newly hidden cell
touches, without searching again: hiding a cell only takes knowledge away, so a set
derivable in a later round was derivable when its block was first searched — that search
lists the derivable sets of every size 1 … 4 (not only the smallest), and later rounds
check only those sets' residuals (``System.searched`` / ``System.derivable``); a key-industry or size cell enters only when the filings on one side of the atoms
it splits are fewer than ``min_cell_size`` (otherwise any group through it is at least
that large), and one made of whole divisions enters as "= Σ those division cells" (the
nation-level atom check of :mod:`apps.indices.overlap` covers it against divisions and
sizes); a block above ``max_unknowns`` unknowns is not solved: the key-industry and size
cells in it are hidden instead (recorded).

:func:`small_group_repairs` hides, for each leak found, one more published cell as
:func:`apps.indices.disclosure._repair_linear` chooses it (a key industry whose parts make
the group is the only open member next to them, so it is the one hidden; a county or a
prefecture × division cell otherwise); ``apply_disclosure_control`` adds the partitions'
complements and looks again until nothing leaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from scipy.linalg import lapack
from scipy.sparse import csgraph

from . import disclosure as dc
from .overlap import _matches

PART = "part"
# overlap cells that split atoms (key industries overlap divisions; sizes exist at nation
# level only)
SPLITTING_KINDS = ("key_industry", "size")
_RANK_TOL = 1e-9
_RESIDUAL_TOL = 1e-7
_LEVERAGE_TOL = 1e-7


@dataclass
class System:
    """The augmented cells (``cells`` first, then atoms, then parts), their hidden flags,
    numbers of filings and partition edges."""

    frame: pd.DataFrame
    hidden: np.ndarray
    n: np.ndarray
    edges: pd.DataFrame
    finest: np.ndarray  # bool per row: an atom not split, or a part (groups are unions of these)
    splitting: dict[int, list[int]] = field(default_factory=dict)  # overlap cell → its part rows
    skipped: list[str] = field(default_factory=list)
    cells_count: int = 0  # rows below this are the run's cells
    # small_group_leaks' memo between rounds: atoms / parts whose block has been searched
    # (every size), and the derivable sets that search and the later checks found
    searched: np.ndarray | None = None
    derivable: set[tuple[int, ...]] = field(default_factory=set)
    # the partition equations over every row (+1 child, −1 parent; one row per partition),
    # built on the first round: a round takes the columns of its unknowns
    equations: sparse.csc_matrix | None = None


def _tags(value) -> tuple:
    if isinstance(value, str):  # one tag (as apps.indices.overlap reads it)
        return (value,) if value else ()
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(str(t) for t in value)
    return ()


def _atom_codes(scores: pd.DataFrame) -> pd.Series:
    return (
        scores["prefecture"].astype(str)
        + dc.SEPARATOR
        + scores["division"].astype(str)
        + dc.SEPARATOR
        + scores["county"].astype(str)
    )


def _splitters(cells: pd.DataFrame, scores: pd.DataFrame, atom: pd.Series, m: int) -> dict[int, np.ndarray]:
    """Key-industry and size cells (positions) that can make a group of fewer than ``m``
    filings with region cells: the filings on one side (in the cell, or not) of the atoms
    the cell splits number 0 < x < m, or the cell splits no atom at all (it is then a union
    of atoms, an extra equation over them). Value: a bool mask over ``scores`` of its members."""
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    n = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    atom_id, _ = pd.factorize(atom)
    size = np.bincount(atom_id)
    out: dict[int, np.ndarray] = {}
    candidates: dict[int, np.ndarray] = {}
    tag_sets = tag_of = None
    for pos in np.flatnonzero(np.isin(kind, SPLITTING_KINDS) & (n > 0)):
        if kind[pos] == "size":
            member = (scores["size_class"].astype(str) == code[pos]).to_numpy()
        else:
            if tag_sets is None:
                # tag sets repeat (a few hundred distinct among 200,000 filings): read each once
                raw = [tuple(t) if isinstance(t, (list, np.ndarray)) else t for t in scores["key_industries"].tolist()]
                tag_of, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=False)
                tag_sets = [set(_tags(u)) for u in uniques]
            member = np.array([code[pos] in t for t in tag_sets], dtype=bool)[tag_of]
        inside = np.bincount(atom_id, member.astype(np.int64), minlength=len(size))
        partial = (inside > 0) & (inside < size)
        x_in, x_out = int(inside[partial].sum()), int((size - inside)[partial].sum())
        if not partial.any() or 0 < x_in < m or 0 < x_out < m:
            out[int(pos)] = member
        candidates[int(pos)] = member
    for pos in _admitted_by_combination(atom_id, size, candidates, kind, m) - set(out):
        out[pos] = candidates[pos]
    return dict(sorted(out.items()))


def _admitted_by_combination(atom_of: np.ndarray, atom_n: np.ndarray, candidates: dict[int, np.ndarray],
                             kind: np.ndarray, m: int) -> set[int]:
    """Key-industry cells that the one-cell rule of :func:`_splitters` leaves out but that
    cut an atom together with another key industry where a combination of tags holds
    0 < x < ``m`` of the atom's filings (firms with two tags, say): each side of each cell
    can be large while "in both" is one firm (:func:`_combinations`)."""
    keys = [pos for pos in candidates if kind[pos] == "key_industry"]
    if len(keys) < 2:
        return set()
    multi = _multi_split(atom_of, atom_n, candidates, keys)
    admitted: set[int] = set()
    for a, cells_ in multi.items():
        rows = np.flatnonzero(atom_of == a)
        _, counts = np.unique(np.column_stack([candidates[pos][rows] for pos in cells_]), axis=0, return_counts=True)
        if (counts < m).any():
            admitted.update(cells_)
    return admitted


def _whole_divisions(scores: pd.DataFrame, member: np.ndarray) -> list[str] | None:
    """The divisions ``member`` consists of, when it is a union of whole divisions (a key
    industry defined by division, say); None otherwise."""
    division = scores["division"].astype(str)
    inside = division[member].value_counts()
    total = division.value_counts().reindex(inside.index)
    return sorted(inside.index) if (inside.to_numpy() == total.to_numpy()).all() else None


def _atom_edges(cells: pd.DataFrame, codes: pd.Index, first_row: int, first_partition: int) -> pd.DataFrame:
    """The two partitions each atom (codes "prefecture|division|county", rows from
    ``first_row``) is a child in: its county's and its prefecture × division cell's
    (as :func:`apps.indices.disclosure.partition_table` would give them, built from the
    codes directly)."""
    key = pd.Index(cells["kind"].astype(str) + dc.SEPARATOR + cells["code"].astype(str))
    # one split per atom (a plain rsplit: pandas' .str accessor costs 3x more per code)
    split = [c.rsplit(dc.SEPARATOR, 1) for c in codes.tolist()]
    county = key.get_indexer(["county" + dc.SEPARATOR + p[1] for p in split])
    pdiv = key.get_indexer(["prefecture_division" + dc.SEPARATOR + p[0] for p in split])
    return _atom_partitions(county, pdiv, first_row + np.arange(len(codes)), len(cells), first_partition)


def _atom_partitions(county: np.ndarray, pdiv: np.ndarray, rows: np.ndarray, n_cells: int, first_partition: int
                     ) -> pd.DataFrame:
    """Edges of the atoms ``rows`` into their county's partition (``county``: its cell's
    position, −1 if absent) and their prefecture × division cell's (``pdiv``), numbered
    from ``first_partition`` in order of first appearance of (name, parent), as a
    factorized MultiIndex would number them, from integers (the MultiIndex's values cost
    0.3 s at 200 k)."""
    frames = []
    for name, parent in (("county>county_division", county), ("prefecture_division>county_division", pdiv)):
        found = parent >= 0
        frames.append(pd.DataFrame({"name": name, "parent": parent[found], "child": rows[found]}))
    edges = pd.concat(frames, ignore_index=True)
    name_id = (edges["name"].to_numpy(object) != "county>county_division").astype(np.int64)
    edges["partition"] = first_partition + pd.factorize(name_id * (n_cells + 1) + edges["parent"].to_numpy(np.int64))[0]
    return edges[["partition", "name", "parent", "child"]]


def build_system(
    cells: pd.DataFrame, scores: pd.DataFrame, hidden: np.ndarray, m: int, edges: pd.DataFrame | None = None,
    *, reference: bool = False,
) -> System:
    """The unknowns and equations of the module docstring for ``cells`` with ``hidden``
    (``edges``: :func:`apps.indices.disclosure.partition_table` of ``cells``, if at hand).
    ``reference``: built from the atoms' code strings (the plain path, kept for tests that
    :func:`_fast_build_system` builds the same)."""
    if not reference:
        return _fast_build_system(cells, scores, hidden, m, edges)
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    atom = _atom_codes(scores)
    counts = atom.value_counts()
    splitters = _splitters(cells, scores, atom, m)
    by_division = {pos: _whole_divisions(scores, member) for pos, member in splitters.items()}
    # every prefecture's atoms: a prefecture whose counties and prefecture × division
    # cells are all published tells nothing about other unknowns now, but one hidden by a
    # later round's repair can (county = its one division's cell, say), and the system is
    # built once for all rounds (small_group_repairs' ``state``)
    if edges is None:
        edges = dc.partition_table(cells)
    atom_n = counts.to_numpy(np.int64)
    k = len(counts)
    frame = pd.concat([
        cells[["kind", "code", "parent_code", "n"]].assign(suppressed=hidden),
        pd.DataFrame({"kind": dc.COUNTY_DIVISION, "code": counts.index.to_numpy(object),
                      "parent_code": [c[c.rindex(dc.SEPARATOR) + 1 :] for c in counts.index.tolist()], "n": atom_n,
                      "suppressed": True}),
    ], ignore_index=True)  # fmt: skip
    first_partition = int(edges["partition"].max()) + 1 if len(edges) else 0
    edges = pd.concat([edges, _atom_edges(cells, counts.index, len(cells), first_partition)], ignore_index=True)
    all_hidden = np.concatenate([hidden, np.ones(k, dtype=bool)])
    all_n = np.concatenate([pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64), atom_n])
    finest = np.concatenate([np.zeros(len(cells), dtype=bool), np.ones(k, dtype=bool)])
    # parts of the atoms each splitting cell cuts, and its equation
    atom_row = pd.Series(np.arange(len(cells), len(frame)), index=frame["code"].iloc[len(cells) :].to_numpy(object))
    extra_frames, extra_edges = [], []
    next_row, next_part = len(frame), int(edges["partition"].max()) + 1 if len(edges) else 0
    splitting: dict[int, list[int]] = {}
    cell_row = pd.Series(np.arange(len(cells)), index=pd.Index(kind + dc.SEPARATOR + code))
    # atoms cut by two or more cells: pieces by combination first (_combinations)
    atom_of = counts.index.get_indexer(atom)
    members = {pos: np.asarray(member, dtype=bool) for pos, member in splitters.items()}
    active = [pos for pos in splitters if by_division[pos] is None]
    multi = _multi_split(atom_of, atom_n, members, active)
    pieces_of: dict[int, list[int]] = {}
    if multi:
        labels = {pos: f"{kind[pos]}:{code[pos]}" for pos in active}
        by_atom: dict[int, list[int]] = {}
        combos = _combinations(atom_of, members, multi, labels)
        extra_frames.append(pd.DataFrame({
            "kind": PART, "code": [f"{label}{dc.SEPARATOR}{counts.index[a]}" for a, _, label, _ in combos],
            "parent_code": [counts.index[a] for a, _, _, _ in combos], "n": [c for _, _, _, c in combos],
            "suppressed": True,
        }))  # fmt: skip
        for a, ins, _, _ in combos:
            by_atom.setdefault(a, []).append(next_row)
            for pos in ins:
                pieces_of.setdefault(pos, []).append(next_row)
            next_row += 1
        for a, rows_a in by_atom.items():
            extra_edges.append(pd.DataFrame({"partition": next_part, "name": "atom>part", "parent": len(cells) + a,
                                             "child": rows_a}))
            next_part += 1
            finest[len(cells) + a] = False
    for pos, member in splitters.items():
        divisions = by_division[pos]
        if divisions is not None:
            # a union of whole divisions: its equation over the division cells says all
            # it says (and keeps the blocks small); the nation-level atom check
            # (apps.indices.overlap) covers it against divisions and sizes
            rows = cell_row.reindex([f"division{dc.SEPARATOR}{d}" for d in divisions]).dropna()
            extra_edges.append(
                pd.DataFrame(
                    {
                        "partition": next_part,
                        "name": f"{kind[pos]}>divisions",
                        "parent": pos,
                        "child": rows.to_numpy(np.int64),
                    }
                )
            )
            next_part += 1
            splitting[pos] = []
            continue
        inside = atom[member].value_counts()
        rows_of = atom_row.reindex(inside.index).to_numpy()
        if np.isnan(rows_of.astype(float)).any():  # pragma: no cover - every touched prefecture is present
            continue
        whole = inside.to_numpy() == counts.reindex(inside.index).to_numpy()
        children = list(rows_of[whole].astype(np.int64))
        parts = []
        for a_code, a_row, x in zip(
            inside.index[~whole], rows_of[~whole].astype(np.int64), inside.to_numpy()[~whole], strict=True
        ):
            if a_row - len(cells) in multi:
                continue
            total = int(counts[a_code])
            in_row, out_row = next_row, next_row + 1
            next_row += 2
            extra_frames.append(pd.DataFrame({
                "kind": PART, "code": [f"{kind[pos]}:{code[pos]}{dc.SEPARATOR}{a_code}", f"~{kind[pos]}:{code[pos]}{dc.SEPARATOR}{a_code}"],
                "parent_code": a_code, "n": [int(x), total - int(x)], "suppressed": True,
            }))  # fmt: skip
            extra_edges.append(
                pd.DataFrame({"partition": next_part, "name": "atom>part", "parent": a_row, "child": [in_row, out_row]})
            )
            next_part += 1
            finest[a_row] = False
            children.append(in_row)
            parts += [in_row, out_row]
        children += pieces_of.get(pos, [])
        extra_edges.append(
            pd.DataFrame(
                {
                    "partition": next_part,
                    "name": f"{kind[pos]}>atoms",
                    "parent": pos,
                    "child": np.array(children, dtype=np.int64),
                }
            )
        )
        next_part += 1
        splitting[pos] = parts + pieces_of.get(pos, [])
    if extra_frames:
        parts_frame = pd.concat(extra_frames, ignore_index=True)
        frame = pd.concat([frame, parts_frame], ignore_index=True)
        all_hidden = np.concatenate([all_hidden, np.ones(len(parts_frame), dtype=bool)])
        all_n = np.concatenate([all_n, parts_frame["n"].to_numpy(np.int64)])
        finest = np.concatenate([finest, np.ones(len(parts_frame), dtype=bool)])
    if extra_edges:
        edges = pd.concat([edges, *extra_edges], ignore_index=True)
    return System(
        frame=frame, hidden=all_hidden, n=all_n, edges=edges, finest=finest, splitting=splitting, cells_count=len(cells)
    )


def _first_counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``ids`` and their counts in ``value_counts`` order (most frequent first,
    ties in order of first appearance)."""
    first, distinct = pd.factorize(ids)
    counts = np.bincount(first, minlength=len(distinct))
    order = np.argsort(-counts, kind="stable")
    return np.asarray(distinct)[order], counts[order]


def _multi_split(atom_of: np.ndarray, atom_n: np.ndarray, splitters: dict[int, np.ndarray], active: list[int]
                 ) -> dict[int, list[int]]:
    """Atoms (positions) that two or more of the ``active`` splitting cells cut (some of
    the atom's filings in the cell, some not), with those cells in ``active``'s order."""
    cut: dict[int, list[int]] = {}
    for pos in active:
        inside = np.bincount(atom_of[splitters[pos]], minlength=len(atom_n))
        for a in np.flatnonzero((inside > 0) & (inside < atom_n)).tolist():
            cut.setdefault(a, []).append(pos)
    return {a: cells for a, cells in cut.items() if len(cells) > 1}


def _combinations(atom_of: np.ndarray, splitters: dict[int, np.ndarray], multi: dict[int, list[int]], labels: dict[int, str]
                  ) -> list[tuple[int, tuple[int, ...], str, int]]:
    """The pieces of the atoms in ``multi`` (:func:`_multi_split`): one per combination of
    the cells cutting the atom that its filings actually have — (atom, the cells the piece
    is in, its label, filings), atoms ascending, combinations sorted. Two key industries
    cutting one atom make up to four pieces (in both, in one only, in the other only, in
    neither): with a pair of halves per cell instead, "in both" — a firm with both tags —
    is no union of unknowns, and key industry A + key industry B − the atom (its county,
    say) gave it away unseen. Label: the cells the piece is in, then "~" and those it is
    not in, joined by "&"."""
    out = []
    for a in sorted(multi):
        cells_ = multi[a]
        rows = np.flatnonzero(atom_of == a)
        inside = np.column_stack([splitters[pos][rows] for pos in cells_])
        combos, counts = np.unique(inside, axis=0, return_counts=True)
        for combo, count in sorted(zip(map(tuple, combos.tolist()), counts.tolist(), strict=True), reverse=True):
            ins = tuple(pos for pos, flag in zip(cells_, combo, strict=True) if flag)
            outs = [pos for pos, flag in zip(cells_, combo, strict=True) if not flag]
            label = "&".join(sorted(labels[pos] for pos in ins) + sorted("~" + labels[pos] for pos in outs))
            out.append((a, ins, label, int(count)))
    return out


def _fast_build_system(
    cells: pd.DataFrame, scores: pd.DataFrame, hidden: np.ndarray, m: int, edges: pd.DataFrame | None
) -> System:
    """:func:`build_system` from integer codes: prefecture, division and county factorized
    once, atoms as integer keys (their code strings formed once per atom, not per filing;
    their partitions found by county and prefecture × division, not by splitting codes),
    splitting cells' members and whole divisions counted with ``bincount``. Rows, codes and
    partitions come out as the reference builds them (atoms in ``value_counts`` order)."""
    sep = dc.SEPARATOR
    kind = cells["kind"].astype(str).to_numpy(object)
    code = cells["code"].astype(str).to_numpy(object)
    p_id, p_names = pd.factorize(scores["prefecture"].astype(str).to_numpy(object))
    d_id, d_names = pd.factorize(scores["division"].astype(str).to_numpy(object))
    c_id, c_names = pd.factorize(scores["county"].astype(str).to_numpy(object))
    nd, nc = len(d_names), len(c_names)
    key = (p_id.astype(np.int64) * nd + d_id) * nc + c_id
    atom_key, atom_n = _first_counts(key)
    k = len(atom_key)
    atom_id = pd.Index(atom_key).get_indexer(key)  # per filing: its atom's position
    a_pd, a_c = np.divmod(atom_key, nc)
    a_p, a_d = np.divmod(a_pd, nd)
    p_names, d_names, c_names = (np.asarray(x, dtype=object) for x in (p_names, d_names, c_names))
    atom_code = [f"{p}{sep}{d}{sep}{c}" for p, d, c in zip(p_names[a_p], d_names[a_d], c_names[a_c], strict=True)]
    # splitting cells (as _splitters), from integer codes
    n_cells = pd.to_numeric(cells["n"], errors="coerce").fillna(0).to_numpy(np.int64)
    splitters: dict[int, np.ndarray] = {}
    candidates: dict[int, np.ndarray] = {}
    s_id = s_names = tag_sets = tag_of = None
    for pos in np.flatnonzero(np.isin(kind, SPLITTING_KINDS) & (n_cells > 0)):
        if kind[pos] == "size":
            if s_id is None:
                s_id, s_names = pd.factorize(scores["size_class"].astype(str).to_numpy(object))
                s_names = list(s_names)
            member = s_id == (s_names.index(code[pos]) if code[pos] in s_names else -2)
        else:
            if tag_sets is None:
                raw = [tuple(t) if isinstance(t, (list, np.ndarray)) else t for t in scores["key_industries"].tolist()]
                tag_of, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=False)
                tag_sets = [set(_tags(u)) for u in uniques]
            member = np.array([code[pos] in t for t in tag_sets], dtype=bool)[tag_of]
        inside = np.bincount(atom_id, member.astype(np.int64), minlength=k)
        partial = (inside > 0) & (inside < atom_n)
        x_in, x_out = int(inside[partial].sum()), int((atom_n - inside)[partial].sum())
        if not partial.any() or 0 < x_in < m or 0 < x_out < m:
            splitters[int(pos)] = member
        candidates[int(pos)] = member
    for pos in _admitted_by_combination(atom_id, atom_n, candidates, kind, m) - set(splitters):
        splitters[pos] = candidates[pos]
    splitters = dict(sorted(splitters.items()))
    d_total = np.bincount(d_id, minlength=nd)
    by_division = {}
    for pos, member in splitters.items():
        d_in = np.bincount(d_id[member], minlength=nd)
        present = d_in > 0
        by_division[pos] = sorted(d_names[present]) if (d_in[present] == d_total[present]).all() else None
    if edges is None:
        edges = dc.partition_table(cells)
    frame = pd.concat([
        cells[["kind", "code", "parent_code", "n"]].assign(suppressed=hidden),
        pd.DataFrame({"kind": dc.COUNTY_DIVISION, "code": np.array(atom_code, dtype=object),
                      "parent_code": c_names[a_c], "n": atom_n, "suppressed": True}),
    ], ignore_index=True)  # fmt: skip
    first_partition = int(edges["partition"].max()) + 1 if len(edges) else 0
    # the atoms' two partitions (as _atom_edges): their county's and their prefecture ×
    # division cell's, looked up once per county and per prefecture × division
    cell_key = pd.Index(kind + sep + code)
    county_cell = cell_key.get_indexer(["county" + sep + c for c in c_names.tolist()])[a_c]
    pd_of, pd_keys = pd.factorize(a_pd)
    pd_cell = cell_key.get_indexer(
        [f"prefecture_division{sep}{p_names[x // nd]}{sep}{d_names[x % nd]}" for x in pd_keys.tolist()]
    )[pd_of]
    atom_edges = _atom_partitions(county_cell, pd_cell, len(cells) + np.arange(k), len(cells), first_partition)
    edges = pd.concat([edges, atom_edges], ignore_index=True)
    all_hidden = np.concatenate([hidden, np.ones(k, dtype=bool)])
    all_n = np.concatenate([n_cells, atom_n])
    finest = np.concatenate([np.zeros(len(cells), dtype=bool), np.ones(k, dtype=bool)])
    # parts of the atoms each splitting cell cuts, and its equation (as build_system)
    part_kind: list[str] = []
    part_code: list[str] = []
    part_parent: list[str] = []
    part_n: list[int] = []
    e_part: list[np.ndarray] = []
    e_name: list[str] = []
    e_count: list[int] = []
    e_parent: list[int] = []
    e_child: list[np.ndarray] = []
    next_row, next_part = len(frame), int(edges["partition"].max()) + 1 if len(edges) else 0
    splitting: dict[int, list[int]] = {}
    cell_row = pd.Series(np.arange(len(cells)), index=cell_key)

    def equation(name: str, parent: int, children: np.ndarray) -> None:
        nonlocal next_part
        e_name.append(name)
        e_parent.append(parent)
        e_child.append(np.asarray(children, dtype=np.int64))
        e_count.append(len(children))
        e_part.append(next_part)
        next_part += 1

    # atoms cut by two or more cells: pieces by combination first (_combinations)
    active = [pos for pos in splitters if by_division[pos] is None]
    multi = _multi_split(atom_id, atom_n, splitters, active)
    pieces_of: dict[int, list[int]] = {}
    if multi:
        labels = {pos: f"{kind[pos]}:{code[pos]}" for pos in active}
        by_atom: dict[int, list[int]] = {}
        for a, ins, label, count in _combinations(atom_id, splitters, multi, labels):
            part_kind.append(PART)
            part_code.append(f"{label}{sep}{atom_code[a]}")
            part_parent.append(atom_code[a])
            part_n.append(count)
            by_atom.setdefault(a, []).append(next_row)
            for pos in ins:
                pieces_of.setdefault(pos, []).append(next_row)
            next_row += 1
        for a, rows_a in by_atom.items():
            equation("atom>part", len(cells) + a, np.array(rows_a))
            finest[len(cells) + a] = False
    for pos, member in splitters.items():
        divisions = by_division[pos]
        if divisions is not None:
            rows_d = cell_row.reindex([f"division{sep}{d}" for d in divisions]).dropna()
            equation(f"{kind[pos]}>divisions", pos, rows_d.to_numpy(np.int64))
            splitting[pos] = []
            continue
        ids, inside = _first_counts(atom_id[member])
        whole = inside == atom_n[ids]
        children = list(len(cells) + ids[whole])
        parts = []
        label = f"{kind[pos]}:{code[pos]}{sep}"
        for a, x in zip(ids[~whole].tolist(), inside[~whole].tolist(), strict=True):
            if a in multi:
                continue
            in_row, out_row = next_row, next_row + 1
            next_row += 2
            part_kind += [PART, PART]
            part_code += [label + atom_code[a], "~" + label + atom_code[a]]
            part_parent += [atom_code[a], atom_code[a]]
            part_n += [x, int(atom_n[a]) - x]
            equation("atom>part", len(cells) + a, np.array([in_row, out_row]))
            finest[len(cells) + a] = False
            children.append(in_row)
            parts += [in_row, out_row]
        children += pieces_of.get(pos, [])
        equation(f"{kind[pos]}>atoms", pos, np.array(children, dtype=np.int64))
        splitting[pos] = parts + pieces_of.get(pos, [])
    if part_kind:
        parts_frame = pd.DataFrame(
            {"kind": part_kind, "code": part_code, "parent_code": part_parent, "n": part_n, "suppressed": True}
        )
        frame = pd.concat([frame, parts_frame], ignore_index=True)
        all_hidden = np.concatenate([all_hidden, np.ones(len(parts_frame), dtype=bool)])
        all_n = np.concatenate([all_n, np.asarray(part_n, dtype=np.int64)])
        finest = np.concatenate([finest, np.ones(len(parts_frame), dtype=bool)])
    if e_name:
        counts = np.asarray(e_count)
        extra = pd.DataFrame({
            "partition": np.repeat(np.asarray(e_part, dtype=np.int64), counts),
            "name": np.repeat(np.asarray(e_name, dtype=object), counts),
            "parent": np.repeat(np.asarray(e_parent, dtype=np.int64), counts),
            "child": np.concatenate(e_child),
        })  # fmt: skip
        edges = pd.concat([edges, extra], ignore_index=True)
    return System(
        frame=frame, hidden=all_hidden, n=all_n, edges=edges, finest=finest, splitting=splitting, cells_count=len(cells)
    )


_PROBE_TOL = 1e-7


def _sorted_matches(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with a[i] + b[j] ≈ 0, as :func:`apps.indices.overlap._matches`
    finds them (every pair within the tolerance, perhaps a few more, which the callers'
    checks drop): ``b`` sorted, and a long ``a`` sorted too, so that the binary searches
    walk the table in order instead of jumping about it. With ``a`` the same array as ``b``
    (pairs of pairs), each unordered pair is searched from its larger member only (of two
    sums near −x each other, one is ≥ −tolerance / 2), in either order, and i = j
    possible: callers drop those and duplicates."""
    if not len(a) or not len(b):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order_b = np.argsort(b)
    sb = b[order_b]
    if a is b:
        start = np.searchsorted(sb, -_PROBE_TOL / 2, side="left")
        order_a = order_b[start:][::-1]
    elif len(a) > 4 * len(b) and len(b) < 100_000:
        order_a = np.arange(len(a))  # a small table stays in cache: no need to sort the queries
    else:
        order_a = np.argsort(a)[::-1]
    queries = -a[order_a]
    lo = np.searchsorted(sb, queries - _PROBE_TOL, side="left")
    # the end of each range by stepping on from its start (ranges hold 0 or 1 sums almost
    # always): one binary search instead of two
    hi = lo.copy()
    active = np.flatnonzero(hi < len(sb))
    while len(active):
        inside = sb[hi[active]] <= queries[active] + _PROBE_TOL
        active = active[inside]
        hi[active] += 1
        active = active[hi[active] < len(sb)]
    count = hi - lo
    i = np.repeat(order_a, count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    j = order_b[np.repeat(lo, count) + offsets]
    return i, j


def _candidate_sets(z: np.ndarray, n: np.ndarray, leverage: np.ndarray, limit: int) -> dict[int, list[tuple[int, ...]]]:
    """Sets of 1 … 4 unknowns (together ≤ ``limit`` filings) whose probe sums vanish, by
    size (every size, not only the smallest: later rounds check these instead of searching
    again, see :func:`small_group_leaks`). As :func:`apps.indices.overlap._small_sets`, with the bound
    per size: a member j of a derivable set S has leverage h_j ≥ 1/|S| (1 = e_jᵀ P 1_S ≤
    √h_j · √|S|) and n_j ≤ limit − (|S| − 1) — most atoms qualify only for the larger sets,
    which keeps the pair tables small in blocks of thousands of atoms."""
    hits: dict[int, list[tuple[int, ...]]] = {}
    ok = np.all(np.abs(z) < _PROBE_TOL, axis=1) & (leverage >= 1 - 1e-6) & (n <= limit)
    if ok.any():
        hits[1] = [(int(k),) for k in np.flatnonzero(ok)]
    for size in range(2, min(4, limit) + 1):
        found: set[tuple[int, ...]] = set()
        pool = np.flatnonzero((leverage >= 1.0 / size - 1e-9) & (n >= 1) & (n <= limit - (size - 1)))
        if len(pool) < size:
            continue
        zs, ns = z[pool], n[pool]
        i, j = np.triu_indices(len(pool), k=1)
        keep = ns[i] + ns[j] <= limit - (size - 2)
        i, j = i[keep], j[keep]
        pair_z, pair_n = zs[i] + zs[j], ns[i] + ns[j]
        if size == 2:
            hit = np.all(np.abs(pair_z) < _PROBE_TOL, axis=1)
            found |= {(int(pool[a]), int(pool[b])) for a, b in zip(i[hit], j[hit], strict=True)}
        elif size == 3:
            pa, c = _matches(pair_z[:, 0], zs[:, 0])
            for a, k in zip(pa, c, strict=True):
                members = {int(i[a]), int(j[a]), int(k)}
                if len(members) == 3 and pair_n[a] + ns[k] <= limit and np.all(np.abs(pair_z[a] + zs[k]) < _PROBE_TOL):
                    found.add(tuple(sorted(int(pool[x]) for x in members)))
        else:
            pa, pb = _matches(pair_z[:, 0], pair_z[:, 0])
            for a, b in zip(pa[pa < pb], pb[pa < pb], strict=True):
                members = {int(i[a]), int(j[a]), int(i[b]), int(j[b])}
                if (
                    len(members) == 4
                    and pair_n[a] + pair_n[b] <= limit
                    and np.all(np.abs(pair_z[a] + pair_z[b]) < _PROBE_TOL)
                ):
                    found.add(tuple(sorted(int(pool[x]) for x in members)))
        if found:
            hits[size] = _by_filings(found, n)
    return hits


def _fast_candidate_sets(z: np.ndarray, n: np.ndarray, leverage: np.ndarray, limit: int) -> dict[int, list[tuple[int, ...]]]:
    """:func:`_candidate_sets` (the same sets) without its quadratic steps and Python loops:
    pairs matched on sorted probe sums instead of tested all against all, the pair tables
    built on the first probe only (the second checks the matches), and the matches
    checked as arrays."""
    hits: dict[int, list[tuple[int, ...]]] = {}
    ok = np.all(np.abs(z) < _PROBE_TOL, axis=1) & (leverage >= 1 - 1e-6) & (n <= limit)
    if ok.any():
        hits[1] = [(int(k),) for k in np.flatnonzero(ok)]
    for size in range(2, min(4, limit) + 1):
        pool = np.flatnonzero((leverage >= 1.0 / size - 1e-9) & (n >= 1) & (n <= limit - (size - 1)))
        if len(pool) < size:
            continue
        zs, ns = z[pool], n[pool]
        first = np.ascontiguousarray(zs[:, 0])
        if size == 2:
            a, b = _sorted_matches(first, first)
            keep = (a != b) & (ns[a] + ns[b] <= limit)
            a, b = a[keep], b[keep]
            keep = np.all(np.abs(zs[a] + zs[b]) < _PROBE_TOL, axis=1)
            members = np.column_stack([a[keep], b[keep]])
        else:
            i, j = np.triu_indices(len(pool), k=1)
            keep = ns[i] + ns[j] <= limit - (size - 2)
            i, j = i[keep], j[keep]
            pair_first = first[i] + first[j]
            if size == 3:
                a, c = _sorted_matches(pair_first, first)
                keep = (c != i[a]) & (c != j[a]) & (ns[i[a]] + ns[j[a]] + ns[c] <= limit)
                a, c = a[keep], c[keep]
                keep = np.all(np.abs((zs[i[a]] + zs[j[a]]) + zs[c]) < _PROBE_TOL, axis=1)
                members = np.column_stack([i[a[keep]], j[a[keep]], c[keep]])
            else:
                a, b = _sorted_matches(pair_first, pair_first)
                keep = a != b
                a, b = a[keep], b[keep]
                quad = np.column_stack([i[a], j[a], i[b], j[b]])
                quad.sort(axis=1)
                keep = np.all(quad[:, 1:] != quad[:, :-1], axis=1) & (ns[quad].sum(axis=1) <= limit)
                a, b, quad = a[keep], b[keep], quad[keep]
                keep = np.all(np.abs((zs[i[a]] + zs[j[a]]) + (zs[i[b]] + zs[j[b]])) < _PROBE_TOL, axis=1)
                members = quad[keep]
        if len(members):
            members = np.unique(np.sort(pool[members], axis=1), axis=0)
            hits[size] = _by_filings(map(tuple, members.tolist()), n)
    return hits


def _by_filings(sets: Iterable[tuple[int, ...]], n: np.ndarray) -> list[tuple[int, ...]]:
    """By filings, then by rows (not in a set's iteration order: the fast and the reference
    search list the same sets in the same order)."""
    return sorted(sets, key=lambda s: (int(n[list(s)].sum()), s))


@dataclass
class Leak:
    """A derivable group: rows of the system (atoms or parts) and its number of filings;
    or (``cell`` True) a hidden cell of the run that the equations determine."""

    rows: tuple[int, ...]
    n: int
    cell: bool = False


def _row_space(sub: sparse.csr_matrix) -> np.ndarray:
    """Orthonormal basis (columns, unknowns × rank) of the row space of ``sub``."""
    m, k = sub.shape
    if m <= k:
        values, vectors = np.linalg.eigh((sub @ sub.T).toarray())
        keep = values > _RANK_TOL * max(values[-1], 1.0)
        return np.asarray(sub.T @ vectors[:, keep]) / np.sqrt(values[keep])
    values, vectors = np.linalg.eigh((sub.T @ sub).toarray())
    keep = values > _RANK_TOL * max(values[-1], 1.0)
    return vectors[:, keep]


class _Dense:
    """A block's row space as an orthonormal basis q (unknowns × rank, :func:`_row_space`):
    the reference path."""

    def __init__(self, sub: sparse.csr_matrix):
        self.size = sub.shape[1]
        self.q = _row_space(sub)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows of an orthonormal basis for these unknowns (their leverages are the rows' norms)."""
        return self.q[positions]

    def project(self, v: np.ndarray) -> np.ndarray:
        """P v (P the projection on the row space)."""
        return self.q @ (self.q.T @ v)

    def coefficients(self, v: np.ndarray) -> np.ndarray:
        return self.q.T @ v


class _Cholesky(_Dense):
    """The same row space from a pivoted Cholesky factor of the Gram matrix A Aᵀ (LAPACK
    ``dpstrf``, about a tenth of the cost of its eigendecomposition): the pivoted rows A_r
    are a basis of the equations and L Lᵀ = A_r A_rᵀ, so Q = A_rᵀ L⁻ᵀ is an orthonormal
    basis, of which only the rows asked for are formed: for many unknowns (a first search)
    from L⁻¹, formed once (``dtrtri``), times the sparse columns of A_r (two or three
    non-zeros each); for a few (a later round's hidden cells) by a triangular solve.
    P v = A_rᵀ L⁻ᵀ L⁻¹ A_r v."""

    def __init__(self, sub: sparse.csr_matrix):
        self.size = sub.shape[1]
        gram = (sub @ sub.T).toarray()
        top = float(gram.diagonal().max()) if len(gram) else 0.0
        factor, piv, rank, _ = lapack.dpstrf(gram, tol=_RANK_TOL * max(top, 1.0), lower=1)
        self.a = sub[piv[:rank] - 1].tocsc()
        self.lower = np.tril(factor[:rank, :rank])
        self.inverse: np.ndarray | None = None

    def rows(self, positions: np.ndarray) -> np.ndarray:
        rank = len(self.lower)
        if not rank:
            return np.zeros((len(positions), 0))
        if self.inverse is None and 3 * len(positions) < rank:
            rhs = self.a[:, positions].toarray()
            return linalg.solve_triangular(self.lower, rhs, lower=True, check_finite=False).T
        if self.inverse is None:
            self.inverse = lapack.dtrtri(self.lower, lower=1)[0]
        return np.asarray(self.a[:, positions].T @ self.inverse.T)

    def coefficients(self, v: np.ndarray) -> np.ndarray:
        if not len(self.lower):
            return np.zeros((0,) + v.shape[1:])
        if self.inverse is not None:
            return self.inverse @ (self.a @ v)
        return linalg.solve_triangular(self.lower, self.a @ v, lower=True, check_finite=False)

    def project(self, v: np.ndarray) -> np.ndarray:
        if not len(self.lower):
            return np.zeros_like(v)
        c = self.coefficients(v)
        if self.inverse is not None:
            return self.a.T @ (self.inverse.T @ c)
        return self.a.T @ linalg.solve_triangular(self.lower, c, lower=True, trans="T", check_finite=False)


def _equations(system: System) -> sparse.csc_matrix:
    """The partition equations over every row of the system (built once: the edges do not
    change between rounds, only which rows are unknown)."""
    if system.equations is None:
        edges = system.edges
        parents = dc._partition_parents(edges) if len(edges) else np.zeros(0, np.int64)
        part = edges["partition"].to_numpy(np.int64)
        rows = np.concatenate([part, np.arange(len(parents))])
        cols = np.concatenate([edges["child"].to_numpy(np.int64), parents])
        vals = np.concatenate([np.ones(len(part)), -np.ones(len(parents))])
        system.equations = sparse.csc_matrix((vals, (rows, cols)), shape=(len(parents), len(system.hidden)))
    return system.equations


def _unknowns_system(system: System) -> tuple[sparse.csr_matrix, np.ndarray]:
    """:func:`apps.indices.disclosure._linear_system` of the system's hidden rows, from the
    matrix kept over all rows: the columns of the unknowns, the equations that hold one."""
    variables = np.flatnonzero(system.hidden & (system.n > 0))
    matrix = _equations(system)[:, variables].tocsr()
    return matrix[np.flatnonzero(np.diff(matrix.indptr) > 0)], variables


def small_group_leaks(
    system: System, m: int, *, changed: np.ndarray | None = None, max_unknowns: int = 6000, seed: int = 0,
    reference: bool = False,
) -> list[Leak]:
    """Groups of 1 … ``m`` − 1 filings (unions of at most ``m`` − 1 atoms or parts) whose
    total follows from the published cells (see the module docstring), and hidden cells of
    the run they determine (the intersection audit of
    :func:`apps.indices.disclosure.intersection_repairs`, here with the atoms of every
    prefecture and the key-industry / size equations too). ``changed`` (bool
    per system row): solve only the blocks holding one of these unknowns — a block without
    a newly hidden cell has the same equations as in the round before. Blocks above
    ``max_unknowns`` unknowns are skipped (listed in ``system.skipped``). ``reference``:
    the plain path (the equations rebuilt from the edges, blocks cut from the whole matrix,
    candidate sets matched as :mod:`apps.indices.overlap` matches them), kept for tests
    that the fast one finds the same."""
    if reference:
        matrix, variables = dc._linear_system(system.hidden, system.n, system.edges)
    else:
        matrix, variables = _unknowns_system(system)
    matrix = dc._drop_absorbing_equations(matrix)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        return []
    incidence = (matrix != 0).astype(np.int8)
    if reference:
        n_blocks, block = csgraph.connected_components((incidence.T @ incidence).tocsr(), directed=False)
    else:
        n_blocks, block = dc.unknown_blocks(incidence)
    used = np.asarray(incidence.sum(axis=0)).ravel() > 0
    finest = system.finest[variables] & used & (system.n[variables] < m)
    real = (variables < system.cells_count) & used
    rows_of = matrix.tocoo()
    eq_block = np.full(matrix.shape[0], -1)
    eq_block[rows_of.row] = block[rows_of.col]
    rng = np.random.default_rng(seed)
    leaks: list[Leak] = []
    blocks = np.unique(block[finest | real])
    if changed is not None:
        blocks = np.intersect1d(blocks, block[changed[variables]])
    # the reference cuts each block from the whole matrix in CSC; the fast path, for many
    # blocks (a first search), permutes the matrix once so that each is a contiguous
    # rectangle, and for a few (a later round) takes their rows, then their columns — the
    # same sub-matrix (rows and columns in their order) each way
    permuted = not reference and len(blocks) > 8
    if reference:
        csc = matrix.tocsc()
    elif permuted:
        col_order = np.argsort(block, kind="stable")
        row_order = np.argsort(eq_block, kind="stable")
        ordered = matrix[row_order][:, col_order].tocsr()
        col_start = np.searchsorted(block[col_order], np.arange(n_blocks + 1))
        row_start = np.searchsorted(eq_block[row_order], np.arange(n_blocks + 1))
    for b in blocks:
        if permuted:
            cols = col_order[col_start[b] : col_start[b + 1]]
        else:
            cols = np.flatnonzero(block == b)
        if len(cols) > max_unknowns:
            system.skipped.append(f"block of {len(cols)} unknowns")
            continue
        if reference:
            sub = csc[:, cols].tocsr()[np.flatnonzero(eq_block == b), :]
        elif permuted:
            sub = ordered[row_start[b] : row_start[b + 1], col_start[b] : col_start[b + 1]]
        else:
            sub = matrix[np.flatnonzero(eq_block == b)][:, cols]
        space = (_Dense if reference else _Cholesky)(sub)
        own = np.flatnonzero(real[cols])
        if len(own):
            q_own = space.rows(own)
            determined = np.einsum("ij,ij->i", q_own, q_own) > 1 - _LEVERAGE_TOL
            leaks += [
                Leak(rows=(int(variables[cols[i]]),), n=int(system.n[variables[cols[i]]]), cell=True)
                for i in own[determined]
            ]
        local = np.flatnonzero(finest[cols])
        if not len(local):
            continue
        g = rng.standard_normal((len(cols), 2))  # drawn for every block: the same probes as a full search
        local_rows = variables[cols[local]]
        if system.searched is None:
            system.searched = np.zeros(len(system.hidden), dtype=bool)
        members = set(local_rows.tolist())
        if system.searched[local_rows].all():
            # hiding a cell only takes knowledge away: every set derivable now was derivable
            # when these rows' blocks were searched (all sizes), so checking those is enough
            position = {int(r): i for i, r in enumerate(local_rows)}
            known = sorted(r for r in system.derivable if set(r) <= members)
            system.derivable -= set(known)
            still = [tuple(position[r] for r in rows) for rows in known]
            still = [s for s in still if _derivable(space, local[list(s)])]
            smallest = min((len(s) for s in still), default=0)
            leaks_here = [s for s in still if len(s) == smallest]
            if smallest > 1:  # ordered as _candidate_sets orders them
                leaks_here = _by_filings(leaks_here, system.n[local_rows])
        else:
            ql = space.rows(local)
            leverage = np.einsum("ij,ij->i", ql, ql)
            z = g[local] - ql @ space.coefficients(g)
            hits = (_candidate_sets if reference else _fast_candidate_sets)(z, system.n[local_rows], leverage, m - 1)
            still = [s for size in sorted(hits) for s in hits[size] if _derivable(space, local[list(s)])]
            # the groups of the smallest size with probe hits (what the leaks are); every
            # size's derivable sets remembered for the later rounds
            smallest = min(hits, default=0)
            confirmed = set(still)
            leaks_here = [s for s in hits.get(smallest, []) if s in confirmed]
            system.derivable = {r for r in system.derivable if not set(r) <= members}
            system.searched[local_rows] = True
        system.derivable |= {tuple(int(local_rows[i]) for i in s) for s in still}
        for s in leaks_here:
            rows = tuple(int(local_rows[i]) for i in s)
            leaks.append(Leak(rows=rows, n=int(system.n[list(rows)].sum())))
    return leaks


def _derivable(space: _Dense, positions: np.ndarray) -> bool:
    """Whether the indicator of ``positions`` (columns of a block) lies in the row space
    ``q`` spans: its exact residual."""
    indicator = np.zeros(space.size)
    indicator[positions] = 1.0
    rest = indicator - space.project(indicator)
    return bool(np.linalg.norm(rest) < _RESIDUAL_TOL * np.sqrt(len(positions)))


def small_group_repairs(
    cells: pd.DataFrame,
    scores: pd.DataFrame,
    hidden: np.ndarray,
    order: np.ndarray,
    weight: np.ndarray | None,
    m: int,
    *,
    max_unknowns: int = 6000,
    state: dict | None = None,
    edges: pd.DataFrame | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """One round: the published cells (positions in ``cells``) to hide so that the groups
    :func:`small_group_leaks` finds are no longer derivable — one per leak, chosen as
    :func:`apps.indices.disclosure._repair_linear` chooses (least complement cost in a
    partition of the group's first atom or part). A splitting key-industry or size cell in
    a block too large to solve is hidden outright. ``state``: a dict kept between rounds
    (the system is built once; later rounds solve only the blocks a new hidden cell
    touches). Returns (positions, a record per leak)."""
    changed = None
    if state is not None and "system" in state:
        # later rounds: the same atoms and equations; only cells hidden since are new unknowns
        system = state["system"]
        changed = np.zeros(len(system.hidden), dtype=bool)
        changed[: len(cells)] = hidden & ~system.hidden[: len(cells)]
        system.hidden[: len(cells)] = hidden
        system.skipped.clear()
    else:
        system = build_system(cells, scores, hidden, m, edges)
    if state is not None:
        state["system"] = system
    leaks = small_group_leaks(system, m, changed=changed, max_unknowns=max_unknowns)
    chosen: set[int] = set()
    record: list[dict] = []
    if leaks:
        k = len(system.frame) - len(cells)
        all_order = np.concatenate([order, order.max() + 1 + np.arange(k)])
        all_weight = None if weight is None else np.concatenate([weight, np.ones(k)])
        kind = system.frame["kind"].astype(str).to_numpy(object)
        code = system.frame["code"].astype(str).to_numpy(object)
        # one call for every leak: the complement costs are computed once
        targets = np.unique([leak.rows[0] for leak in leaks])
        extra = dc._repair_linear(system.hidden, system.n, all_order, system.edges, targets, all_weight)
        extra = [int(e) for e in extra if e < len(cells)]
        chosen.update(extra)
        hidden_now = [f"{kind[e]}{dc.SEPARATOR}{code[e]}" for e in extra]
        for leak in leaks:
            record.append(
                {
                    "group": "+".join(f"{kind[r]}:{code[r]}" for r in leak.rows),
                    "filings": leak.n,
                    "hidden": hidden_now,
                    "cell": leak.cell,
                }
            )
    if system.skipped:
        for pos in system.splitting:
            if not hidden[pos]:
                chosen.add(pos)
        record.append({"group": "; ".join(system.skipped), "filings": None, "hidden": "splitting cells"})
    return np.array(sorted(chosen), dtype=np.int64), record


def group_members(frame: pd.DataFrame, rows: Iterable[int]) -> list[str]:
    """Labels of a leak's rows (for tests and the run's record)."""
    return [f"{k}:{c}" for k, c in zip(frame["kind"].iloc[list(rows)], frame["code"].iloc[list(rows)], strict=True)]


__all__ = ("build_system", "small_group_leaks", "small_group_repairs", "Leak", "System")
