"""Starting, publishing and staling index runs; the base period; provenance."""

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.scoping import recorded_user
from apps.enterprises.models import Enterprise
from apps.filings.models import Period, Submission

from .aggregation import IndexParameters
from .models import CellKind, IndexBase, IndexCell, IndexRun, RunStatus
from .signals import run_published

# Parameters for failure drills (e.g. drill_chunk_delay_seconds: each chunk waits before
# scoring, so that a drill or a test can kill a worker mid-chunk). Recorded with the run;
# they never change a number.
DRILL_PREFIX = "drill_"


def index_parameters(run: IndexRun) -> IndexParameters:
    """The run's computation parameters (without drill settings)."""
    return IndexParameters.from_dict({k: v for k, v in run.parameters.items() if not k.startswith(DRILL_PREFIX)})


@transaction.atomic
def index_run_start(*, period: Period, user, parameters: dict | None = None, enqueue: bool = True) -> IndexRun:
    """Queue a run for ``period``; refused while another run of the period is active."""
    given = {**getattr(settings, "INDEX_DEFAULT_PARAMETERS", {}), **(parameters or {})}
    drills = {k: v for k, v in given.items() if k.startswith(DRILL_PREFIX)}
    params = IndexParameters.from_dict({k: v for k, v in given.items() if not k.startswith(DRILL_PREFIX)})
    try:
        with transaction.atomic():
            run = IndexRun.objects.create(
                period=period, framework=period.framework, parameters={**params.to_dict(), **drills},
                code_version=code_version(), created_by=recorded_user(user), heartbeat_at=timezone.now(),
            )
    except IntegrityError:
        raise ValidationError(_("该期次已有指数计算正在排队或进行中，请等待其完成。")) from None
    if enqueue:
        from .tasks import start_index_run

        transaction.on_commit(lambda: start_index_run.delay(run.pk))
    return run


@transaction.atomic
def index_run_publish(*, run: IndexRun, user) -> IndexRun:
    """Switch what readers see for the run's period to ``run`` in one transaction; the
    previously published run stays, for comparison and rollback (publish it again).
    Refused (ValidationError, in :func:`revision_refusal`'s words) while the revision
    check — recorded at the join, made again if other runs were published since — finds
    that the public could difference ``run`` against a publication of the period; a run
    published before is not checked again."""
    run = IndexRun.objects.select_for_update().get(pk=run.pk)
    if run.status != RunStatus.SUCCEEDED:
        raise ValidationError(_("只有计算成功的批次可以发布。"))
    if run.is_published:
        return run
    base = current_base()
    used = (run.provenance or {}).get("base_period")
    if base is not None and used is not None and used != base.period.code:
        raise ValidationError(
            _("该批次按基期 %(used)s 计算，而当前基期为 %(base)s：请重新计算后再发布。") % {"used": used, "base": base.period.code}
        )
    # a run published before (a rollback) tells the public nothing it has not seen: every
    # combination of it with the other publications was public already
    blockers = [] if run.published_at is not None else recorded_revision_blockers(run, lock=True)
    refusal = revision_refusal(run, blockers)
    if refusal:
        raise ValidationError(refusal)
    IndexRun.objects.filter(period=run.period, is_published=True).update(is_published=False)
    run.is_published, run.published_at, run.published_by = True, timezone.now(), recorded_user(user)
    run.save(update_fields=["is_published", "published_at", "published_by"])
    if base is None:  # the first publication fixes the base, recorded with who published
        IndexBase.objects.create(period=run.period, chosen_by=recorded_user(user), note=_("首次发布时确定"))
    transaction.on_commit(lambda: run_published.send(sender=IndexRun, run_id=run.pk))
    return run


