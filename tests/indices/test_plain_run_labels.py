"""Index runs are named in plain words (the period and when the run started), as the rest
of the portal names them: the admin's messages and compute_indices never say "批次 #n"."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.utils import timezone

from apps.indices import pipeline
from apps.indices.models import IndexRun
from tests.indices.population import build
from tests.indices.test_run_pages import client_for, ministry_user

pytestmark = pytest.mark.django_db

NUMBERED = re.compile(r"#\s*\d|批次")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_messages_name_the_period_and_the_start_time(client):
    _, p2026 = build(n=10)
    c = client_for(client, ministry_user())
    started = _messages(c.post("/admin/filings/period/", {"action": "compute_indices", "_selected_action": [p2026.pk]},
                               follow=True))
    run = IndexRun.objects.get(period=p2026)
    at = timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M")
    assert started == [f"2026年度指数计算（{at} 开始）已排队，等待计算。"]
    pipeline.run_inline(run_id=run.pk)
    published = _messages(c.post("/admin/indices/indexrun/", {"action": "publish_runs", "_selected_action": [run.pk]},
                                 follow=True))
    assert published == [f"2026年度指数计算（{at} 开始）已发布。"]
    assert not any(NUMBERED.search(m) for m in started + published)
    assert not NUMBERED.search(str(run))


def test_compute_indices_speaks_in_plain_words(capsys):
    build(n=10)
    call_command("compute_indices", "--period", "2026", "--inline", "--publish")
    out = capsys.readouterr().out
    assert "2026年度指数计算（" in out and "已完成" in out and "已发布" in out
    assert not NUMBERED.search(out), out
