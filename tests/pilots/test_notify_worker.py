"""Applicant mail is sent by a real Celery worker after the transition commits, never inside
the request or the service's transaction."""

import re
import time

import pytest
from django.urls import reverse

from apps.pilots.models import Application, ApplicationStatus
from tests.pilots.builders import SCENARIO, applicant, make_call


@pytest.mark.worker
def test_submitting_an_application_mails_the_applicant_from_the_worker(celery_worker, client, mailoutbox):
    call = make_call("application")
    user = applicant(name="邮件通知企业")
    user.email = "notify-worker@example.cn"
    user.save()
    client.force_login(user)
    client.post(reverse("pilots:apply", args=[call.pk]))
    app = Application.objects.get(call=call)
    data = {"revision": app.revision, "action": "submit", "declares_legal_person": "on", "declares_good_credit": "on",
            "declares_no_accident": "on", **{f"s0-{k}": v for k, v in SCENARIO.items()}}
    client.post(reverse("pilots:application", args=[app.pk]), data)
    app.refresh_from_db()
    assert app.status == ApplicationStatus.SUBMITTED, app.status
    assert not mailoutbox  # the request itself sent nothing
    deadline = time.monotonic() + 60
    log = ""
    while time.monotonic() < deadline:
        log = celery_worker.log(celery_worker.test_started_at)
        if re.search(r"notify_applicant\[[^]]+\] succeeded", log):
            break
        time.sleep(0.3)
    assert re.search(r"^.*To: .*notify-worker@example\.cn", log, re.M), log[-3000:]
    assert "申报状态已变更为“已申报”" in log


@pytest.mark.worker
def test_a_notification_delivered_twice_mails_once(celery_worker):
    """The submission queues its mail; the same task delivered twice more (a broker
    redelivery, a retry) finds the event stamped and sends nothing: one mail in all."""
    from apps.pilots import tasks
    from apps.pilots.models import ApplicationEvent
    from tests.pilots.builders import submitted_application

    call = make_call("application")
    user = applicant(name="重复投递企业")
    user.email = "notify-twice@example.cn"
    user.save()
    app = submitted_application(call, user)  # commits: the worker gets the first task
    event = ApplicationEvent.objects.filter(application=app).latest("pk")
    for _ in range(2):
        tasks.notify_applicant.delay(app.pk, event.pk)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = celery_worker.log(celery_worker.test_started_at)
        if len(re.findall(r"notify_applicant\[[^]]+\] succeeded", log)) >= 3:
            break
        time.sleep(0.3)
    # the worker logs each task's return value: the recipients mailed once (the contact
    # address and the user: 2), then nothing (0, 0)
    returned = re.findall(r"notify_applicant\[[^]]+\] succeeded in [0-9.]+s: (\d+)", log)
    assert sorted(returned) == ["0", "0", "2"], log[-3000:]
    assert len(re.findall(r"^To: .*notify-twice@example\.cn", log, re.M)) == 1, log[-3000:]
    event.refresh_from_db()
    assert event.notified_at is not None