def revision_refusal(run: IndexRun, blockers: list[dict]) -> str | None:
    """What staff read when ``blockers`` (:func:`revision_blockers`) stop ``run``'s
    publication, in words, the most direct reason first (cells a few filings apart, cells
    the two runs determine together, groups that are no cell, level distributions); None
    when nothing blocks. The publish refuses with it; the run page shows it beforehand."""
    stacked = [b for b in blockers if b.get("stacked")]
    groups = [b for b in blockers if b.get("group")]
    levels = [b for b in blockers if b.get("levels")]
    blockers = [b for b in blockers if not b.get("stacked") and not b.get("group") and not b.get("levels")]
    if levels and not blockers and not stacked and not groups:
        names = _cell_display_names(levels[:20])
        shown = "、".join(
            _("%(cell)s（%(side)s的 %(changed)s 家中至少 %(least)s 家为第 %(level)s 级）")
            % {"cell": names[(b["kind"], b["code"])], "side": _LEVEL_SIDE[b["side"]], "changed": b["side_size"],
               "least": b["least"], "level": b["level"]}
            for b in levels[:20]
        )
        return (
            _("不能发布：%(count)s 个单元两次公开的等级分布相减，可知新增（或退出）的企业全部或除一家外处于同一等级，"
              "即可推知这些企业各自的等级。请等待下一次定期发布（更多填报审核通过后）再发布。受影响单元：%(cells)s")
            % {"count": len(levels), "cells": shown}
        )
    if groups and not blockers and not stacked:
        shown = "；".join(groups_in_words(groups[:10])) + (_("；等") if len(groups) > 10 else "")
        return (
            _("不能发布：把该批次与该期次已发布的批次联立，公众可算出 %(count)s 组不是统计单元的企业（每组 1 至 %(m)s 家）的"
              "得分合计或差值（例如新批次的重点行业减去已发布批次的县，或不同单元的变化相减得出一家新企业与一家退出企业的合计）。"
              "请等待下一次定期发布再发布。可推算的组：%(groups)s")
            % {"count": len(groups), "m": index_parameters(run).min_cell_size - 1, "groups": shown}
        )
    if stacked and not blockers:
        return (
            _("不能发布：该批次与该期次已发布的批次中，一方隐藏而另一方公开且未变的单元，会使另一方隐藏的 %(count)s 个单元"
              "可由两次发布的合计联立推算。请等待下一次定期发布再发布。受影响单元：%(cells)s")
            % {"count": len(stacked), "cells": "、".join(_cell_display_names(stacked[:20]).values())}
        )
    if blockers:
        names = _cell_display_names(blockers[:20])
        shown = "、".join(
            names[(b["kind"], b["code"])] + "（"
            + (_("对照此前发布的计算编号 %(id)s：") % {"id": b["against"]} if b.get("against") else "")
            + f"{b['n_published']}→{b['n']}，{b.get('changed', abs(b['n'] - b['n_published']))}）"
            for b in blockers[:20]
        )
        more = len(blockers) - 20
        return (
            _("不能发布：与该期次已发布（含此前发布过）的批次相比，%(count)s 个单元只有 1 至 %(m)s 家企业的填报不同（新增、退出、替换或得分改变），"
              "两次发布相减即可得到这几家企业的得分合计或差值。请等待下一次定期发布（更多填报审核通过后）再发布。"
              "受影响单元（企业数变化，不同的填报数）：%(cells)s%(more)s")
            % {"count": len(blockers), "m": index_parameters(run).min_cell_size - 1, "cells": shown,
               "more": _("等") if more > 0 else ""}
        )
    return None


# --- revisions without differencing -----------------------------------------------------------------


def changed_members(run: IndexRun, against: IndexRun) -> dict[tuple[str, str], int]:
    """Per cell, how many filings differ between two runs of one period: the symmetric
    difference of their members (filings in one run only) plus the filings in both whose
    composite changed (a filing returned and accepted again). One query over the two runs'
    scores; then the cells of each differing filing from the codes it recorded."""
    return {key: len(ids) for key, ids in changed_sets(run, against).items()}


def changed_sets(run: IndexRun, against: IndexRun) -> dict[tuple[str, str], frozenset]:
    """Per cell, the filings (submission ids) that differ between two runs of one period
    (see :func:`changed_members`)."""
    from collections import defaultdict

    from django.db import connection

    from .models import RunScore

    table = RunScore._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(a.submission_id, b.submission_id) FROM "
            f"(SELECT submission_id, composite FROM {table} WHERE run_id = %s) a FULL OUTER JOIN "
            f"(SELECT submission_id, composite FROM {table} WHERE run_id = %s) b ON a.submission_id = b.submission_id "
            f"WHERE a.submission_id IS NULL OR b.submission_id IS NULL OR a.composite <> b.composite",
            [run.pk, against.pk],
        )
        differing = [row[0] for row in cursor.fetchall()]
    sets: dict[tuple[str, str], set] = defaultdict(set)
    submissions = list(Submission.objects.filter(pk__in=differing))
    tags = _period_tags(run.period, [s.enterprise_id for s in submissions])
    for submission, key_industries in zip(submissions, tags, strict=True):
        for kind, code in cell_keys_of(submission, key_industries):
            sets[(str(kind), str(code))].add(submission.pk)
    return {key: frozenset(ids) for key, ids in sets.items()}


def _period_tags(period: Period, enterprise_ids: list[int]) -> list[tuple[str, ...]]:
    """Key-industry tags of ``enterprise_ids`` as of ``period`` (its register snapshot; see
    pipeline.period_key_industries), or today's when the period has no snapshot yet."""
    from .models import RegisterSnapshot
    from .pipeline import period_key_industries, snapshot_frame

    snapshot = RegisterSnapshot.objects.filter(period=period).first()
    if snapshot is not None:
        return list(period_key_industries(snapshot_frame(snapshot), enterprise_ids))
    through = Enterprise.key_industries.through
    found: dict[int, list[str]] = {}
    for ent, key in through.objects.filter(enterprise_id__in=enterprise_ids).values_list("enterprise_id", "keyindustry_id"):
        found.setdefault(ent, []).append(key)
    return [tuple(sorted(found.get(e, []))) for e in enterprise_ids]


