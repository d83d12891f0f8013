"""The filings API (/api/v1/periods, /frameworks, /submissions): scope, services' rules and messages."""

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, Role
from apps.filings import services
from apps.filings.models import EventAction, Submission, SubmissionStatus
from apps.filings.packing import submission_score
from apps.frameworks.models import FrameworkStatus
from apps.frameworks.services import framework_copy
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    TEST_PASSWORD,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    prefecture,
)
from tests.filings.builders import COMPLETE, EXPECTED_COMPOSITE, EXPECTED_LEVEL, open_period

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def period():
    return open_period()


@pytest.fixture
def filer():
    return enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39")))


@pytest.fixture
def suzhou_filer():
    return enterprise_user(EnterpriseFactory(region=county(GUSU, SUZHOU), industry=industry("39")))


@pytest.fixture
def nanjing():
    return authority_user(prefecture(NANJING))


@pytest.fixture
def suzhou():
    return authority_user(prefecture(SUZHOU))


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def started(filer, period) -> Submission:
    return services.submission_start(enterprise=filer.enterprise, period=period, user=filer)


def submitted(filer, period, answers=COMPLETE) -> Submission:
    sub = started(filer, period)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=answers, revision=sub.revision)
    assert errors == {}
    services.submission_submit(submission=sub, user=filer, pledge=True)
    sub.refresh_from_db()
    return sub


# --- authentication ------------------------------------------------------------------------------


def test_token_authentication(filer, period):
    sub = started(filer, period)
    client = APIClient()
    assert client.get(f"{API}/submissions/").status_code in (401, 403)
    resp = client.post(f"{API}/auth/token/", {"username": filer.username, "password": TEST_PASSWORD}, format="json")
    assert resp.status_code == 200
    token = resp.json()["token"]
    assert ApiToken.objects.get(user=filer).prefix == token[:8]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    resp = client.get(f"{API}/submissions/")
    assert resp.status_code == 200
    assert [s["id"] for s in resp.json()["results"]] == [sub.pk]
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get(f"{API}/submissions/").status_code in (401, 403)


# --- scope ---------------------------------------------------------------------------------------


def test_enterprise_sees_only_its_own(filer, suzhou_filer, period):
    own = started(filer, period)
    other = started(suzhou_filer, period)
    client = api(filer)
    resp = client.get(f"{API}/submissions/")
    assert [s["id"] for s in resp.json()["results"]] == [own.pk]
    assert resp.json()["results"][0]["enterprise"]["uscc"] == filer.enterprise.uscc
    assert client.get(f"{API}/submissions/{own.pk}/").status_code == 200
    for suffix in ("", "answers/", "events/", "score/"):
        assert client.get(f"{API}/submissions/{other.pk}/{suffix}").status_code == 404, suffix
    resp = client.post(f"{API}/submissions/{other.pk}/answers/", {"revision": 0, "answers": {"R1": 3}}, format="json")
    assert resp.status_code == 404


def test_authority_outside_its_jurisdiction_gets_404_everywhere(filer, suzhou_filer, period, nanjing, suzhou):
    sub = submitted(suzhou_filer, period)
    client = api(nanjing)
    assert client.get(f"{API}/submissions/").json()["results"] == []
    for suffix in ("", "answers/", "events/", "score/"):
        assert client.get(f"{API}/submissions/{sub.pk}/{suffix}").status_code == 404, suffix
    posts = {
        "answers/": {"revision": sub.revision, "answers": {"R1": 1}},
        "submit/": {"pledge": True},
        "return/": {"reasons": {"R1": "请核实"}},
        "accept/": {},
    }
    for suffix, body in posts.items():
        assert client.post(f"{API}/submissions/{sub.pk}/{suffix}", body, format="json").status_code == 404, suffix
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SUBMITTED
    # ... while the authority of Suzhou sees it and may review it.
    client = api(suzhou)
    assert [s["id"] for s in client.get(f"{API}/submissions/").json()["results"]] == [sub.pk]
    assert client.post(f"{API}/submissions/{sub.pk}/accept/", {}, format="json").status_code == 200


