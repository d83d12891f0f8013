"""As of the period for industry modules and key-industry tags (issue 8): a filing's
modules follow the industry class it recorded and the key-industry tags of the period's
register snapshot, and so does the revision check. Retagging or reclassifying an
enterprise after a period leaves its runs unchanged."""

import numpy as np
import pytest

from apps.enterprises.models import Enterprise
from apps.filings.models import Submission
from apps.filings.packing import compiled_for
from apps.filings.services import enterprise_location
from apps.frameworks import scoring
from apps.frameworks.exchange import import_framework
from apps.frameworks.services import framework_publish
from apps.indices.models import IndexCell, RunScore
from apps.indices.services import changed_members, index_run_publish, revision_blockers
from tests.factories import industry, key_industry
from tests.filings.builders import SPEC
from tests.indices.population import build
from tests.indices.test_index_runs import CELL_FIELDS, inline_run

pytestmark = pytest.mark.django_db


def module_framework():
    """The test framework with its module "bio" applying to the class 271 (化学药品原料药制造,
    inside division 27) and to the key industry "electronics"."""
    industry("271", "化学药品原料药制造")
    industry("272", "化学药品制剂制造")
    key_industry()
    modules = [{**SPEC["modules"][0], "industries": ["271"], "key_industries": ["electronics"]}]
    return framework_publish(framework=import_framework({**SPEC, "code": "qmd-asof", "modules": modules}))


def give_module_answer(submission):
    """Answer the module indicator B1 at the lowest level, so the module changes the score."""
    compiled = compiled_for(submission.period.framework)
    row = scoring.unpack_answers(submission.answer_vector, compiled).copy()
    row[list(compiled.indicator_codes).index("B1")] = 1.0
    submission.answer_vector = scoring.pack_answers(row)
    submission.save(update_fields=["answer_vector"])
    with_module = scoring.score_matrix(compiled, row[None, :], [[True]]).composite[0]
    without = scoring.score_matrix(compiled, row[None, :], [[False]]).composite[0]
    assert abs(with_module - without) > 0.5
    return with_module, without


def cells(run):
    return {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run=run).values(*CELL_FIELDS)}


def scores(run):
    return dict(RunScore.objects.filter(run=run).values_list("enterprise_id", "composite"))


def test_retagging_after_a_run_leaves_the_period_and_its_revision_check_unchanged():
    p2025, _ = build(framework=module_framework())
    tagged, other = Submission.objects.filter(period=p2025).order_by("pk")[:2]
    tagged.enterprise.key_industries.add("electronics")
    with_module, _ = give_module_answer(tagged)
    give_module_answer(other)
    first = index_run_publish(run=inline_run(p2025), user=None)
    assert scores(first)[tagged.enterprise_id] == pytest.approx(with_module)
    assert IndexCell.objects.get(run=first, kind="key_industry", code="electronics").n == 1
    # after the run the tag moves from one enterprise to the other
    tagged.enterprise.key_industries.clear()
    other.enterprise.key_industries.add("electronics")
    again = inline_run(p2025)
    assert scores(again) == scores(first)
    assert cells(again) == cells(first)
    assert changed_members(again, first) == {} and revision_blockers(again) == []
    # a filing of the (then) tagged enterprise re-scored: the revision check counts it in
    # the key industry it belonged to in the period, not in today's
    tagged.refresh_from_db()
    compiled = compiled_for(p2025.framework)
    row = scoring.unpack_answers(tagged.answer_vector, compiled).copy()
    row[list(compiled.indicator_codes).index("B1")] = 4.0
    tagged.answer_vector = scoring.pack_answers(row)
    tagged.save(update_fields=["answer_vector"])
    third = inline_run(p2025)
    changed = changed_members(third, first)
    assert changed[("key_industry", "electronics")] == 1
    assert changed[("county", tagged.county_code)] == 1


def test_a_move_to_another_class_in_the_division_leaves_past_scores_unchanged():
    p2025, _ = build(framework=module_framework())
    submission = Submission.objects.filter(period=p2025).order_by("pk").first()
    enterprise = submission.enterprise
    enterprise.industry = industry("271")
    enterprise.save()
    # the filing is submitted again: it records the class through enterprise_location
    Submission.objects.filter(pk=submission.pk).update(**enterprise_location(Enterprise.objects.get(pk=enterprise.pk)))
    submission.refresh_from_db()
    assert (submission.industry_code, submission.division_code) == ("271", "27")
    with_module, without = give_module_answer(submission)
    first = inline_run(p2025)
    assert scores(first)[enterprise.pk] == pytest.approx(with_module)
    moved = Enterprise.objects.get(pk=enterprise.pk)
    moved.industry = industry("272")  # same division 27, a class the module does not cover
    moved.save()
    again = inline_run(p2025)
    assert scores(again)[enterprise.pk] == pytest.approx(with_module)
    assert not np.isclose(scores(again)[enterprise.pk], without)
    assert cells(again) == cells(first)