def recorded_revision_blockers(run: IndexRun, *, lock: bool = False) -> list[dict]:
    """:func:`revision_blockers` of ``run``, taken from the check the join recorded on the
    run (``audit["revision"]``, :func:`revision_record`) when that check was made against
    the runs published so far (the current one and the earlier ones); otherwise (another
    run published since, or no record) checked again. A run's cells and scores never
    change after it succeeded, so the record stays true while those runs are the same (the
    check takes about 5 s at 200,000 filings on two cores and 7 s at 1,000,000: a publish
    request should not repeat it). ``lock``: a publish of another run of the period waits,
    then this one checks against it."""
    if lock:
        IndexRun.objects.select_for_update().filter(period_id=run.period_id, is_published=True).exclude(pk=run.pk).first()
    current, earlier = earlier_publications(run)
    recorded = _record_if_current(run, current, earlier)
    return recorded if recorded is not None else _blockers_for(run, current, earlier)


def still_recorded_blockers(run: IndexRun) -> list[dict] | None:
    """The blockers the join recorded on ``run``, while they still hold (the runs published
    since are the ones it was checked against); None when the check must be made again."""
    return _record_if_current(run, *earlier_publications(run))


def _record_if_current(run: IndexRun, current: IndexRun | None, earlier: list[IndexRun]) -> list[dict] | None:
    recorded = (run.audit or {}).get("revision")
    if (recorded is not None and "blocking_cells" in recorded
            and recorded.get("against") == (current.pk if current else None)
            and sorted(recorded.get("also_against", [])) == sorted(r.pk for r in earlier)):
        return list(recorded["blocking_cells"])
    return None


def revision_record(run: IndexRun, filings=None) -> dict:
    """What the join records on ``run`` (``audit["revision"]``): the runs checked against
    (the one published now, and those published before it) and the blockers found.
    ``filings``: the run's filings as :func:`run_filings` gives them, when the caller has
    them (the join), else they are read."""
    current, earlier = earlier_publications(run)
    return {"against": current.pk if current else None, "also_against": [r.pk for r in earlier],
            "blocking_cells": _blockers_for(run, current, earlier, filings)}


def earlier_publications(run: IndexRun) -> tuple[IndexRun | None, list[IndexRun]]:
    """The run published now for ``run``'s period, and the other runs of the period that
    were ever published (``published_at`` set), newest first — the public has seen them
    all, and may have kept them. Neither includes ``run`` itself."""
    others = list(IndexRun.objects.filter(period_id=run.period_id, published_at__isnull=False)
                  .exclude(pk=run.pk).order_by("-published_at"))
    current = next((r for r in others if r.is_published), None)
    # a run the public saw with the same content as one kept (a nightly re-run of an
    # unchanged period, say) adds nothing to check against: each check costs seconds
    seen = {content_digest(current)} if current is not None else set()
    earlier = []
    for r in others:
        if r is current:
            continue
        digest = content_digest(r)
        if digest not in seen:
            seen.add(digest)
            earlier.append(r)
    return current, earlier


def content_digest(run: IndexRun) -> str:
    """What the public can learn from ``run``, as a digest: its filings and their scores,
    the hidden flag of every cell and the cells whose level distribution is withheld. Two
    runs with the same digest publish the same numbers (the cells follow from these and
    the run's parameters, which decide the hidden flags). Computed once (the scores as
    arrays, :func:`apps.indices.pipeline.read_scores`; any database) and kept in the run's
    provenance."""
    import hashlib

    import numpy as np

    from .pipeline import read_scores

    known = (run.provenance or {}).get("content_digest")
    if known:
        return known
    data = read_scores(run.pk)
    hasher = hashlib.sha256()
    hasher.update(np.ascontiguousarray(data["enterprise_id"], dtype="<i8").tobytes())
    hasher.update(np.ascontiguousarray(data["composite"], dtype="<f8").tobytes())
    for kind, code, suppressed in IndexCell.objects.filter(run=run).order_by("kind", "code").values_list(
            "kind", "code", "suppressed"):
        hasher.update(f"{kind}:{code}:{int(suppressed)},".encode())
    hasher.update(("|" + ",".join(sorted(((run.audit or {}).get("protection") or {}).get("level_hidden") or ()))).encode())
    digest = hasher.hexdigest()[:32]
    IndexRun.objects.filter(pk=run.pk).update(provenance={**(run.provenance or {}), "content_digest": digest})
    run.provenance = {**(run.provenance or {}), "content_digest": digest}
    return digest


def revision_blockers(run: IndexRun, against: IndexRun | None = None) -> list[dict]:
    """Cells and groups that would let the public difference ``run`` against a run of
    its period the public has seen: by default the run published now and every run of the
    period published before it (:func:`earlier_publications`; a blocker found against an
    earlier one carries ``against``, its id), or only ``against`` when given. See
    :func:`blockers_against`. Empty when nothing of the period was ever published."""
    if against is not None:
        return blockers_against(run, against)
    return _blockers_for(run, *earlier_publications(run))


def _blockers_for(run: IndexRun, current: IndexRun | None, earlier: list[IndexRun], filings=None) -> list[dict]:
    out = blockers_against(run, current, filings) if current is not None else []
    for older in earlier:
        out += [{**b, "against": older.pk} for b in blockers_against(run, older, filings)]
    return out