def test_ministry_sees_all_and_filters_apply(filer, suzhou_filer, period):
    a = submitted(filer, period)
    b = started(suzhou_filer, period)
    ministry = UserFactory(role=Role.MINISTRY)
    client = api(ministry)
    assert {s["id"] for s in client.get(f"{API}/submissions/").json()["results"]} == {a.pk, b.pk}
    assert [s["id"] for s in client.get(f"{API}/submissions/", {"status": "submitted"}).json()["results"]] == [a.pk]
    assert [s["id"] for s in client.get(f"{API}/submissions/", {"region": SUZHOU[0]}).json()["results"]] == [b.pk]
    assert {s["id"] for s in client.get(f"{API}/submissions/", {"period": period.code}).json()["results"]} == {a.pk, b.pk}
    assert client.get(f"{API}/submissions/", {"q": filer.enterprise.uscc}).json()["count"] == 1


def test_expert_and_anonymous_see_nothing(filer, period):
    sub = started(filer, period)
    expert = UserFactory(role=Role.EXPERT)
    assert api(expert).get(f"{API}/submissions/").json()["results"] == []
    assert api(expert).get(f"{API}/submissions/{sub.pk}/").status_code == 404
    assert api().get(f"{API}/submissions/{sub.pk}/").status_code in (401, 403)


# --- starting and saving -------------------------------------------------------------------------


