"""The data migration that fills ``Submission.industry_code`` for filings made before it
(filings/0008): today's industry where it still lies inside the division the filing
recorded, "" where the enterprise has since changed division. Run on real rows (an empty
database never builds its query: the first version failed only on a populated one)."""

import importlib

import pytest
from django.apps import apps

from apps.enterprises.models import Enterprise
from apps.filings.models import Submission
from tests.factories import industry
from tests.indices.population import build

pytestmark = pytest.mark.django_db

migration = importlib.import_module("apps.filings.migrations.0008_submission_industry_code")


def test_old_filings_get_todays_industry_only_inside_their_recorded_division():
    build(n=12, periods=("2025",))
    filed = Enterprise.objects.filter(division_code="39", submissions__isnull=False).order_by("pk")
    in_class = filed.first()
    in_class.industry = industry("3911", "计算机整机制造")  # same division 39, now a class
    in_class.save()
    moved = filed.last()
    moved.industry = industry("36", "汽车制造业")  # another division since it filed
    moved.save()
    Submission.objects.update(industry_code="")  # as before the migration

    migration.fill_from_today(apps, None)

    codes = dict(Submission.objects.values_list("enterprise_id", "industry_code"))
    assert codes[in_class.pk] == "3911"
    assert codes[moved.pk] == ""  # recorded 39, today 36: not a record of the time
    unchanged = Submission.objects.exclude(enterprise__in=[in_class, moved])
    assert all(s.industry_code == s.enterprise.industry_id for s in unchanged.select_related("enterprise"))
    assert unchanged.exists()
