"""The index commands as staff run them: seed_demo on the real reference data, then
compute_indices."""

import pytest
from django.core.management import CommandError, call_command

from apps.enterprises.models import Enterprise
from apps.filings.models import Period, Submission
from apps.indices.models import IndexRun, RunStatus

pytestmark = pytest.mark.django_db


def test_seed_demo_then_compute_indices_inline_and_publish(capsys):
    call_command("load_reference", verbosity=0)
    call_command("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish")
    call_command("seed_demo", "--enterprises", "300", "--periods", "2", "--seed", "5")
    assert Enterprise.objects.filter(name__startswith="合成制造企业5-").count() == 300
    periods = list(Period.objects.order_by("opens_on"))
    assert len(periods) == 2
    filed = Submission.objects.filter(period=periods[-1], status="accepted").count()
    assert 200 < filed < 300  # about 85 % file in a period
    call_command("compute_indices", "--period", periods[-1].code, "--inline", "--publish")
    run = IndexRun.objects.get(period=periods[-1])
    assert run.status == RunStatus.SUCCEEDED and run.is_published and run.submissions == filed
    assert "已发布" in capsys.readouterr().out


def test_compute_indices_refuses_an_unknown_period():
    with pytest.raises(CommandError, match="没有代码为 1999 的期次"):
        call_command("compute_indices", "--period", "1999", "--inline")