def test_the_filing_records_its_industry_class():
    (p2025,) = build(n=10, periods=("2025",), framework=module_framework())
    enterprise = Submission.objects.filter(period=p2025).first().enterprise
    assert enterprise_location(enterprise)["industry_code"] == enterprise.industry_id
    assert Submission.objects.filter(period=p2025, industry_code="").count() == 0


def kpi_module_framework():
    """The test framework with a KPI B2 in its module "bio" (division 27): one common KPI
    (K1) and one module KPI."""
    industry("27", "医药制造业")
    b2 = {"code": "B2", "module": "bio", "kind": "kpi", "question": "批次放行一次合格率", "unit": "%",
          "direction": "higher", "min_value": 0, "max_value": 100, "thresholds": [[0, 0], [100, 100]], "weight": 0.5}
    dimensions = [dict(d) for d in SPEC["dimensions"]]
    dimensions[1] = {**dimensions[1], "indicators": [*dimensions[1]["indicators"], b2]}
    return framework_publish(framework=import_framework({**SPEC, "code": "qmd-nm", "dimensions": dimensions}))


def test_the_not_measured_share_counts_the_module_kpis_that_apply():
    """docs/METHOD.md 四 "未统计占比", worked example: 9 filings; 2 recorded division 27
    (module "bio" applies: K1 and B2 asked), 7 others (K1 only): 2 × 2 + 7 × 1 = 11 KPI
    answers asked. Marked 未统计: one bio filer both (2), one other filer K1 (1); a stray mark
    on B2 by a filer the module does not apply to is not counted. Share 3 / 11 (the common
    KPIs alone gave 2 / 9)."""
    from apps.filings.models import Answer
    from apps.frameworks.models import Indicator

    (p2025,) = build(n=10, periods=("2025",), framework=kpi_module_framework())
    filings = list(Submission.objects.filter(period=p2025).order_by("pk"))
    assert len(filings) == 9
    bio_a, bio_b, other, stray = filings[0], filings[1], filings[2], filings[3]
    Submission.objects.filter(pk__in=[bio_a.pk, bio_b.pk]).update(division_code="27", industry_code="27")
    k1, b2 = (Indicator.objects.get(framework=p2025.framework, code=c) for c in ("K1", "B2"))
    for submission, indicator in ((bio_a, k1), (bio_a, b2), (other, k1), (stray, b2)):
        Answer.objects.create(submission=submission, indicator=indicator, not_measured=True)
    run = inline_run(p2025)
    nation = IndexCell.objects.get(run=run, kind="nation", code="CN")
    assert nation.n == 9 and nation.not_measured_share == pytest.approx(3 / 11)
    division = IndexCell.objects.get(run=run, kind="division", code="27")
    assert division.n == 2 and division.not_measured_share == pytest.approx(2 / 4)


def test_a_filing_without_a_recorded_class_takes_todays_industry_inside_its_division():
    """A filing written before filings recorded their class (industry_code "") is scored
    with the enterprise's industry today while it lies inside the division it recorded."""
    p2025, _ = build(framework=module_framework())
    submission = Submission.objects.filter(period=p2025).order_by("pk").first()
    Enterprise.objects.filter(pk=submission.enterprise_id).update(industry="271")
    Submission.objects.filter(pk=submission.pk).update(industry_code="", division_code="27")
    submission.refresh_from_db()
    with_module, without = give_module_answer(submission)
    assert scores(inline_run(p2025))[submission.enterprise_id] == pytest.approx(with_module)
    Enterprise.objects.filter(pk=submission.enterprise_id).update(industry="272")  # the module does not cover 272
    assert scores(inline_run(p2025))[submission.enterprise_id] == pytest.approx(without)


def test_a_filing_of_an_enterprise_awaiting_confirmation_is_not_counted():
    """Issue 9: a self-registered enterprise counts once its authority confirms it — its
    accepted filing is left out of the run's scores and cells until then."""
    p2025, _ = build(framework=module_framework())
    pending = Submission.objects.filter(period=p2025).order_by("pk").first()
    counted = inline_run(p2025)
    nation = IndexCell.objects.get(run=counted, kind="nation").n
    assert pending.enterprise_id in scores(counted)
    Enterprise.objects.filter(pk=pending.enterprise_id).update(awaiting_confirmation=True)
    run = inline_run(p2025)
    assert pending.enterprise_id not in scores(run)
    assert len(scores(run)) == len(scores(counted)) - 1
    assert IndexCell.objects.get(run=run, kind="nation").n == nation - 1