def blockers_against(run: IndexRun, against: IndexRun, filings=None) -> list[dict]:
    """Cells that would let the public difference ``run`` against ``against``: published
    in both, with 1 … min_cell_size − 1 filings that differ between the two — new, gone
    or re-scored. The difference of the two sums is then the total of those few filings (a
    newly accepted filer's exact score when Δn = 1) or, when one filer replaced another
    (Δn = 0), the difference of their two scores; then the cells the two runs determine
    together (:func:`stacked_blockers`), the groups that are no cell
    (:func:`group_blockers`) and the level distributions (:func:`level_blockers`). Each
    blocker: kind, code, n_published, n, changed (filings that differ). ``filings``: ``run``'s
    filings as :func:`run_filings` gives them, when the caller has them."""
    if against.pk == run.pk:
        return []
    m = index_parameters(run).min_cell_size
    changed_by_cell = changed_sets(run, against)
    changed = {key: len(ids) for key, ids in changed_by_cell.items()}
    fields = ("kind", "code", "n", "suppressed")
    old = {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run=against).values(*fields)}
    out = []
    for cell in IndexCell.objects.filter(run=run, suppressed=False).order_by("kind", "code").values(*fields):
        key = (cell["kind"], cell["code"])
        before = old.get(key)
        n_before = 0 if before is None else before["n"]
        if before is not None and before["suppressed"]:
            continue  # the published side was hidden: nothing to subtract
        if before is None and cell["n"] == 0:
            continue
        k = max(changed.get(key, 0), abs(cell["n"] - n_before))
        if 0 < k < m:
            out.append({"kind": cell["kind"], "code": cell["code"], "n_published": n_before, "n": cell["n"],
                        "changed": k})
    out += stacked_blockers(run, against, changed_by_cell)
    out += group_blockers(run, against, changed_by_cell, {(b["kind"], b["code"]) for b in out}, filings)
    out += level_blockers(run, against, changed_by_cell, {(b["kind"], b["code"]) for b in out})
    return out


def level_blockers(run: IndexRun, against: IndexRun, changed: dict[tuple[str, str], frozenset],
                   blocked: set[tuple[str, str]]) -> list[dict]:
    """Cells whose level distribution (filers per level 1–5) the public sees in both runs,
    where the difference of the two distributions tells the levels of the filings that
    differ: the new side (new filers, and re-scored ones after) has at least its number
    minus LEVEL_EXCEPTIONS in one level by the difference alone (max(Δ_k, 0) is a lower
    bound of its count at level k), or the old side (withdrawn filers, re-scored ones
    before) likewise by −Δ — the single-run rule of "all, or all but one, in one level"
    (disclosure.one_level_cells) applied to the group that two publications set apart.
    Cells already blocking are skipped. Each: kind, code, n_published, n, changed, ``levels``
    True, side ("new" / "old") and level (1–5). One cell at a time: sums of several cells'
    differences are not searched (docs/METHOD.md)."""
    import numpy as np
    import pandas as pd

    from .audit import level_counts
    from .disclosure import LEVEL_EXCEPTIONS, levels_withheld
    from .models import RunScore

    candidates = {key for key, ids in changed.items() if ids and key not in blocked}
    if not candidates:
        return []
    fields = ["kind", "code", "n", "suppressed", "level_shares"]
    shown = []
    for r in (against, run):
        frame = pd.DataFrame(list(IndexCell.objects.filter(run=r, suppressed=False).values_list(*fields)), columns=fields)
        keys = list(zip(frame["kind"], frame["code"], strict=True))
        visible = ~levels_withheld(frame, ((r.audit or {}).get("protection") or {}).get("level_hidden"))
        visible &= np.array([bool(s) for s in frame["level_shares"].tolist()], dtype=bool)
        levels = level_counts(frame)
        shown.append({key: (int(n), levels[i]) for i, (key, n) in enumerate(zip(keys, frame["n"], strict=True))
                      if visible[i] and key in candidates})
    both = sorted(set(shown[0]) & set(shown[1]))
    if not both:
        return []
    differing = sorted(set().union(*(changed[key] for key in both)))
    present = [set(RunScore.objects.filter(run=r, submission_id__in=differing).values_list("submission_id", flat=True))
               for r in (against, run)]
    out = []
    for key in both:
        (n_old, before), (n_new, after) = shown[0][key], shown[1][key]
        delta = after - before
        ids = changed[key]
        for side, size, bound in (("new", len(ids & present[1]), np.maximum(delta, 0)),
                                  ("old", len(ids & present[0]), np.maximum(-delta, 0))):
            if size and bound.max() >= max(size - LEVEL_EXCEPTIONS, 1):
                out.append({"kind": key[0], "code": key[1], "n_published": n_old, "n": n_new, "changed": len(ids),
                            "levels": True, "side": side, "side_size": size, "least": int(bound.max()),
                            "level": int(bound.argmax()) + 1})
                break
    return out


