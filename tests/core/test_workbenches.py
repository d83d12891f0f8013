"""The home page is each role's workbench: counts of the jurisdiction only, the enterprise's
filing with its next action, the expert's empty state, the ministry's runs and health."""

import datetime

import pytest

from apps.core.workbenches import platform_health
from apps.filings.models import Period, SubmissionStatus
from apps.indices.models import IndexRun, RunStatus
from tests.core.workbench_world import RETURN_REASON, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def home_as(client, username):
    from apps.accounts.models import User

    client.force_login(User.objects.get(username=username))
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def text_of(html: str, name: str) -> str:
    import re

    m = re.search(rf'data-testid="{name}"[^>]*>(.*?)</', html, re.S)
    assert m, f"no {name}"
    return m.group(1).strip()


def test_authority_counts_its_jurisdiction_only(client, world):
    html = home_as(client, "nanjing")
    assert text_of(html, "pending") == "2"
    assert text_of(html, "returned") == "1"
    assert text_of(html, "overdue") == "0"
    assert text_of(html, "not-filed") == "1"
    assert text_of(html, "coverage-pct") == "16.7%"
    assert 'data-testid="below-target"' in html and "本期目标 60%" in html
    assert "工作台测试企业g0" not in html  # Suzhou is outside Nanjing
    html = home_as(client, "jiangsu")
    assert text_of(html, "pending") == "3" and text_of(html, "not-filed") == "2"


def test_not_filed_matches_the_list_it_links_to(client, world):
    html = home_as(client, "nanjing")
    listing = client.get("/insights/enterprises/?period=2026&status=none").content.decode()
    assert "工作台测试企业x5" in listing and "工作台测试企业x4" not in listing
    assert text_of(html, "not-filed") == "1"


def test_overdue_after_the_deadline(client, world):
    period = world["period"]
    Period.objects.filter(pk=period.pk).update(
        opens_on=period.opens_on - datetime.timedelta(days=60), closes_on=datetime.date.today() - datetime.timedelta(days=1)
    )
    html = home_as(client, "nanjing")
    assert text_of(html, "overdue") == "2"  # x2 returned, x4 draft


def test_enterprise_sees_its_returned_items_and_next_action(client, world):
    html = home_as(client, "filer-x2")
    assert text_of(html, "filing-status") == "退回修改"
    assert RETURN_REASON in html and "请补充说明" in html
    sub = world["submissions"]["x2"]
    assert f'href="/filings/{sub.pk}/step/D2/#ind-K1" data-testid="next-action"' in html
    assert "还剩 30 天" in html


def test_enterprise_without_a_filing_can_start_it(client, world):
    html = home_as(client, "filer-x5")
    assert text_of(html, "filing-status") == "未开始"
    assert 'action="/filings/start/2026/"' in html


def test_enterprise_draft_continues_at_the_first_unanswered_item(client, world):
    html = home_as(client, "filer-x4")
    sub = world["enterprises"]["x4"].submissions.get()
    assert f'href="/filings/{sub.pk}/step/D1/#ind-R1" data-testid="next-action"' in html


def test_enterprise_accepted_links_its_report(client, world):
    html = home_as(client, "filer-x3")
    sub = world["submissions"]["x3"]
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.ACCEPTED
    assert f'href="/filings/{sub.pk}/report/" data-testid="next-action"' in html


def test_expert_sees_the_empty_state(client, world):
    html = home_as(client, "expert")
    assert 'data-testid="no-reviews"' in html


def test_ministry_sees_periods_runs_and_health(client, world):
    period = world["period"]
    IndexRun.objects.create(period=period, framework=period.framework, status=RunStatus.FAILED, code_version="t")
    html = home_as(client, "ministry")
    assert text_of(html, "pending-total") == "3"
    assert "<tr><td>2026年度</td>" in html
    assert 'data-testid="worker-state">无心跳' in html  # no heartbeat recorded yet
    assert "近 7 天失败的任务：1（指数计算 1" in html


def test_health_reports_a_recent_heartbeat(world):
    from django.utils import timezone

    from apps.core.models import Heartbeat

    Heartbeat.objects.create(name="worker", at=timezone.now() - datetime.timedelta(seconds=30))
    assert platform_health().worker_ok
    Heartbeat.objects.filter(name="worker").update(at=timezone.now() - datetime.timedelta(minutes=10))
    assert not platform_health().worker_ok


def test_anonymous_home_is_public(client):
    html = client.get("/").content.decode()
    assert "企业注册" in html and "我的工作台" not in html


@pytest.mark.worker
def test_worker_heartbeat_and_queue_length_from_the_real_worker(celery_worker, world):
    import time

    from apps.core.models import Heartbeat
    from apps.core.tasks import worker_heartbeat

    worker_heartbeat.delay()
    deadline = time.monotonic() + 60
    while not Heartbeat.objects.filter(name="worker").exists():
        assert time.monotonic() < deadline, celery_worker.log(celery_worker.test_started_at)
        time.sleep(0.2)
    health = platform_health()
    assert health.worker_ok and health.queue_length == 0


def test_expert_sees_the_reviews_assigned_to_them(client):
    from apps.pilots.models import Assignment, AssignmentMethod
    from tests.pilots.builders import applicant, expert, make_call, submitted_application

    call = make_call("application")
    application = submitted_application(call, applicant())
    reviewer = expert()
    other = expert(name="王专家")
    assignment = Assignment.objects.create(application=application, expert=reviewer, method=AssignmentMethod.MANUAL)
    client.force_login(reviewer.user)
    html = client.get("/").content.decode()
    assert 'data-testid="assigned-reviews"' in html and call.title in html
    assert f'href="/pilots/reviews/{assignment.pk}/"' in html
    assert call.review_closes_on.isoformat() in html
    client.force_login(other.user)
    assert 'data-testid="no-reviews"' in client.get("/").content.decode()  # only one's own assignments
