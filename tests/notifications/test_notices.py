"""Notices: when a filing is returned or accepted, and when a deadline nears — a notice in
the portal (unread count in the header) and an e-mail (Django mail, mail.outbox)."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from apps.filings import services
from apps.filings.models import Period
from apps.notifications.models import Notice, NoticeKind
from apps.notifications.services import notify_deadlines
from apps.notifications.tasks import send_deadline_reminders
from tests.factories import XUANWU, EnterpriseFactory, authority_user, county, enterprise_user, prefecture
from tests.filings.builders import COMPLETE, open_period

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    period = open_period()
    ent = EnterpriseFactory(region=county(XUANWU), name="通知测试企业")
    filer = enterprise_user(ent, username="filer", email="filer@example.cn")
    reviewer = authority_user(prefecture(), username="nanjing")
    sub = services.submission_start(enterprise=ent, period=period, user=filer)
    sub, _ = services.submission_save_answers(submission=sub, user=filer, answers=COMPLETE, revision=sub.revision)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    return period, filer, reviewer, sub


def test_return_sends_a_notice_and_an_email(client, setup, django_capture_on_commit_callbacks):
    period, filer, reviewer, sub = setup
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_return(submission=sub, user=reviewer, reasons={"K1": "请核对", "R1": "请补充"})
    notice = Notice.objects.get(recipient=filer)
    assert notice.kind == NoticeKind.RETURNED and notice.read_at is None
    assert "2026年度的诊断填报被退回修改（2 项需修改）" in notice.text
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["filer@example.cn"] and "填报被退回" in message.subject
    assert "2 项需修改" in message.body and "http://" in message.body

    client.force_login(filer)
    html = client.get("/").content.decode()
    assert 'data-testid="unread-count"><span class="visually-hidden">未读</span>1</span>' in html
    assert "被退回修改（2 项需修改）" in html  # on the workbench
    response = client.post(f"/notices/{notice.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/"
    notice.refresh_from_db()
    assert notice.read_at is not None
    assert 'data-testid="unread-count"' not in client.get("/").content.decode()


def test_accept_sends_a_notice_linking_the_report(client, setup, django_capture_on_commit_callbacks):
    period, filer, reviewer, sub = setup
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_accept(submission=sub, user=reviewer)
        services.submission_accept(submission=sub, user=reviewer)  # idempotent: no second notice
    notice = Notice.objects.get(recipient=filer)
    assert notice.kind == NoticeKind.ACCEPTED and notice.link == f"/filings/{sub.pk}/report/"
    assert len(mail.outbox) == 1 and "审核通过" in mail.outbox[0].subject
    client.force_login(filer)
    listing = client.get("/notices/").content.decode()
    assert "已审核通过，可以查看诊断报告" in listing


def test_notices_are_private_to_their_recipient(client, setup, django_capture_on_commit_callbacks):
    period, filer, reviewer, sub = setup
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_accept(submission=sub, user=reviewer)
    notice = Notice.objects.get(recipient=filer)
    client.force_login(reviewer)
    assert client.post(f"/notices/{notice.pk}/open/").status_code == 404
    assert "已审核通过" not in client.get("/notices/").content.decode()
    notice.refresh_from_db()
    assert notice.read_at is None


def test_read_all(client, setup, django_capture_on_commit_callbacks):
    period, filer, reviewer, sub = setup
    services.submission_return(submission=sub, user=reviewer, reasons={"K1": "请核对"})
    client.force_login(filer)
    assert client.post("/notices/read-all/").status_code == 302
    assert not Notice.objects.filter(recipient=filer, read_at__isnull=True).exists()


def test_a_user_without_an_address_gets_the_notice_only(setup, django_capture_on_commit_callbacks):
    period, filer, reviewer, sub = setup
    filer.email = ""
    filer.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_accept(submission=sub, user=reviewer)
    assert Notice.objects.filter(recipient=filer).count() == 1 and mail.outbox == []


def test_deadline_reminders_once_per_user_for_unsubmitted_filings(setup, django_capture_on_commit_callbacks):
    period, filer, reviewer, sub = setup  # filer has submitted
    late = enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="late", email="late@example.cn")
    today = timezone.localdate()
    Period.objects.filter(pk=period.pk).update(closes_on=today + datetime.timedelta(days=20))
    assert notify_deadlines() == 0  # not near yet
    Period.objects.filter(pk=period.pk).update(closes_on=today + datetime.timedelta(days=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert send_deadline_reminders() == 1  # the beat task's body, in this process
    assert [m.to for m in mail.outbox] == [["late@example.cn"]]
    assert "还剩 5 天" in mail.outbox[0].body and "截止提醒" in mail.outbox[0].subject
    assert notify_deadlines() == 0  # once per period
    assert Notice.objects.filter(recipient=late, kind=NoticeKind.DEADLINE).count() == 1
    assert not Notice.objects.filter(recipient=filer).exists()


def test_notice_text_follows_the_reader_language(client, setup):
    period, filer, reviewer, sub = setup
    services.submission_return(submission=sub, user=reviewer, reasons={"K1": "请核对"})
    client.force_login(filer)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = client.get("/notices/").content.decode()
    assert "was returned for correction" in html