def run_filings(run: IndexRun):
    """The filings of ``run``: submission, composite and the codes each filing recorded,
    with its key-industry tags as of the period. From the run's chunks' hand-overs when they
    carry the filings' ids (pipeline.handed_filings: a few blobs instead of the rows, 3.4 s
    for a 1,000,000-filing run), else one COPY of the rows (see
    pipeline.period_key_industries)."""
    import numpy as np
    import pandas as pd

    from .models import RegisterSnapshot, RunScore
    from .pipeline import _code_width, handed_filings, period_key_industries, select_arrays, snapshot_frame

    held = handed_filings(run)
    if held is not None:
        return held

    def text(field):
        return ("text", _code_width(Submission, field))

    data = select_arrays(
        f"FROM {RunScore._meta.db_table} r JOIN {Submission._meta.db_table} s ON s.id = r.submission_id "
        "WHERE r.run_id = %s",
        [("submission", "r.submission_id", "bigint"), ("enterprise_id", "r.enterprise_id", "bigint"),
         ("composite", "r.composite", "double precision")]
        + [(name, f"s.{name}_code", text(f"{name}_code")) for name in ("province", "prefecture", "county", "division")]
        + [("size_class", "s.size_class", text("size_class"))],
        [run.pk], order_by="submission",
    )
    frame = pd.DataFrame(data)
    frame["submission"] = frame["submission"].astype(np.int64)
    snapshot = RegisterSnapshot.objects.filter(period_id=run.period_id).first()
    ids = frame["enterprise_id"].astype(np.int64).tolist()
    if snapshot is not None:
        frame["key_industries"] = period_key_industries(snapshot_frame(snapshot), ids)
    else:
        frame["key_industries"] = _period_tags(run.period, ids)
    return frame


def group_blockers(run: IndexRun, against: IndexRun, changed: dict[tuple[str, str], frozenset],
                   blocked: set[tuple[str, str]], filings=None) -> list[dict]:
    """Groups that are not cells whose total (or signed difference, new − old) of 1 …
    min_cell_size − 1 filings the two runs give away together
    (:func:`apps.indices.revision_groups.two_run_groups`). A group that is exactly the
    changed filings of a cell already blocking (the Δn rule) is not listed again. Each:
    kind "group", code (the pieces with their signs), n (filings), changed, ``group`` True,
    cells (the published cells that give it). ``filings``: ``run``'s filings as
    :func:`run_filings` gives them, when the caller has them."""
    import pandas as pd

    from .revision_groups import two_run_groups

    if not changed:
        fields = ["kind", "code", "suppressed"]
        flags = [set(IndexCell.objects.filter(run=r).values_list(*fields)) for r in (against, run)]
        if flags[0] == flags[1]:
            return []  # the same filings, scores and hidden cells: nothing new to derive
    fields = ["kind", "code", "parent_code", "n", "suppressed"]
    frames = [pd.DataFrame(list(IndexCell.objects.filter(run=r).values_list(*fields)), columns=fields) for r in (against, run)]
    skipped: list[int] = []
    params = index_parameters(run)
    own = run_filings(run) if filings is None else filings
    groups = two_run_groups(frames[0], frames[1], run_filings(against), own, params.min_cell_size,
                            max_unknowns=params.revision_max_unknowns, skipped=skipped)
    direct = {changed.get(key) for key in blocked}
    out = []
    for group in groups:
        members = group.members
        if members is not None and members in direct:
            continue
        out.append(group.record())
    # fail closed: a block too large to solve is recorded and blocks publication
    out += [{"kind": "group", "code": f"block of {size} unknowns", "n_published": 0, "n": 0, "changed": 0,
             "group": True, "cells": [], "unchecked": True, "unknowns": size} for size in skipped]
    return out


_LEVEL_SIDE = {"new": gettext_lazy("新增或重新评分后"), "old": gettext_lazy("退出或重新评分前")}


def _cell_display_names(records: list[dict]) -> dict[tuple[str, str], str]:
    """(kind, code) → "县级“玄武区”" for blocker records (names looked up once per kind)."""
    from .readers import cell_names

    kinds = dict(CellKind.choices)
    out = {}
    for kind in {r["kind"] for r in records}:
        codes = sorted({r["code"] for r in records if r["kind"] == kind})
        names = cell_names(kind, codes)
        for code in codes:
            out[(kind, code)] = str(kinds.get(kind, kind)) if kind == CellKind.NATION else \
                _("%(kind)s“%(name)s”") % {"kind": kinds.get(kind, kind), "name": names.get(code, code)}
    return out


_PIECE_STATUS = {"new": gettext_lazy("新增或重新评分后的"), "old": gettext_lazy("已退出或重新评分前的"),
                 "shared": gettext_lazy("两批次相同的")}
_CELL_RUN = {"both": gettext_lazy("两批次中%(cells)s的变化"), "published": gettext_lazy("已发布批次的%(cells)s"),
             "candidate": gettext_lazy("新批次的%(cells)s")}


