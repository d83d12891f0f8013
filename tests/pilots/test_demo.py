"""`make run`'s pilot demo data: a call open for applications, a call in review with experts,
assignments and a conflict, a closed call with its announced list, a dozen published cases;
idempotent; the pages show them."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.pilots.models import Application, Assignment, Call, Case, Conflict, Expert

pytestmark = pytest.mark.django_db


def test_demo_has_every_stage_and_is_idempotent(client):
    call_command("load_reference", verbosity=0)
    call_command("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish")
    call_command("load_demo", "--enterprises", "80")
    calls = {c.title: c for c in Call.objects.all()}
    assert len(calls) == 3
    open_call = next(c for t, c in calls.items() if "第二批" in t)
    review_call = next(c for t, c in calls.items() if "第一批" in t)
    closed = next(c for t, c in calls.items() if "2025" in t)
    assert open_call.in_window("application") and review_call.in_window("review") and closed.announced_at
    assert Expert.objects.count() == 8 and Conflict.objects.count() == 1
    apps = Application.objects.filter(call=review_call)
    assert apps.exists()
    assert Assignment.objects.filter(application__call=review_call).count() == apps.count() * review_call.reviewers_per_application
    conflict = Conflict.objects.get()
    assert not Assignment.objects.filter(expert=conflict.expert, application__enterprise=conflict.enterprise).exists()
    assert Application.objects.filter(call=closed, status="selected").exists()
    assert Case.objects.published().count() == 12
    counts = (Call.objects.count(), Expert.objects.count(), Case.objects.count())
    call_command("load_demo", "--enterprises", "80")
    assert (Call.objects.count(), Expert.objects.count(), Case.objects.count()) == counts
    page = client.get(reverse("pilots:notice", args=[closed.pk])).content.decode()
    assert Application.objects.filter(call=closed, status="selected").first().enterprise.name in page
    assert "共 12 个案例" in client.get(reverse("pilots:cases")).content.decode()
    client.force_login(Expert.objects.exclude(user=None).get().user)
    assert "我的评审任务" in client.get(reverse("pilots:home")).content.decode()