def test_enterprise_starts_a_submission_once(filer, period, nanjing):
    client = api(filer)
    resp = client.post(f"{API}/submissions/", {"period": period.code}, format="json")
    assert resp.status_code == 201
    first = resp.json()
    assert first["status"] == "draft" and first["period"] == period.code and first["revision"] == 0
    again = client.post(f"{API}/submissions/", {"period": period.code}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert Submission.objects.count() == 1
    assert client.post(f"{API}/submissions/", {"period": "nope"}, format="json").status_code == 400
    resp = api(nanjing).post(f"{API}/submissions/", {"period": period.code}, format="json")
    assert resp.status_code == 403 and "企业填报员" in resp.json()["detail"]


def test_starting_in_a_closed_period_says_why(filer, period):
    period.closed_early = True
    period.save()
    resp = api(filer).post(f"{API}/submissions/", {"period": period.code}, format="json")
    assert resp.status_code == 400
    assert "不在填报时间内" in resp.json()["detail"]


def test_save_answers_partially_with_the_forms_messages(client, filer, period):
    sub = started(filer, period)
    resp = api(filer).post(
        f"{API}/submissions/{sub.pk}/answers/",
        {"revision": 0, "answers": {"R1": 3, "C1": ["a", "zz"], "K1": "120", "Y1": "no"}},
        format="json",
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["revision"] == 1
    assert sorted(body["saved"]) == ["R1", "Y1"]
    assert set(body["errors"]) == {"C1", "K1"}
    # The step form shows exactly the same messages for the same values.
    client.force_login(filer)
    page = client.post(
        f"/filings/{sub.pk}/step/D1/", {"revision": "1", "a-C1": ["a", "zz"]},
    )
    assert page.status_code == 422
    assert body["errors"]["C1"] in page.content.decode()
    page = client.post(f"/filings/{sub.pk}/step/D2/", {"revision": "1", "a-K1": "120"})
    assert body["errors"]["K1"] in page.content.decode()
    answers = {a["indicator"]: a for a in api(filer).get(f"{API}/submissions/{sub.pk}/answers/").json()}
    assert answers["R1"]["value"] == 3 and answers["R1"]["kind"] == "rubric"
    assert answers["Y1"]["value"] is False and answers["Y1"]["updated_by"] == filer.username
    assert "C1" not in answers


def test_save_with_nothing_valid_is_400(filer, period):
    sub = started(filer, period)
    resp = api(filer).post(
        f"{API}/submissions/{sub.pk}/answers/", {"revision": 0, "answers": {"R1": 9, "XX": 1}}, format="json"
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["saved"] == [] and body["revision"] == 0
    assert "0–5级" in body["errors"]["R1"] and "不是本次填报的指标" in body["errors"]["XX"]
    assert body["detail"].startswith("没有保存任何答案")


def test_special_answers_not_measured_and_none_of_these(filer, period):
    sub = started(filer, period)
    resp = api(filer).post(
        f"{API}/submissions/{sub.pk}/answers/",
        {"revision": 0, "answers": {"K1": "not_measured", "C1": ["__none__"]}}, format="json",
    )
    assert resp.status_code == 200 and resp.json()["errors"] == {}
    answers = {a["indicator"]: a for a in api(filer).get(f"{API}/submissions/{sub.pk}/answers/").json()}
    assert answers["K1"]["not_measured"] is True and answers["K1"]["value"] is None
    assert answers["C1"]["value"] == []


def test_stale_revision_is_a_409_conflict(filer, period):
    sub = started(filer, period)
    client = api(filer)
    assert client.post(f"{API}/submissions/{sub.pk}/answers/", {"revision": 0, "answers": {"R1": 2}}, format="json").status_code == 200
    resp = client.post(f"{API}/submissions/{sub.pk}/answers/", {"revision": 0, "answers": {"R1": 4}}, format="json")
    assert resp.status_code == 409
    body = resp.json()
    assert body["code"] == "draft_conflict" and body["current_revision"] == 1
    assert "保存冲突" in body["detail"]
    assert sub.answers.get(indicator__code="R1").value == 2


def test_authority_may_not_edit_answers_in_its_jurisdiction(filer, period, nanjing):
    sub = started(filer, period)
    resp = api(nanjing).post(f"{API}/submissions/{sub.pk}/answers/", {"revision": 0, "answers": {"R1": 2}}, format="json")
    assert resp.status_code == 403
    assert "本企业的填报员" in resp.json()["detail"]
    assert api(nanjing).get(f"{API}/submissions/{sub.pk}/answers/").status_code == 200


def test_submitted_filing_cannot_be_edited(filer, period):
    sub = submitted(filer, period)
    resp = api(filer).post(
        f"{API}/submissions/{sub.pk}/answers/", {"revision": sub.revision, "answers": {"R1": 1}}, format="json"
    )
    assert resp.status_code == 400 and "已提交" in resp.json()["detail"]


# --- submitting ----------------------------------------------------------------------------------


def test_submit_lists_what_is_missing(filer, period):
    sub = started(filer, period)
    api(filer).post(f"{API}/submissions/{sub.pk}/answers/", {"revision": 0, "answers": {"R1": 3}}, format="json")
    resp = api(filer).post(f"{API}/submissions/{sub.pk}/submit/", {"pledge": True}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert body["missing"] == ["C1", "K1", "Y1"]
    assert "C1 尚未填写" in body["errors"] and body["detail"].startswith("未能提交")
    resp = api(filer).post(f"{API}/submissions/{sub.pk}/submit/", {"pledge": False}, format="json")
    assert resp.status_code == 400 and "真实性承诺" in resp.json()["detail"]


def test_double_submit_submits_once(filer, period):
    sub = started(filer, period)
    client = api(filer)
    client.post(f"{API}/submissions/{sub.pk}/answers/", {"revision": 0, "answers": COMPLETE}, format="json")
    first = client.post(f"{API}/submissions/{sub.pk}/submit/", {"pledge": True}, format="json")
    second = client.post(f"{API}/submissions/{sub.pk}/submit/", {"pledge": True}, format="json")
    assert first.status_code == second.status_code == 200
    assert first.json()["already_submitted"] is False and first.json()["submission"]["status"] == "submitted"
    assert second.json()["already_submitted"] is True and "无需重复提交" in second.json()["detail"]
    assert sub.events.filter(action=EventAction.SUBMITTED).count() == 1


# --- review, history, score ----------------------------------------------------------------------


def test_return_with_reasons_shows_in_the_history(filer, period, nanjing):
    sub = submitted(filer, period)
    assert api(filer).post(f"{API}/submissions/{sub.pk}/return/", {"reasons": {"R1": "x"}}, format="json").status_code == 403
    client = api(nanjing)
    resp = client.post(f"{API}/submissions/{sub.pk}/return/", {"reasons": {"R1": "请补充规划文件"}, "note": "整体偏高"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["action"] == "returned" and resp.json()["reasons"] == [{"indicator": "R1", "reason": "请补充规划文件"}]
    resp = client.post(f"{API}/submissions/{sub.pk}/return/", {"reasons": {"R1": "again"}}, format="json")
    assert resp.status_code == 400 and "只有待审核的填报可以退回" in resp.json()["detail"]
    events = api(filer).get(f"{API}/submissions/{sub.pk}/events/").json()
    assert [e["action"] for e in events] == ["created", "submitted", "returned"]
    assert events[-1]["note"] == "整体偏高" and events[-1]["reasons"][0]["reason"] == "请补充规划文件"
    assert events[-1]["actor"] == nanjing.username and events[-1]["action_display"] == "退回修改"


def test_return_needs_a_reason_and_known_codes(filer, period, nanjing):
    sub = submitted(filer, period)
    resp = api(nanjing).post(f"{API}/submissions/{sub.pk}/return/", {"reasons": {}}, format="json")
    assert resp.status_code == 400 and "至少填写一条退回原因" in resp.json()["detail"]
    resp = api(nanjing).post(f"{API}/submissions/{sub.pk}/return/", {"reasons": {"ZZ": "?"}}, format="json")
    assert resp.status_code == 400 and "未知的指标代码" in resp.json()["detail"]


def test_accept_and_score(filer, period, nanjing, django_capture_on_commit_callbacks):
    sub = submitted(filer, period)
    assert api(filer).post(f"{API}/submissions/{sub.pk}/accept/", {}, format="json").status_code == 403
    assert api(filer).get(f"{API}/submissions/{sub.pk}/score/").status_code == 404
    resp = api(nanjing).post(f"{API}/submissions/{sub.pk}/accept/", {"note": "ok"}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    resp = api(filer).get(f"{API}/submissions/{sub.pk}/score/")
    assert resp.status_code == 404 and "尚未评分" in resp.json()["detail"]
    submission_score(submission_id=sub.pk)
    body = api(filer).get(f"{API}/submissions/{sub.pk}/score/").json()
    assert body["composite"] == pytest.approx(EXPECTED_COMPOSITE)
    assert body["level"] == EXPECTED_LEVEL and body["level_name"] == "保证级"
    assert set(body["dimension_scores"]) == {"D1", "D2"}
    assert api(nanjing).post(f"{API}/submissions/{sub.pk}/accept/", {}, format="json").status_code == 200  # idempotent


def test_accepting_a_draft_is_refused_with_the_services_message(filer, period, nanjing):
    sub = started(filer, period)
    resp = api(nanjing).post(f"{API}/submissions/{sub.pk}/accept/", {}, format="json")
    assert resp.status_code == 400 and resp.json()["detail"] == "只有待审核的填报可以审核通过。"


# --- periods and frameworks ----------------------------------------------------------------------


def test_periods_are_readable_by_anyone_logged_in(filer, period):
    client = api(filer)
    rows = client.get(f"{API}/periods/").json()["results"]
    assert [p["code"] for p in rows] == [period.code]
    one = client.get(f"{API}/periods/{period.code}/").json()
    assert one["is_open"] is True and one["framework"] == period.framework_id and one["framework_code"] == "qmd-test"
    assert client.post(f"{API}/periods/", {"code": "x"}, format="json").status_code == 405


def test_frameworks_nested_and_drafts_for_staff_only(filer, period):
    draft = framework_copy(framework=period.framework, version="2")
    assert draft.status == FrameworkStatus.DRAFT
    client = api(filer)
    assert [f["id"] for f in client.get(f"{API}/frameworks/").json()["results"]] == [period.framework_id]
    assert client.get(f"{API}/frameworks/{draft.pk}/").status_code == 404
    body = client.get(f"{API}/frameworks/{period.framework_id}/").json()
    assert body["status"] == "published" and body["format"] == "qmd-framework/1"
    assert [lv["name"] for lv in body["levels"]][:2] == ["经验级", "检验级"]
    assert body["modules"] == [{"code": "bio", "name": "生物医药行业模块", "industries": ["27"], "key_industries": []}]
    d1, d2 = body["dimensions"]
    r1, c1 = d1["indicators"]
    assert r1["kind"] == "rubric" and len(r1["levels"]) == 6 and r1["evidence_from_level"] == 4
    assert [i["code"] for i in c1["items"]] == ["a", "b", "c"]
    k1 = d2["indicators"][0]
    assert k1["unit"] == "%" and k1["thresholds"] == [[80.0, 0.0], [90.0, 50.0], [100.0, 100.0]]
    assert d2["indicators"][2]["module"] == "bio" and r1["module"] is None
    staff = UserFactory(role=Role.MINISTRY)
    assert {f["id"] for f in api(staff).get(f"{API}/frameworks/").json()["results"]} == {period.framework_id, draft.pk}
    assert api(staff).get(f"{API}/frameworks/{draft.pk}/").status_code == 200
