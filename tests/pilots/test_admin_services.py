"""The admin never bypasses the workflow's services: rows that a service checks are view-only
there, a conflict entered in the admin or imported has the service's consequence, the call
import runs the service's checks, and import/export is for pilot staff only."""

import datetime

import pytest
import tablib
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.pilots import services
from apps.pilots.models import Assignment, Call, CallStatus, Conflict, DefenceSlot, Objection
from apps.pilots.resources import CallResource, ConflictResource
from tests.factories import authority_user, province
from tests.pilots.builders import dates_for, make_call, move_to, staff, through_review

pytestmark = pytest.mark.django_db


def admin_staff():
    boss = staff()
    boss.is_staff = True
    boss.save()
    return boss


def test_workflow_rows_are_view_only_in_the_admin(client):
    call = make_call("application", defence=True)
    apps, pool, boss = through_review(call, n=1, experts=3)
    objection = Objection.objects.create(call=call, application=apps[0], name="王五", phone="13800000000", text="请核实。")
    slot = DefenceSlot.objects.create(call=call, starts_at=datetime.datetime(2026, 1, 1, 9, tzinfo=datetime.UTC), place="会议室")
    client.force_login(admin_staff())
    # readable ...
    for model, pk in (("call", call.pk), ("application", apps[0].pk), ("objection", objection.pk), ("defenceslot", slot.pk)):
        assert client.get(reverse(f"admin:pilots_{model}_change", args=[pk])).status_code == 200, model
    # ... but not changed, added or deleted there
    response = client.post(reverse("admin:pilots_call_change", args=[call.pk]), {"title": "改名", "year": 2026})
    assert response.status_code == 403 and Call.objects.get().title != "改名"
    response = client.post(reverse("admin:pilots_objection_change", args=[objection.pk]),
                           {"status": "upheld", "handling": "直接改"})
    assert response.status_code == 403 and Objection.objects.get().status == "received"
    for model in ("call", "application", "objection", "defenceslot"):
        assert client.get(reverse(f"admin:pilots_{model}_add")).status_code == 403, model
    assert client.post(reverse("admin:pilots_defenceslot_delete", args=[slot.pk]), {"post": "yes"}).status_code == 403
    assert DefenceSlot.objects.exists()


def test_a_conflict_entered_in_the_admin_or_imported_removes_the_unstarted_assignment(client):
    call = make_call("application", quota_per_unit=5)
    apps, pool, boss = through_review(call, n=2, experts=4)
    services.assignment_auto(call=call, user=boss)
    first, second = (Assignment.objects.filter(application=a).first() for a in apps)
    client.force_login(admin_staff())
    response = client.post(reverse("admin:pilots_conflict_add"), {
        "expert": first.expert_id, "enterprise": first.application.enterprise_id, "source": "staff", "reason": "亲属关系"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not Assignment.objects.filter(pk=first.pk).exists()
    data = tablib.Dataset([second.expert_id, second.application.enterprise.uscc, "曾任顾问"],
                          headers=["专家编号", "统一社会信用代码", "回避原因"])
    result = ConflictResource().import_data(data, dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert not Assignment.objects.filter(pk=second.pk).exists() and Conflict.objects.count() == 2


CALL_HEADERS = ["id", "title", "year", "scenario_levels", "applications_open_on", "applications_close_on",
                "recommendation_closes_on", "eligibility_closes_on", "review_closes_on", "defence_required",
                "defence_closes_on", "notice_starts_on", "notice_ends_on", "decision_on", "quota_per_unit",
                "industry_quotas", "rubric_scale", "reviewers_per_application", "aggregation",
                "disagreement_threshold", "min_diagnosis_level", "region_conflict", "description"]


def call_row(pk="", **overrides):
    d = dates_for("application")
    row = {"id": pk, "title": "导入的批次", "year": 2027, "scenario_levels": '["lifecycle"]', "defence_required": 0,
           "defence_closes_on": "", "quota_per_unit": 3, "industry_quotas": "{}", "rubric_scale": "0-100",
           "reviewers_per_application": 3, "aggregation": "median", "disagreement_threshold": 20,
           "min_diagnosis_level": 1, "region_conflict": 0, "description": "",
           **{k: v.isoformat() for k, v in d.items() if v}, **overrides}
    return [row[h] for h in CALL_HEADERS]


def test_call_import_runs_the_services_checks_and_changes_only_drafts():
    d = dates_for("application")
    bad = call_row(applications_close_on=(d["applications_open_on"] - datetime.timedelta(days=1)).isoformat())
    result = CallResource().import_data(tablib.Dataset(call_row(), bad, headers=CALL_HEADERS), dry_run=False,
                                        raise_errors=False)
    assert result.has_errors() or result.has_validation_errors()
    messages = " ".join(str(e.error) for _, errs in result.row_errors() for e in errs) + " ".join(
        str(e) for row in result.invalid_rows for e in row.error_dict.values())
    assert "不能早于" in messages
    assert not Call.objects.exists()  # all or nothing
    result = CallResource().import_data(tablib.Dataset(call_row(), headers=CALL_HEADERS), dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    imported = Call.objects.get()
    assert imported.status == CallStatus.DRAFT
    # without a rubric it cannot be published (the rubric is entered on the call's page)
    with pytest.raises(ValidationError, match="评审要点"):
        services.call_publish(call=imported, user=staff())
    # a published call does not change through the import
    published = make_call("application")
    move_to(published, "review")
    result = CallResource().import_data(tablib.Dataset(call_row(published.pk, title="改名"), headers=CALL_HEADERS),
                                        dry_run=False, raise_errors=False)
    assert result.has_errors() or result.has_validation_errors()
    assert Call.objects.get(pk=published.pk).title != "改名"


def test_import_and_export_are_for_pilot_staff_only(client):
    clerk = authority_user(province())
    clerk.is_staff = True
    clerk.save()
    client.force_login(clerk)
    for url in ("admin:pilots_call_import", "admin:pilots_expert_import", "admin:pilots_conflict_export"):
        assert client.get(reverse(url)).status_code == 403, url
    client.force_login(admin_staff())
    assert client.get(reverse("admin:pilots_call_import")).status_code == 200