def groups_in_words(records: list[dict]) -> list[str]:
    """The group blockers of :func:`group_blockers` in words staff can check: each piece as
    "新增或重新评分后的 南京市玄武区 · 医药制造业 填报", joined by 加 / 减, with the
    number of filings and the published cells the public combines to get it. Names are
    looked up once per kind for all the records."""
    from .readers import cell_names
    from .revision_groups import cell_fields

    pieces = [p for r in records for p in r.get("pieces", ())]
    # the cells each group follows from, named as the other blockers are
    named = _cell_display_names([{"kind": k, "code": c} for r in records
                                 for _run, k, c in map(cell_fields, r.get("cells", ()))])
    # the pieces' places, divisions, sizes and tags
    regions = sorted({p[k] for p in pieces for k in ("prefecture", "county") if p[k]})
    region = cell_names(CellKind.COUNTY, regions) if regions else {}
    division = cell_names(CellKind.DIVISION, sorted({p["division"] for p in pieces})) if pieces else {}
    size = cell_names(CellKind.SIZE, sorted({p["size"] for p in pieces if p["size"]}))
    tag = cell_names(CellKind.KEY_INDUSTRY, sorted({t for p in pieces for t in p["tags"]}))

    def piece(p: dict) -> str:
        parts = [region.get(p["prefecture"], p["prefecture"]) + region.get(p["county"], p["county"]),
                 division.get(p["division"], p["division"])]
        parts += [size.get(p["size"], p["size"])] if p["size"] else []
        parts += [tag.get(t, t) for t in p["tags"]]
        return _("%(status)s %(where)s 填报") % {"status": _PIECE_STATUS.get(p["status"], p["status"]),
                                                  "where": " · ".join(parts)}

    def sources(labels: list[str]) -> str:
        by_run: dict[str, list[str]] = {}
        for run, kind, code in map(cell_fields, labels[:6]):
            by_run.setdefault(run, []).append(named[(kind, code)])
        if len(labels) > 6:  # "等" once, after the last cell shown
            last = list(by_run)[-1]
            by_run[last][-1] += _("等")
        return "；".join(_CELL_RUN.get(run, run) % {"cells": "、".join(shown)} for run, shown in by_run.items())

    out = []
    for r in records:
        if r.get("unchecked"):
            out.append(_("一组含 %(n)s 个未知量的方程过大，未能检查") % {"n": r.get("unknowns", "?")})
            continue
        parts = r.get("pieces", [])
        flip = -1 if parts and all(p["sign"] < 0 for p in parts) else 1  # −(a + b) gives a + b away too
        terms = ""
        for i, p in enumerate(sorted(parts, key=lambda p: -p["sign"] * flip)):
            joiner = "" if i == 0 else (_(" 加 ") if p["sign"] * flip > 0 else _(" 减 "))
            terms += joiner + piece(p)
        out.append(_("%(terms)s（共 %(n)s 家，由%(cells)s推算）") % {"terms": terms or r["code"], "n": r["n"],
                                                                    "cells": sources(r["cells"])})
    return out


def county_divisions(run: IndexRun) -> set[str]:
    """The (county, division) intersections that hold filings of ``run``, as
    "prefecture|division|county" from the codes each filing recorded (one grouped query)."""
    from django.db import connection

    from .models import RunScore

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT s.prefecture_code, s.division_code, s.county_code FROM {RunScore._meta.db_table} r "
            f"JOIN {Submission._meta.db_table} s ON s.id = r.submission_id WHERE r.run_id = %s",
            [run.pk],
        )
        return {f"{p}|{d}|{c}" for p, d, c in cursor.fetchall()}


def stacked_blockers(run: IndexRun, against: IndexRun, changed: dict[tuple[str, str], frozenset]) -> list[dict]:
    """Hidden cells of either run that the two runs' partition equations determine
    together (a cell one run hides and the other publishes unchanged is known in both:
    apps.indices.disclosure.across_runs_determined). Each: kind, code, n_published, n,
    changed 0 and ``stacked`` True."""
    import pandas as pd

    from .disclosure import across_runs_determined

    fields = ["kind", "code", "parent_code", "n", "suppressed"]
    frames = [pd.DataFrame(list(IndexCell.objects.filter(run=r).values_list(*fields)), columns=fields) for r in (against, run)]
    found = across_runs_determined(frames[0], frames[1], changed, index_parameters(run).min_cell_size,
                                   lambda: (county_divisions(against), county_divisions(run)))
    n_of = [dict(zip(zip(f["kind"], f["code"], strict=True), f["n"], strict=True)) for f in frames]
    return [
        {"kind": k, "code": c, "n_published": int(n_of[0].get((k, c), 0)), "n": int(n_of[1].get((k, c), 0)),
         "changed": 0, "stacked": True}
        for k, c in zip(found["kind"], found["code"], strict=True)
    ]


# --- not measured ---------------------------------------------------------------------------------


