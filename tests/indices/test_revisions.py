"""Revisions without differencing (issue 8, finding 3): a re-run of a published period is
not published while a cell differs from the published one by a few filings; the public
learns only that the period is being updated, insiders keep the stale marks."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.filings.models import Submission, SubmissionStatus
from apps.indices.models import IndexCell, RunScore
from apps.indices.readers import PUBLIC, Reader, cells_for
from apps.indices.services import blockers_against, index_mark_stale, index_run_publish, revision_blockers
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
    assert "县级“滨江区”（" in " ".join(refused.value.messages)
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


# --- two runs together: a group of filings that is no cell ---------------------------------------


def replacement_population():
    """docs/METHOD.md "两次发布联立：不是单元的企业组", example 2, in the database. Division
    27 has a class tagged 生物医药 (2710) and one that is not (2720). County 320102: filers
    1–5 tagged and 6–10 untagged; county 320104: 11–15 untagged and 16 tagged; 西湖区
    (330106, division 39): 31–36. Enterprises 21–25 (320102: 21–24 tagged, 25 untagged)
    and 26–30 (320104, untagged) are registered but file only after the first publication."""
    import datetime

    import numpy as np

    from apps.filings.models import Period
    from apps.filings.packing import compiled_for
    from apps.filings.synthetic import synthetic_answers
    from apps.frameworks import scoring
    from tests.factories import EnterpriseFactory, county, industry, key_industry
    from tests.filings.builders import published_framework

    framework = published_framework()
    period = Period.objects.create(code="2026", name="2026年度", framework=framework,
                                   opens_on=datetime.date(2026, 1, 1), closes_on=datetime.date(2026, 12, 31))
    biomedicine = key_industry("biomedicine", "生物医药")
    tagged_class, plain_class = industry("2710", "化学药品原料药制造"), industry("2720", "化学药品制剂制造")
    biomedicine.industries.add(tagged_class)
    xuanwu, qinhuai = county(("320102", "玄武区"), ("320100", "南京市")), county(("320104", "秦淮区"), ("320100", "南京市"))
    xihu = county(("330106", "西湖区"), ("330100", "杭州市"))

    def enterprise(i, region, cls):
        e = EnterpriseFactory(region=region, industry=cls, name=f"联立测试企业{i:02d}")
        if cls == tagged_class:
            e.key_industries.add(biomedicine)
        return e

    people = {i: enterprise(i, xuanwu, tagged_class if i <= 5 else plain_class) for i in range(1, 11)}
    people |= {i: enterprise(i, qinhuai, plain_class) for i in range(11, 16)}
    people[16] = enterprise(16, qinhuai, tagged_class)
    people |= {i: enterprise(i, xuanwu, tagged_class if i <= 24 else plain_class) for i in range(21, 26)}
    people |= {i: enterprise(i, qinhuai, plain_class) for i in range(26, 31)}
    people |= {i: enterprise(i, xihu, industry("39")) for i in range(31, 37)}
    compiled = compiled_for(framework)
    rng = np.random.default_rng(8)
    answers = synthetic_answers(compiled, rng.uniform(0.5, 4.5, len(people)), rng)
    answers[:, compiled.module_index >= 0] = np.nan
    packed = {i: scoring.pack_answers(row) for i, row in zip(people, answers, strict=True)}

    def file(i):
        e = people[i]
        return Submission.objects.create(
            enterprise=e, period=period, framework=framework, status=SubmissionStatus.ACCEPTED,
            province_code=e.province_code, prefecture_code=e.prefecture_code, county_code=e.county_code,
            division_code=e.division_code, industry_code=e.industry_id, size_class=e.size_class,
            answer_vector=packed[i],
        )

    first = {i: file(i) for i in [*range(1, 17), *range(31, 37)]}
    return period, people, first, file


def replacement_revision(**params):
    """The population above with its first run published, filer 16 returned and filers
    21–30 accepted, and the re-run (``params``: its parameters). Returns (published run,
    re-run, the enterprises by number)."""
    period, people, first, file = replacement_population()
    published = index_run_publish(run=inline_run(period), user=None)
    first[16].status = SubmissionStatus.RETURNED
    first[16].save(update_fields=["status"])
    for i in range(21, 31):
        index_mark_stale(submission=file(i))
    return published, inline_run(period, **params), people


def test_a_group_that_is_no_cell_blocks_a_real_publish():
    """Every cell the re-run and the published run share changes by 0 or at least five
    filings, and no hidden cell follows from the two runs: the Δn rule and the stacked
    equations pass. But (玄武区′ − 玄武区) − (生物医药′ − 生物医药) is the late filer 25
    plus the returned filer 16: the publish is refused with that group, and the published
    run stays."""
    published, rerun, people = replacement_revision()

    def total(run, kind, code):
        cell = IndexCell.objects.get(run=run, kind=kind, code=code)
        assert not cell.suppressed, (kind, code)  # public in both runs
        return cell.n * cell.mean

    moved = (total(rerun, "county", "320102") - total(published, "county", "320102")
             - (total(rerun, "key_industry", "biomedicine") - total(published, "key_industry", "biomedicine")))
    late = RunScore.objects.get(run=rerun, enterprise_id=people[25].pk).composite
    gone = RunScore.objects.get(run=published, enterprise_id=people[16].pk).composite
    assert moved == pytest.approx(late + gone, abs=1e-6)
    blockers = revision_blockers(rerun)
    # nothing but groups: no shared cell changed by 1–4 filings, no stacked cell
    assert blockers and all(b.get("group") for b in blockers), blockers
    assert any(b["n"] == 2 and {"both:county:320102", "both:key_industry:biomedicine"} <= set(b["cells"])
               for b in blockers), blockers
    with pytest.raises(ValidationError, match="把该批次与该期次已发布的批次联立") as refused:
        index_run_publish(run=rerun, user=None)
    # in words staff can check: the two pieces with their places and the cells used
    assert ("新增或重新评分后的 南京市玄武区 · 医药制造业 填报 加 已退出或重新评分前的 南京市秦淮区 · 医药制造业 填报（共 2 家，"
            "由两批次中县级“玄武区”、县级“秦淮区”") in " ".join(refused.value.messages)
    published.refresh_from_db()
    rerun.refresh_from_db()
    assert published.is_published and not rerun.is_published


def test_a_revision_too_large_to_check_is_recorded_and_not_published():
    """Fail closed: a block of the two-run equations with more unknowns than the run's
    ``revision_max_unknowns`` is not solved; the run records it as not checked, and the
    publish is refused saying so."""
    published, rerun, _ = replacement_revision(revision_max_unknowns=1)
    recorded = rerun.audit["revision"]["blocking_cells"]
    assert recorded and all(b["unchecked"] and b["unknowns"] > 1 for b in recorded), recorded
    with pytest.raises(ValidationError, match="未能检查"):
        index_run_publish(run=rerun, user=None)
    published.refresh_from_db()
    assert published.is_published


# --- the publish takes the check recorded at the join -----------------------------------------------


def test_publishing_takes_the_revision_check_recorded_at_the_join(django_assert_max_num_queries):
    """The join checked the re-run against the published run and recorded it; the publish
    request reuses that record (a handful of queries) instead of checking again (at
    200,000 filings the check takes about 11 s)."""
    _, p2026 = build()
    published = index_run_publish(run=inline_run(p2026), user=None)
    rerun = inline_run(p2026)
    assert rerun.audit["revision"] == {"against": published.pk, "also_against": [], "blocking_cells": []}
    with django_assert_max_num_queries(12):
        index_run_publish(run=rerun, user=None)
    rerun.refresh_from_db()
    assert rerun.is_published


def test_a_check_recorded_against_an_older_publication_is_made_again():
    """Two runs computed before anything was published record "nothing to check". One is
    published; the other differs from it by a late filer: its record no longer speaks for
    the period, so the publish checks again and refuses."""
    _, p2026 = build()
    before = inline_run(p2026)
    late = accept_late_filing(p2026)
    after = inline_run(p2026)
    assert before.audit["revision"] == after.audit["revision"] == {"against": None, "also_against": [],
                                                                   "blocking_cells": []}
    index_run_publish(run=after, user=None)
    with pytest.raises(ValidationError, match="不能发布"):
        index_run_publish(run=before, user=None)
    assert ("county", late.county_code) in {(b["kind"], b["code"]) for b in revision_blockers(before)}


# --- two runs' level distributions -------------------------------------------------------------------


def late_filers_in_binjiang(period, templates):
    """One new enterprise of 滨江区 (330108, division 39) per template filing, each
    accepted with that filing's answers (so with its level)."""
    from tests.factories import EnterpriseFactory, county, industry

    binjiang = county(("330108", "滨江区"), ("330100", "杭州市"))
    made = []
    for i, template in enumerate(templates):
        e = EnterpriseFactory(region=binjiang, industry=industry("39"), name=f"滨江晚报企业{i}")
        made.append(Submission.objects.create(
            enterprise=e, period=period, framework=period.framework, status=SubmissionStatus.ACCEPTED,
            province_code=e.province_code, prefecture_code=e.prefecture_code, county_code=e.county_code,
            division_code=e.division_code, industry_code=e.industry_id, size_class=e.size_class,
            answer_vector=template.answer_vector,
        ))
    return made


