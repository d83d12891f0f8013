"""What publishing a run would change: its cells against the period's published run.

Read through the one disclosure path (:func:`apps.indices.readers.cells_for`) as the
publishing user sees them; only ministry staff and administrators open this page, and they
read every cell unsuppressed. A cell counts as changed when its number of filings, its mean
as shown (one decimal) or whether it is hidden from the public changes, or when it appears
or disappears.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.core import formatting

from .models import CellKind, IndexRun
from .readers import Reader, cell_names, cells_for

MAX_ROWS_PER_KIND = 20


@dataclass
class CellChange:
    kind: str
    code: str
    name: str
    old_n: int | None
    new_n: int | None
    old_mean: float | None
    new_mean: float | None
    old_suppressed: bool | None
    new_suppressed: bool | None

    @property
    def mean_change(self) -> float | None:
        if self.old_mean is None or self.new_mean is None:
            return None
        return self.new_mean - self.old_mean


@dataclass
class KindChanges:
    kind: str
    label: str
    total: int  # cells of this kind in the new run
    changed: int
    rows: list[CellChange] = field(default_factory=list)  # the largest changes first, at most MAX_ROWS_PER_KIND


@dataclass
class RunPreview:
    run: IndexRun
    against: IndexRun | None
    kinds: list[KindChanges]

    @property
    def changed(self) -> int:
        return sum(k.changed for k in self.kinds)

    @property
    def total(self) -> int:
        return sum(k.total for k in self.kinds)


def _shown(mean) -> float | None:
    return formatting.rounded(mean)


def run_preview(*, run: IndexRun, against: IndexRun | None, user) -> RunPreview:
    """The changes of ``run`` against ``against`` (the published run; None: every cell is new)."""
    reader = Reader.of(user)
    kinds = []
    for kind, label in CellKind.choices:
        new = {c["code"]: c for c in cells_for(reader, run, kind)}
        old = {c["code"]: c for c in cells_for(reader, against, kind)} if against else {}
        changes = []
        for code in sorted(new.keys() | old.keys()):
            a, b = old.get(code), new.get(code)
            before = (a["n"], _shown(a["mean"]), bool(a["suppressed"])) if a else None
            after = (b["n"], _shown(b["mean"]), bool(b["suppressed"])) if b else None
            if before == after:
                continue
            changes.append(CellChange(
                kind=kind, code=code, name="",
                old_n=before[0] if before else None, new_n=after[0] if after else None,
                old_mean=before[1] if before else None, new_mean=after[1] if after else None,
                old_suppressed=before[2] if before else None, new_suppressed=after[2] if after else None,
            ))  # fmt: skip
        changes.sort(key=lambda c: (-(abs(c.mean_change) if c.mean_change is not None else 1e9), c.code))
        shown = changes[:MAX_ROWS_PER_KIND]
        names = cell_names(kind, [c.code for c in shown]) if shown else {}
        for c in shown:
            c.name = names.get(c.code, c.code)
        kinds.append(KindChanges(kind=kind, label=str(label), total=len(new), changed=len(changes), rows=shown))
    return RunPreview(run=run, against=against, kinds=kinds)