def not_measured_frame(period: Period, framework, register=None):
    """Per accepted filing of ``period``: how many of the quantitative (KPI) indicators that
    apply to it were answered 未统计 (``not_measured``) and how many it was asked
    (``kpi_asked``): the framework's common KPIs plus the KPIs of each industry module that
    applies to the filing — decided as the index run decides it, from the industry class
    the filing recorded and the key-industry tags of the period's ``register`` (its
    snapshot; see pipeline.as_of_period_industries, period_key_industries). One query over
    the filings' codes and one over the marked answers (a partial index holds only those).
    Columns: enterprise_id, not_measured, kpi_asked. The index run has each chunk count its
    own filings (:func:`not_measured_counts`, pipeline.score_chunk); this reads the period
    at once."""
    import numpy as np
    import pandas as pd

    from apps.filings.models import SubmissionStatus
    from apps.filings.packing import compiled_for

    from . import pipeline

    accepted = Submission.objects.filter(period=period, status=SubmissionStatus.ACCEPTED)
    # column-wise (binary COPY on PostgreSQL): one row per filing
    filings = pipeline.select_arrays(
        f"FROM {Submission._meta.db_table} s JOIN {Enterprise._meta.db_table} e ON e.id = s.enterprise_id "
        "WHERE s.period_id = %s AND s.status = %s",
        [("enterprise_id", "s.enterprise_id", "bigint"),
         ("industry", "coalesce(nullif(s.industry_code, ''), e.industry_id)", ("text", 4)),
         ("division", "s.division_code", ("text", 2))],
        [period.pk, SubmissionStatus.ACCEPTED], order_by="enterprise_id",
    )
    enterprise_ids = filings["enterprise_id"].astype(np.int64)
    compiled = compiled_for(framework)
    membership = None
    if compiled.n_modules and len(enterprise_ids) and _module_kpis(framework)["module"].notna().any():
        industry = pipeline.as_of_period_industries(filings["industry"], filings["division"])
        if register is None:
            register = pipeline.snapshot_frame(pipeline.period_snapshot(period))
        tags = pipeline.period_key_industries(register, enterprise_ids)
        tag_ids, tag_tuples = pipeline._tuple_ids(tags)
        membership = pipeline._module_membership(compiled, industry, tag_ids, tag_tuples)
    not_measured, kpi_asked = not_measured_counts(framework, enterprise_ids, membership, marked_answers(accepted))
    frame = pd.DataFrame({"enterprise_id": enterprise_ids})
    frame["not_measured"] = not_measured
    frame["kpi_asked"] = kpi_asked
    return frame


def _module_kpis(framework):
    import pandas as pd

    from apps.frameworks.models import Indicator

    return pd.DataFrame(list(Indicator.objects.filter(framework=framework, kind="kpi").values_list("pk", "module__code")),
                        columns=["indicator", "module"])


def marked_answers(submissions):
    """The 未统计 KPI answers of ``submissions`` counted per enterprise and module: a frame
    of enterprise_id, module (None for a common KPI), c. ``submissions`` is a queryset of
    filings or an array of their ids (a chunk's: one array parameter on PostgreSQL, which
    the partial index of marked answers answers without reading the others)."""
    import numpy as np
    import pandas as pd
    from django.db import connection
    from django.db.models import Count

    from apps.filings.models import Answer
    from apps.frameworks.models import Indicator, IndustryModule

    if isinstance(submissions, np.ndarray):
        ids = submissions.astype(np.int64).tolist()
        if connection.vendor != "postgresql":
            submissions = Submission.objects.filter(pk__in=ids)
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT s.enterprise_id, m.code, count(*) FROM {Answer._meta.db_table} a "
                    f"JOIN {Submission._meta.db_table} s ON s.id = a.submission_id "
                    f"JOIN {Indicator._meta.db_table} i ON i.id = a.indicator_id "
                    f"LEFT JOIN {IndustryModule._meta.db_table} m ON m.id = i.module_id "
                    "WHERE a.not_measured AND i.kind = 'kpi' AND a.submission_id = ANY(%s::bigint[]) GROUP BY 1, 2",
                    # the array as its text, joined here: psycopg adapting a list of 85,000
                    # ints one by one cost more than the query
                    ["{" + ",".join(map(str, ids)) + "}"])
                rows = cursor.fetchall()
            return pd.DataFrame(rows, columns=["enterprise_id", "module", "c"])
    return pd.DataFrame(list(
        submissions.filter(answers__not_measured=True, answers__indicator__kind="kpi")
        .values_list("enterprise_id", "answers__indicator__module__code").annotate(c=Count("answers")).order_by()
    ), columns=["enterprise_id", "module", "c"])


def not_measured_counts(framework, enterprise_ids, membership, marked):
    """Per filing (``enterprise_ids``, one each): the 未统计 answers that count and the KPIs
    it was asked, as two float arrays. ``membership`` is the filings' module matrix
    (pipeline._module_membership; None when no module applies); ``marked`` the filings'
    :func:`marked_answers`. A KPI is asked when it is common or its module applies, and a
    mark counts only where its KPI was asked."""
    import numpy as np
    import pandas as pd

    from apps.filings.packing import compiled_for

    kpis = _module_kpis(framework)
    common = int(kpis["module"].isna().sum())
    enterprise_ids = np.asarray(enterprise_ids, dtype=np.int64)
    asked = np.full(len(enterprise_ids), float(common))
    compiled = compiled_for(framework)
    if not (compiled.n_modules and len(enterprise_ids) and kpis["module"].notna().any()):
        membership = None  # no module KPI: only the common ones are asked
    if membership is not None:
        per_module = kpis["module"].value_counts()
        module_kpis = np.array([float(per_module.get(code, 0)) for code in compiled.module_codes])
        asked = asked + membership.astype(float) @ module_kpis
    if membership is not None and len(marked):  # a mark counts only where its module applies
        row = pd.Index(enterprise_ids).get_indexer(marked["enterprise_id"])
        column = pd.Index(list(compiled.module_codes)).get_indexer(marked["module"].fillna(""))
        applies = marked["module"].isna().to_numpy() | (
            (row >= 0) & (column >= 0) & membership[np.maximum(row, 0), np.maximum(column, 0)])
        marked = marked.loc[applies]
    elif len(marked):
        marked = marked.loc[marked["module"].isna()]
    counts = marked.groupby("enterprise_id")["c"].sum()
    not_measured = pd.Series(enterprise_ids).map(counts).fillna(0).astype(float).to_numpy()
    return not_measured, asked