def test_five_late_filers_of_one_level_are_not_told_by_the_two_level_distributions():
    """Five late filers, all of one level, in one county: every cell they enter changes by
    five filings (the Δn rule lets it through), but the difference of the two published
    level distributions is five filers at that level — each late filer's level. Refused,
    with the cells and the level; five late filers of different levels are published."""
    _, p2026 = build()
    published = index_run_publish(run=inline_run(p2026), user=None)
    scores = {s.submission_id: s.level for s in RunScore.objects.filter(run=published)}
    template = Submission.objects.get(pk=next(iter(scores)))
    level = scores[template.pk]
    late_filers_in_binjiang(p2026, [template] * 5)
    rerun = inline_run(p2026)
    blockers = revision_blockers(rerun)
    assert blockers and all(b.get("levels") for b in blockers), blockers
    county = next(b for b in blockers if (b["kind"], b["code"]) == ("county", "330108"))
    assert county == {"kind": "county", "code": "330108", "n_published": county["n_published"],
                      "n": county["n_published"] + 5, "changed": 5, "levels": True, "side": "new", "side_size": 5,
                      "least": 5, "level": level}
    # what the public computes: the two published distributions differ by five at that level
    old = IndexCell.objects.get(run=published, kind="county", code="330108")
    new = IndexCell.objects.get(run=rerun, kind="county", code="330108")
    moved = [round(b * new.n - a * old.n) for a, b in zip(old.level_shares, new.level_shares, strict=True)]
    assert moved == [5 if k == level else 0 for k in range(1, 6)]
    with pytest.raises(ValidationError, match="等级分布相减") as refused:
        index_run_publish(run=rerun, user=None)
    assert f"县级“滨江区”（新增或重新评分后的 5 家中至少 5 家为第 {level} 级）" in " ".join(refused.value.messages)


