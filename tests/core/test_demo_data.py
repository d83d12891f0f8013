"""The data `make run` loads: reference data, the framework, the demo set with published
indices — the whole chain, so that a newcomer's first page has something to show."""

import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.filings.models import Submission, SubmissionScore
from apps.indices.models import IndexRun

pytestmark = pytest.mark.django_db


def test_make_run_data_chain_is_complete_and_idempotent():
    call_command("load_reference", verbosity=0)
    call_command("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish")
    call_command("load_demo", "--enterprises", "60")
    usernames = set(User.objects.values_list("username", flat=True))
    assert {"admin", "ministry", "jiangsu", "nanjing", "xuanwu", "zhejiang", "expert", "enterprise"} <= usernames
    assert Submission.objects.filter(period__code="2025").exists() and Submission.objects.filter(period__code="2026").exists()
    assert SubmissionScore.objects.count() == Submission.objects.filter(status="accepted").count()
    published = IndexRun.objects.filter(is_published=True, status="succeeded")
    assert sorted(published.values_list("period__code", flat=True)) == ["2025", "2026"]
    # the demo enterprise log-in keeps the open period to itself
    demo = User.objects.get(username="enterprise").enterprise
    assert not Submission.objects.filter(enterprise=demo, period__code="2026").exists()
    counts = (User.objects.count(), Submission.objects.count(), IndexRun.objects.count())
    call_command("load_demo", "--enterprises", "60")
    assert (User.objects.count(), Submission.objects.count(), IndexRun.objects.count()) == counts