# --- the base period of the development index ------------------------------------------------------


def current_base() -> IndexBase | None:
    """The chosen base period (None before anything was published or chosen)."""
    return IndexBase.objects.filter(active=True).select_related("period").first()


@transaction.atomic
def index_base_choose(*, period: Period, user, note: str = "") -> IndexBase:
    """Staff choose ``period`` as the base of the development index (national = 100). The
    period needs a published run. The previous choice stays recorded (inactive); runs of
    other periods must be re-computed against the new base before they can be published."""
    if not IndexRun.objects.filter(period=period, is_published=True).exists():
        raise ValidationError(_("基期须为已发布指数的期次。"))
    current = current_base()
    if current is not None and current.period_id == period.pk:
        return current
    IndexBase.objects.filter(active=True).update(active=False)
    return IndexBase.objects.create(period=period, chosen_by=recorded_user(user), note=note)


def base_of_run(run: IndexRun) -> tuple[str | None, IndexRun | None, float | None]:
    """(base period code, base run, base national mean) for a run: the run's own period
    when it is the base or when no base is chosen yet (national index 100, base run None,
    mean None); otherwise the published run of the base period and its national mean."""
    base = current_base()
    if base is None or base.period_id == run.period_id:
        return (base.period.code if base else run.period.code), None, None
    base_run = IndexRun.objects.filter(period_id=base.period_id, is_published=True).first()
    if base_run is None:
        return base.period.code, None, None
    mean = IndexCell.objects.filter(run=base_run, kind=CellKind.NATION).values_list("mean", flat=True).first()
    return base.period.code, base_run, mean


# --- provenance -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the running code, or PORTAL_CODE_VERSION (the release tag) when the
    code is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(settings.BASE_DIR), capture_output=True, text=True, timeout=5, check=True
        )
        commit = out.stdout.strip()
        if len(commit) == 40:
            return commit
    except (OSError, subprocess.SubprocessError):
        pass
    return settings.PORTAL_CODE_VERSION


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions of the libraries the numbers depend on."""
    out = {"python": platform.python_version()}
    for name in ("numpy", "pandas", "scipy", "django"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = ""
    return out


def published_run(period: Period) -> IndexRun | None:
    """The run readers see for ``period`` (None before anything is published)."""
    return IndexRun.objects.filter(period=period, is_published=True).select_related("period", "framework").first()


def cell_keys_of(submission: Submission, key_industries=None) -> list[tuple[str, str]]:
    """The cells a filing contributes to: from the codes it recorded and its key-industry
    tags as of its period (``key_industries``, else read: :func:`_period_tags`)."""
    if key_industries is None:
        key_industries = _period_tags(submission.period, [submission.enterprise_id])[0]
    keys = [
        (CellKind.NATION, "CN"),
        (CellKind.PROVINCE, submission.province_code),
        (CellKind.PREFECTURE, submission.prefecture_code),
        (CellKind.COUNTY, submission.county_code),
        (CellKind.DIVISION, submission.division_code),
        (CellKind.SIZE, submission.size_class),
        (CellKind.PROVINCE_DIVISION, f"{submission.province_code}|{submission.division_code}"),
        (CellKind.PREFECTURE_DIVISION, f"{submission.prefecture_code}|{submission.division_code}"),
    ]
    keys += [(CellKind.KEY_INDUSTRY, k) for k in key_industries]
    return keys


def index_mark_stale(*, submission: Submission) -> int:
    """After a filing is accepted (or rescored) past a published run: flag the cells it
    belongs to as stale, so pages can say their numbers are out of date. Returns the count."""
    run = published_run(submission.period)
    if run is None:
        return 0
    from django.db.models import Q

    condition = Q()
    for kind, code in cell_keys_of(submission):
        condition |= Q(kind=kind, code=code)
    updated = IndexCell.objects.filter(condition, run=run, stale=False).update(stale=True)
    now = timezone.now()
    # the run's version (readers.run_version) moves with every new flag and with stale_since
    first = IndexRun.objects.filter(pk=run.pk, stale_since__isnull=True).update(stale_since=now, stale_marked_at=now)
    if updated and not first:
        IndexRun.objects.filter(pk=run.pk).update(stale_marked_at=now)
    return updated


def previously_published_run(period: Period) -> IndexRun | None:
    """The run that was published for ``period`` before the current one (None if none)."""
    return (
        IndexRun.objects.filter(period=period, is_published=False, published_at__isnull=False, status=RunStatus.SUCCEEDED)
        .select_related("period").order_by("-published_at").first()
    )


@transaction.atomic
def index_run_rollback(*, period: Period, user) -> IndexRun:
    """Publish again the run that was published for ``period`` before the current one."""
    previous = previously_published_run(period)
    if previous is None:
        raise ValidationError(_("该期次没有更早发布的批次，无法回滚。"))
    return index_run_publish(run=previous, user=user)
