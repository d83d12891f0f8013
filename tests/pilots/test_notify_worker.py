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