def test_five_late_filers_of_different_levels_are_published():
    _, p2026 = build()
    published = index_run_publish(run=inline_run(p2026), user=None)
    by_level: dict[int, list[int]] = {}
    for s in RunScore.objects.filter(run=published).order_by("submission_id"):
        by_level.setdefault(s.level, []).append(s.submission_id)
    # no level more than twice among the five
    picks = [ids[i] for i in range(2) for ids in by_level.values() if len(ids) > i][:5]
    levels = [lv for p in picks for lv, ids in by_level.items() if p in ids]
    assert len(picks) == 5 and max(levels.count(lv) for lv in levels) <= 2, levels
    late_filers_in_binjiang(p2026, list(Submission.objects.filter(pk__in=picks)))
    rerun = inline_run(p2026)
    assert revision_blockers(rerun) == []
    assert index_run_publish(run=rerun, user=None).is_published


# --- every publication the public has seen ---------------------------------------------------------


def test_a_rerun_is_checked_against_every_earlier_publication_of_the_period():
    """A (published) → B = A + five late filers of different levels (published: five
    differ) → C = A + one other late filer (the five returned). C differs from B by six
    filings, so the check against the run published now lets it through; but the public
    kept A, and C − A is the one new filer's score. C is checked against A too, and
    refused."""
    _, p2026 = build()
    first = index_run_publish(run=inline_run(p2026), user=None)
    by_level: dict[int, list[int]] = {}
    for s in RunScore.objects.filter(run=first).order_by("submission_id"):
        by_level.setdefault(s.level, []).append(s.submission_id)
    picks = [ids[i] for i in range(2) for ids in by_level.values() if len(ids) > i][:5]
    templates = list(Submission.objects.filter(pk__in=picks).order_by("pk"))
    five = late_filers_in_binjiang(p2026, templates)
    second = index_run_publish(run=inline_run(p2026), user=None)
    Submission.objects.filter(pk__in=[s.pk for s in five]).update(status=SubmissionStatus.RETURNED)
    late = late_filers_in_binjiang(p2026, templates[:1])[0]  # the level of one of the five
    third = inline_run(p2026)
    # against B alone: nothing blocks …
    assert revision_blockers(third, against=second) == []
    # … against A: the county differs by one filer, C − A is its score
    old = IndexCell.objects.get(run=first, kind="county", code="330108")
    new = IndexCell.objects.get(run=third, kind="county", code="330108")
    score = RunScore.objects.get(run=third, submission_id=late.pk).composite
    assert new.n * new.mean - old.n * old.mean == pytest.approx(score, abs=1e-6)
    blockers = {(b["kind"], b["code"]): b for b in revision_blockers(third)}
    assert blockers[("county", "330108")] == {"kind": "county", "code": "330108", "n_published": old.n, "n": new.n,
                                              "changed": 1, "against": first.pk}
    assert third.audit["revision"]["also_against"] == [first.pk]
    with pytest.raises(ValidationError, match="不能发布") as refused:
        index_run_publish(run=third, user=None)
    assert f"县级“滨江区”（对照此前发布的计算编号 {first.pk}：{old.n}→{new.n}，1）" in " ".join(refused.value.messages)
    second.refresh_from_db()
    assert second.is_published


