"""As-of-period frames (issue 8, finding 6): a period's cells come from what each filing
recorded when it was submitted and from the register snapshot of the period, so that
enterprises moving or registering later leave past cells unchanged."""

import pytest

from apps.enterprises.models import Enterprise
from apps.filings.models import Submission
from apps.filings.services import enterprise_location
from apps.indices.models import IndexCell, RegisterSnapshot
from apps.indices.services import index_run_publish
from tests.factories import EnterpriseFactory, county
from tests.indices.population import build
from tests.indices.test_index_runs import CELL_FIELDS, inline_run

pytestmark = pytest.mark.django_db


def cells(run):
    return {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run=run).values(*CELL_FIELDS)}


def test_a_moved_enterprise_and_a_new_one_leave_past_cells_unchanged():
    p2025, p2026 = build()
    first = index_run_publish(run=inline_run(p2025), user=None)
    snapshot = RegisterSnapshot.objects.get(period=p2025)
    assert snapshot.enterprises == 60 and first.provenance["register"]["snapshot"] == snapshot.pk
    before = cells(first)
    # an enterprise of 玄武区 that filed in 2025 moves to 杭州 滨江区; another registers in 姑苏区
    mover = Enterprise.objects.filter(county_code="320102", submissions__period=p2025).first()
    mover.region = county(("330108", "滨江区"), ("330100", "杭州市"))
    mover.save()
    assert mover.county_code == "330108"
    EnterpriseFactory(region=county(("320508", "姑苏区"), ("320500", "苏州市")), name="新登记企业")
    again = inline_run(p2025)
    after = cells(again)
    assert after.keys() == before.keys()
    for key, cell in before.items():
        assert after[key] == cell, key
    assert again.provenance["register"] == first.provenance["register"]
    # the period's filing still says where the enterprise was
    assert Submission.objects.get(enterprise=mover, period=p2025).county_code == "320102"


def test_the_submission_records_size_and_revenue_when_filed():
    enterprise = EnterpriseFactory()
    location = enterprise_location(enterprise)
    assert location["revenue"] == enterprise.revenue and location["size_class"] == enterprise.size_class
    assert location["county_code"] == enterprise.county_code


def test_industry_modules_follow_the_division_the_filing_recorded():
    """An enterprise of 医药制造业 (division 27, module "bio") filed 2025 with the module's
    indicator B1; it moved to division 39 since. Re-running 2025 still scores B1."""
    import numpy as np

    from apps.filings.packing import compiled_for
    from apps.frameworks import scoring
    from apps.indices.models import RunScore
    from apps.reference.models import Industry

    p2025, _ = build()
    submission = Submission.objects.filter(period=p2025).select_related("enterprise").first()
    enterprise = submission.enterprise
    enterprise.industry = Industry.objects.get(code="27")
    enterprise.save()
    compiled = compiled_for(p2025.framework)
    row = scoring.unpack_answers(submission.answer_vector, compiled).copy()
    row[list(compiled.indicator_codes).index("B1")] = 1.0  # the lowest rubric level
    submission.answer_vector = scoring.pack_answers(row)
    submission.division_code = "27"
    submission.save(update_fields=["answer_vector", "division_code"])
    with_module = scoring.score_matrix(compiled, row[None, :], [[True]]).composite[0]
    without = scoring.score_matrix(compiled, row[None, :], [[False]]).composite[0]
    assert abs(with_module - without) > 0.5  # the module matters for this filing

    first = RunScore.objects.get(run=inline_run(p2025), enterprise_id=enterprise.pk).composite
    assert first == pytest.approx(with_module)
    moved = Enterprise.objects.get(pk=enterprise.pk)
    moved.industry = Industry.objects.get(code="39")
    moved.save()
    again = RunScore.objects.get(run=inline_run(p2025), enterprise_id=enterprise.pk).composite
    assert again == pytest.approx(first) and not np.isclose(again, without)
