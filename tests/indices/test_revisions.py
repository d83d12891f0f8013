"""Revisions without differencing (issue 8, finding 3): a re-run of a published period is
not published while a cell differs from the published one by a few filings; the public
learns only that the period is being updated, insiders keep the stale marks."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.filings.models import Submission, SubmissionStatus
from apps.indices.models import IndexCell, RunScore
from apps.indices.readers import PUBLIC, Reader, cells_for
from apps.indices.services import index_mark_stale, index_run_publish, revision_blockers
from tests.factories import authority_user, prefecture
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache(fresh_caches):
    """Every test here starts and ends with empty caches (tests/conftest.py fresh_caches)."""


def accept_late_filing(period, county_code="330108"):
    """A filing accepted after the period's run was published: an enterprise of the county
    that had not filed, with the answers of another filing."""
    filed = Submission.objects.filter(period=period).values_list("enterprise_id", flat=True)
    template = Submission.objects.filter(period=period, county_code=county_code).first()
    enterprise = (template.enterprise.__class__.objects.filter(county_code=county_code)
                  .exclude(pk__in=filed).first())  # fmt: skip
    return Submission.objects.create(
        enterprise=enterprise, period=period, framework=period.framework, status=SubmissionStatus.ACCEPTED,
        province_code=enterprise.province_code, prefecture_code=enterprise.prefecture_code,
        county_code=enterprise.county_code, division_code=enterprise.division_code, size_class=enterprise.size_class,
        answer_vector=template.answer_vector,
    )


def test_a_rerun_one_filing_apart_is_not_published_and_staff_see_why(client):
    _, p2026 = build()
    published = index_run_publish(run=inline_run(p2026), user=None)
    late = accept_late_filing(p2026)
    index_mark_stale(submission=late)
    rerun = inline_run(p2026)
    # the finding: both runs public, (n+1)·new mean − n·old mean = the new filer's score
    old = IndexCell.objects.get(run=published, kind="county", code="330108")
    new = IndexCell.objects.get(run=rerun, kind="county", code="330108")
    assert not old.suppressed and not new.suppressed and new.n == old.n + 1
    score = RunScore.objects.get(run=rerun, enterprise_id=late.enterprise_id).composite
    assert new.n * new.mean - old.n * old.mean == pytest.approx(score, abs=1e-6)
    # refused, with the cells that block, recorded on the run at the join
    blockers = revision_blockers(rerun)
    keys = {(b["kind"], b["code"]) for b in blockers}
    assert {("nation", "CN"), ("county", "330108"), ("prefecture", "330100"), ("province", "330000")} <= keys
    assert rerun.audit["revision"]["against"] == published.pk
    assert {(b["kind"], b["code"]) for b in rerun.audit["revision"]["blocking_cells"]} == keys
    with pytest.raises(ValidationError, match="不能发布") as refused:
        index_run_publish(run=rerun, user=None)
    assert "county:330108（" in " ".join(refused.value.messages)
    published.refresh_from_db()
    assert published.is_published
    # the public: "being updated", no cell marked; insiders keep the marks
    assert not any(c["stale"] for c in cells_for(PUBLIC, published, "county"))
    hangzhou = authority_user(prefecture(("330100", "杭州市")))
    assert cells_for(Reader.of(hangzhou), published, "county", codes=("330108",))[0]["stale"]
    html = client.get(reverse("open:home")).content.decode()
    assert 'data-testid="being-updated"' in html and "数据更新中" in html and "stale-mark" not in html


def test_a_rerun_without_changes_is_published():
    _, p2026 = build()
    index_run_publish(run=inline_run(p2026), user=None)
    rerun = inline_run(p2026)
    assert revision_blockers(rerun) == []
    assert index_run_publish(run=rerun, user=None).is_published


def test_a_rerun_where_one_filer_replaced_another_is_not_published():
    """Δn = 0 but the members changed: one accepted filing withdrawn (returned for
    correction), another accepted in the same county. The two published sums differ by
    the new filer's score minus the old filer's: the rule counts the filings that differ
    (the set difference of the two runs' members), not only Δn."""
    _, p2026 = build()
    published = index_run_publish(run=inline_run(p2026), user=None)
    gone = Submission.objects.filter(period=p2026, county_code="330108", status=SubmissionStatus.ACCEPTED).first()
    gone.status = SubmissionStatus.RETURNED
    gone.save(update_fields=["status"])
    late = accept_late_filing(p2026)
    rerun = inline_run(p2026)
    old = IndexCell.objects.get(run=published, kind="county", code="330108")
    new = IndexCell.objects.get(run=rerun, kind="county", code="330108")
    assert not old.suppressed and not new.suppressed and new.n == old.n
    new_score = RunScore.objects.get(run=rerun, enterprise_id=late.enterprise_id).composite
    old_score = RunScore.objects.get(run=published, enterprise_id=gone.enterprise_id).composite
    # the finding: the difference of the two published sums is a difference of two scores
    assert new.n * new.mean - old.n * old.mean == pytest.approx(new_score - old_score, abs=1e-6)
    blockers = {(b["kind"], b["code"]): b for b in revision_blockers(rerun)}
    assert blockers[("county", "330108")] == {"kind": "county", "code": "330108", "n_published": old.n, "n": new.n,
                                              "changed": 2}
    assert ("nation", "CN") in blockers and blockers[("nation", "CN")]["n"] == blockers[("nation", "CN")]["n_published"]
    with pytest.raises(ValidationError, match="不能发布"):
        index_run_publish(run=rerun, user=None)
    # the filing of another county whose cells did not change is no blocker there
    assert ("county", "320102") not in blockers


# --- two runs stacked: a cell hidden in one run, published unchanged in the other ------------------


def hand_cells(suppressed: dict[str, bool], n: dict[str, int]):
    """A prefecture P (published, n = sum) with three counties."""
    import pandas as pd

    rows = [("prefecture", "P", "", sum(n.values()), False)]
    rows += [("county", c, "P", n[c], suppressed[c]) for c in ("c1", "c2", "c3")]
    return pd.DataFrame(rows, columns=["kind", "code", "parent_code", "n", "suppressed"])


def test_two_patterns_that_are_each_safe_give_a_hidden_county_away_together():
    """The worked example of docs/METHOD.md ("两次发布联立"): published run: c1 (10)
    published, c2 (3, small) and c3 (6, its complement) hidden. The re-run has five more
    filers in c1 (15) and hides c2 with c1 instead, publishing c3 (6, unchanged). Each run
    alone protects c2; together, c3 is known in the first run too, and P − c1 − c3 = c2."""  # noqa: RUF002
    from apps.indices.disclosure import across_runs_determined

    published = hand_cells({"c1": False, "c2": True, "c3": True}, {"c1": 10, "c2": 3, "c3": 6})
    candidate = hand_cells({"c1": True, "c2": True, "c3": False}, {"c1": 15, "c2": 3, "c3": 6})
    five = frozenset(range(5))  # the five late filers of c1
    changed = {("county", "c1"): five, ("prefecture", "P"): five}
    found = across_runs_determined(published, candidate, changed)
    # P is published in both runs, so the five late filers' total is public (P − P′), and
    # c1 is known in the re-run as well (its published sum + that total): c2 follows in both
    assert found.to_dict("records") == [
        {"kind": "county", "code": "c2", "n": 3, "run": "candidate"},
        {"kind": "county", "code": "c2", "n": 3, "run": "published"},
    ]
    # the same pattern kept (c3 the complement in both runs): nothing follows
    same = hand_cells({"c1": False, "c2": True, "c3": True}, {"c1": 15, "c2": 3, "c3": 6})
    assert across_runs_determined(published, same, changed).empty
    # c3 changed between the runs (a re-scored filer whose change no cell published in both
    # tells): c3 is no longer known in the first run; the re-run still gives c2 away
    # (P′ − c3′ − (c1 + the five late filers' total))
    rescored = across_runs_determined(published, candidate, {**changed, ("county", "c3"): frozenset({99})})
    assert rescored.to_dict("records") == [{"kind": "county", "code": "c2", "n": 3, "run": "candidate"}]
