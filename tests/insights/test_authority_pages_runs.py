"""Authority pages before and while runs are published: the empty state, a publication
that changes the kept pages, the key-industry tab of a run with tagged filings and an
active run's progress. The tests that read published runs share one world in
test_authority_pages.py."""

import pytest
from django.core.cache import cache

from apps.accounts.models import Role
from apps.indices.services import index_run_publish
from tests.factories import UserFactory, authority_user, province
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run
from tests.insights.test_authority_pages import export_url, table_rows, text, url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache(fresh_caches):
    """Every test here starts and ends with empty caches (tests/conftest.py fresh_caches)."""


def test_empty_state_without_a_published_run(client):
    client.force_login(UserFactory(role=Role.MINISTRY))
    for name in ("dashboard", "rankings", "trends", "report"):
        html = text(client.get(url(name)))
        assert 'data-testid="empty-state"' in html and "尚未发布指数" in html, name
    assert client.get(url("enterprises")).status_code == 200


def test_publishing_a_run_changes_the_kept_pages(client):
    p2025, p2026 = build()
    index_run_publish(run=inline_run(p2025), user=None)
    client.force_login(authority_user(province()))
    before = {page: text(client.get(url(page))) for page in ("dashboard", "trends")}
    assert "发布的2025年度指数" in before["dashboard"]
    assert [r["period_name"] for r in table_rows(before["trends"], "trend-table")] == ["2025年度"]
    index_run_publish(run=inline_run(p2026), user=None)
    dashboard = text(client.get(url("dashboard")))
    assert "发布的2026年度指数" in dashboard
    assert [r["period_name"] for r in table_rows(text(client.get(url("trends"))), "trend-table")] == ["2025年度", "2026年度"]
    # the earlier period is still there, from its own kept page
    assert "发布的2025年度指数" in text(client.get(url("dashboard", period="2025")))


def test_key_industries_for_the_ministry_only(client, django_assert_num_queries):
    from apps.enterprises.models import Enterprise
    from tests.factories import key_industry

    _p2025, p2026 = build()
    tag = key_industry()
    for e in Enterprise.objects.filter(division_code="39"):
        e.key_industries.add(tag)
    index_run_publish(run=inline_run(p2026), user=None)
    client.force_login(UserFactory(role=Role.MINISTRY))
    cache.clear()
    # session, user, unread notices, which runs are published, the runs, key-industry cells,
    # their names, the nation
    with django_assert_num_queries(8):
        html = text(client.get(url("rankings", tab="key")))
    rows = table_rows(html, "ranking-table")
    assert [(r["code"], r["name"]) for r in rows] == [("electronics", "电子制造")] and rows[0]["mean"] != "—"
    assert "电子制造" in client.get(export_url("key_industries")).content.decode("utf-8-sig")
    client.force_login(authority_user(province()))
    html = text(client.get(url("rankings", tab="key")))
    assert 'data-testid="key-note"' in html and 'data-testid="ranking-table"' not in html


def test_run_status_shows_progress_of_an_active_run(client):
    """The dashboard's progress banner (loaded by htmx after the page)."""
    from apps.indices.models import IndexRun, RunStatus
    from apps.indices.services import index_run_start
    from tests.factories import UserFactory, enterprise_user
    from tests.indices.population import build

    _, p2026 = build(n=10)
    run = index_run_start(period=p2026, user=None, enqueue=False)
    IndexRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress=45)
    client.force_login(UserFactory(role="ministry"))
    resp = client.get("/insights/run-status/")
    assert resp.status_code == 200 and "45%" in resp.text and run.period.name in resp.text and "hx-trigger" in resp.text
    IndexRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, progress=100)
    resp = client.get("/insights/run-status/")
    assert "45%" not in resp.text and "hx-trigger" not in resp.text  # polling stops
    client.force_login(enterprise_user())
    assert client.get("/insights/run-status/").status_code == 403
