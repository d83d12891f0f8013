"""Ministry staff run indices in the portal: start a run, watch it, preview its changes
against the published run, publish with confirmation, roll back; and they hold exactly the
admin rights that work needs (frameworks, periods, index runs — not Celery's scheduler).
Authorities, enterprises and experts are refused."""

import time

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.indices import pipeline
from apps.indices.models import IndexRun, RunStatus
from apps.indices.services import index_run_publish, index_run_start
from tests.factories import UserFactory, authority_user, enterprise_user, province
from tests.indices.population import build

pytestmark = pytest.mark.django_db


def ministry_user(**kw):
    return UserFactory(role=Role.MINISTRY, is_staff=True, username=kw.pop("username", "ministry"), **kw)


def client_for(client, user):
    client.force_login(user)
    return client


def _wait(run, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} still {run.status} after {seconds} s")


def test_others_are_refused(client):
    build(n=10)
    for user in (authority_user(province(), username="jiangsu"), enterprise_user(username="filer"),
                 UserFactory(role=Role.EXPERT, username="expert")):
        c = client_for(client, user)
        assert c.get("/index-runs/").status_code == 403
        assert c.post("/index-runs/start/", {"period": "2026"}).status_code == 403
        assert c.get("/index-runs/periods/2026/rollback/").status_code == 403
        c.logout()
    assert not IndexRun.objects.exists()
    response = client.get("/index-runs/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_others_cannot_publish_a_run(client):
    _, p2026 = build(n=10)
    run = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    c = client_for(client, authority_user(province(), username="jiangsu"))
    assert c.post(f"/index-runs/{run.pk}/publish/", {"confirm": "yes"}).status_code == 403
    assert c.get(f"/index-runs/{run.pk}/").status_code == 403
    run.refresh_from_db()
    assert not run.is_published


def test_ministry_admin_rights_are_exactly_its_work(client):
    build(n=4)
    c = client_for(client, ministry_user())
    for url in ("/admin/indices/indexrun/", "/admin/frameworks/framework/", "/admin/filings/period/",
                "/admin/filings/period/add/", "/admin/reference/region/"):
        assert c.get(url).status_code == 200, url
    for url in ("/admin/django_celery_beat/periodictask/", "/admin/django_celery_beat/crontabschedule/",
                "/admin/accounts/user/", "/admin/auth/group/"):
        assert c.get(url).status_code == 403, url
    index = c.get("/admin/").content.decode()
    assert "/admin/indices/indexrun/" in index and "django_celery_beat" not in index


def test_ministry_rights_follow_the_role_not_a_membership():
    user = ministry_user()
    assert user.has_perm("indices.change_indexrun") and user.has_perm("frameworks.add_framework")
    assert not user.has_perm("django_celery_beat.change_periodictask")
    user.role = Role.EXPERT
    user.save()
    from apps.accounts.models import User

    assert not User.objects.get(pk=user.pk).has_perm("indices.change_indexrun")


def test_publish_needs_the_confirmation_and_rollback_restores_the_previous_run(client):
    _, p2026 = build(n=20)
    first = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    index_run_publish(run=first, user=None)
    second = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    c = client_for(client, ministry_user())

    page = c.get(f"/index-runs/{second.pk}/").content.decode()
    assert 'data-testid="changes"' in page and f"计算编号 {first.pk}" in page  # compared with the published run
    response = c.post(f"/index-runs/{second.pk}/publish/", {})
    assert response.status_code == 400 and "我已核对以上变化" in response.content.decode()
    second.refresh_from_db()
    assert not second.is_published

    response = c.post(f"/index-runs/{second.pk}/publish/", {"confirm": "yes"})
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.is_published and second.published_by.username == "ministry"

    page = c.get(f"/index-runs/{second.pk}/").content.decode()
    assert 'data-testid="rollback-link"' in page
    assert c.post("/index-runs/periods/2026/rollback/", {}).status_code == 400
    assert c.post("/index-runs/periods/2026/rollback/", {"confirm": "yes"}).status_code == 302
    assert list(IndexRun.objects.filter(period=p2026, is_published=True)) == [first]


def test_rollback_without_an_earlier_publication_says_so(client):
    build(n=6)
    c = client_for(client, ministry_user())
    response = c.post("/index-runs/periods/2026/rollback/", {"confirm": "yes"})
    assert response.status_code == 400 and "没有更早发布" in response.content.decode()


def test_preview_lists_cells_whose_numbers_change(client):
    _, p2026 = build(n=30)
    first = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    index_run_publish(run=first, user=None)
    # three more filings accepted in 玄武区 since: the next run differs there, nation, Jiangsu...
    from apps.filings.models import Submission, SubmissionStatus

    Submission.objects.filter(period=p2026, county_code="320102").update(status=SubmissionStatus.SUBMITTED)
    second = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    from apps.indices.preview import run_preview

    preview = run_preview(run=second, against=first, user=ministry_user())
    by_kind = {k.kind: k for k in preview.kinds}
    assert by_kind["nation"].changed == 1
    nation = by_kind["nation"].rows[0]
    assert nation.new_n < nation.old_n
    county_codes = {r.code for r in by_kind["county"].rows}
    assert "320102" in county_codes and "330106" not in county_codes  # Hangzhou's counties did not change
    assert {r.name for r in by_kind["county"].rows} >= {"玄武区"}


@pytest.mark.worker
def test_ministry_starts_previews_and_publishes_with_a_real_worker(celery_worker, client):
    _, p2026 = build(n=30)
    c = client_for(client, ministry_user())
    page = c.get("/index-runs/").content.decode()
    assert "计算2026年度指数" in page
    response = c.post("/index-runs/start/", {"period": "2026"})
    assert response.status_code == 302
    run = IndexRun.objects.get(period=p2026)
    assert run.created_by.username == "ministry"
    # a second start while the first is active is refused with a message, not a second run
    c.post("/index-runs/start/", {"period": "2026"})
    assert IndexRun.objects.filter(period=p2026).count() == 1
    run = _wait(run)
    assert run.status == RunStatus.SUCCEEDED, run.error_log + celery_worker.log(celery_worker.test_started_at)
    fragment = c.get(f"/index-runs/{run.pk}/progress/").content.decode()
    assert 'data-status="succeeded"' in fragment and "hx-trigger" not in fragment
    page = c.get(f"/index-runs/{run.pk}/publish/").content.decode()
    assert "尚未发布过指数" in page
    assert c.post(f"/index-runs/{run.pk}/publish/", {"confirm": "yes"}).status_code == 302
    run.refresh_from_db()
    assert run.is_published


def test_the_run_page_shows_the_protection_audit(client):
    _, p2026 = build(small_county=True)
    run = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    audit = run.audit["protection"]
    client_for(client, ministry_user())
    html = client.get(reverse("indices:run", args=[run.pk])).content.decode()
    assert 'data-testid="protection-audit"' in html
    assert f"审核 {audit['audited']} 个主隐藏单元" in html and "±10%" in html
    assert f"增加隐藏 {audit['widened']} 个单元，仍未达标 0 个" in html


def test_the_run_page_says_beforehand_whether_the_revision_check_lets_it_be_published(client):
    """Staff see the recorded revision check on the run page: a re-run one filer apart is
    refused there in the words the publish would use, with no publish link; a re-run
    without changes passes; a run computed before another was published is checked
    again at the publish; a run published before needs no check."""
    from tests.indices.test_revisions import accept_late_filing

    _, p2026 = build()
    c = client_for(client, ministry_user())

    def revision_check(run):
        html = c.get(reverse("indices:run", args=[run.pk])).content.decode()
        start = html.index('data-testid="revision-check"')
        return html[start - 80 : html.index("</", start)], 'data-testid="publish-link"' in html

    first = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    index_run_publish(run=first, user=None)
    same = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    text, link = revision_check(same)
    assert 'data-state="clear"' in text and "修订检查通过" in text and link
    accept_late_filing(p2026)
    apart = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    text, link = revision_check(apart)
    assert 'data-state="blocked"' in text and "不能发布" in text and "县级“滨江区”（" in text and not link
    # another run published since "same" was computed: its record no longer speaks for it
    index_run_publish(run=same, user=None)
    other = pipeline.run_inline(run_id=index_run_start(period=p2026, user=None, enqueue=False).pk)
    index_run_publish(run=first, user=None)  # a rollback: first again, then other is stale
    text, link = revision_check(same)
    assert 'data-state="republish"' in text and link
    assert other.audit["revision"]["against"] == same.pk
    text, link = revision_check(other)
    assert 'data-state="unknown"' in text and link
