"""Pilot and case API: the same scoping as the pages (404 outside), blind reviews, public
endpoints for published cases and notices."""

import pytest
from rest_framework.test import APIClient

from apps.pilots import services
from apps.pilots.models import Application, ApplicationStatus, Assignment, Case, CaseStatus
from tests.factories import authority_user, province
from tests.pilots.builders import applicant, expert, make_call, move_to, staff, submitted_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def test_applications_scoped_and_recommend_through_the_api(api):
    call = make_call("application")
    own = applicant()
    app = submitted_application(call, own)
    api.force_authenticate(applicant())
    assert api.get("/api/v1/pilots/applications/").json()["results"] == []
    assert api.get(f"/api/v1/pilots/applications/{app.pk}/").status_code == 404
    api.force_authenticate(own)
    assert [a["id"] for a in api.get("/api/v1/pilots/applications/").json()["results"]] == [app.pk]
    move_to(call, "recommendation")
    api.force_authenticate(authority_user(province(("330000", "浙江省"))))
    assert api.post(f"/api/v1/pilots/applications/{app.pk}/recommend/").status_code == 404
    api.force_authenticate(authority_user(province()))
    response = api.post(f"/api/v1/pilots/applications/{app.pk}/recommend/")
    assert response.status_code == 200 and response.json()["status"] == "recommended"
    api.force_authenticate(None)
    assert api.get("/api/v1/pilots/applications/").status_code in (401, 403)


def test_expert_api_is_blind_until_its_own_review(api):
    call = make_call("application", reviewers_per_application=2)
    app = submitted_application(call, applicant())
    move_to(call, "recommendation")
    services.application_recommend(application=app, user=authority_user(province()))
    move_to(call, "eligibility")
    boss = staff()
    services.application_check_eligibility(application=app, user=boss, passed=True)
    first, second = expert(name="甲", employer="甲单位"), expert(name="乙", employer="乙单位")
    outsider = expert(name="丙", employer="丙单位")
    services.assignment_auto(call=call, user=boss)
    Assignment.objects.filter(expert=outsider).delete()
    move_to(call, "review")
    a1 = Assignment.objects.get(expert=first)
    a2 = Assignment.objects.get(expert=second)
    api.force_authenticate(first.user)
    r = api.post(f"/api/v1/pilots/assignments/{a1.pk}/review/",
                 {"scores": {"innovation": 90, "benefit": 90, "replicable": 90}, "comment": "好", "submit": True}, format="json")
    assert r.status_code == 200 and r.json()["total"] == 90.0
    api.force_authenticate(second.user)
    assert [x["id"] for x in api.get("/api/v1/pilots/assignments/").json()["results"]] == [a2.pk]
    assert api.get(f"/api/v1/pilots/assignments/{a1.pk}/").status_code == 404
    assert api.get(f"/api/v1/pilots/applications/{app.pk}/reviews/").json() == []
    bad = api.post(f"/api/v1/pilots/assignments/{a2.pk}/review/", {"scores": {"innovation": 120}}, format="json")
    assert bad.status_code == 400 and "之间" in bad.json()[0]
    api.post(f"/api/v1/pilots/assignments/{a2.pk}/review/",
             {"scores": {"innovation": 60, "benefit": 60, "replicable": 60}, "comment": "一般", "submit": True}, format="json")
    assert len(api.get(f"/api/v1/pilots/applications/{app.pk}/reviews/").json()) == 2
    api.force_authenticate(outsider.user)
    assert api.get(f"/api/v1/pilots/applications/{app.pk}/").status_code == 404
    assert api.get(f"/api/v1/pilots/applications/{app.pk}/reviews/").status_code == 404


def test_public_cases_and_notices(api):
    shown = Case.objects.create(title="质量追溯平台", enterprise_display="某企业", scenario_level="lifecycle",
                                problem="p", solution="全流程质量追溯", status=CaseStatus.PUBLISHED)
    Case.objects.create(title="草稿案例", enterprise_display="某企业", scenario_level="lifecycle", problem="p", solution="质量追溯")
    body = api.get("/api/v1/cases/", {"q": "质量追溯"}).json()
    assert [c["title"] for c in body["results"]] == ["质量追溯平台"]
    assert api.get(f"/api/v1/cases/{shown.pk}/").status_code == 200
    call = make_call("notice")
    Application.objects.create(call=call, enterprise=applicant().enterprise, recommending_unit=province(),
                               status=ApplicationStatus.PROPOSED, created_by=staff())
    future = make_call("review")
    notices = api.get("/api/v1/pilots/notices/").json()["results"]
    assert [n["id"] for n in notices] == [call.pk]
    assert len(notices[0]["entries"]) == 1 and notices[0]["stage"] == "notice"
    assert api.get(f"/api/v1/pilots/notices/{future.pk}/").status_code == 404