def test_rolling_back_to_a_run_the_public_has_seen_is_not_refused():
    """A run published before tells the public nothing new when it is published again:
    the rollback is not checked. Here A (minimum cell size 5) and B (the period re-run
    with minimum cell size 1 after one filer of 滨江区 was replaced by another with the same
    answers, so that B's own check lets it through) differ by two filings; rolling back
    from B to A is allowed."""
    from apps.indices.services import index_run_rollback

    _, p2026 = build()
    first = index_run_publish(run=inline_run(p2026), user=None)
    gone = Submission.objects.filter(period=p2026, county_code="330108").order_by("pk").first()
    Submission.objects.filter(pk=gone.pk).update(status=SubmissionStatus.RETURNED)
    accept_late_filing(p2026)  # with the answers of the first filing of the county: gone's
    second = index_run_publish(run=inline_run(p2026, min_cell_size=1), user=None)
    assert second.is_published
    assert {(b["kind"], b["code"]) for b in blockers_against(first, second)} >= {("county", "330108")}
    assert index_run_rollback(period=p2026, user=None).pk == first.pk
    first.refresh_from_db()
    assert first.is_published


def test_earlier_publications_with_the_same_content_are_checked_once():
    """Runs the public saw with the same content (a re-run of an unchanged period) are one
    publication for the check: their digests are equal, the second is not checked again.
    A run with other content (a late filer) has another digest."""
    from apps.indices.services import content_digest, earlier_publications

    _, p2026 = build()
    first = index_run_publish(run=inline_run(p2026), user=None)
    second = index_run_publish(run=inline_run(p2026), user=None)
    third = index_run_publish(run=inline_run(p2026), user=None)
    assert content_digest(first) == content_digest(second) == content_digest(third)
    accept_late_filing(p2026)
    rerun = inline_run(p2026)
    assert content_digest(rerun) != content_digest(third)
    current, earlier = earlier_publications(rerun)
    assert current.pk == third.pk and earlier == []
    assert rerun.audit["revision"]["also_against"] == []
    # the digest is kept on the run
    first.refresh_from_db()
    assert first.provenance["content_digest"] == content_digest(third)


def test_cells_two_runs_determine_together_are_named_in_the_refusal():
    """The refusal for cells one run hides and the two runs determine together (stacked
    blockers, disclosure.across_runs_determined — their own test is above) names them as
    the other refusals do; a Δn blocker among them comes first."""
    from apps.indices.services import revision_refusal

    _, p2026 = build()
    run = inline_run(p2026)
    stacked = [{"kind": "county", "code": "330108", "n_published": 12, "n": 12, "changed": 0, "stacked": True},
               {"kind": "nation", "code": "CN", "n_published": 54, "n": 54, "changed": 0, "stacked": True}]
    text = revision_refusal(run, stacked)
    assert text.startswith("不能发布：该批次与该期次已发布的批次中，一方隐藏而另一方公开且未变的单元")
    assert "县级“滨江区”" in text and "全国" in text and "330108" not in text
    direct = {"kind": "county", "code": "320102", "n_published": 10, "n": 11, "changed": 1}
    assert "县级“玄武区”（10→11，1）" in revision_refusal(run, [*stacked, direct])
    assert revision_refusal(run, []) is None
