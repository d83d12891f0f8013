"""The 说明 of an answer (Answer.note): asked for by the framework (``note_prompt``), written
in the step form (full save and autosave) and through the API, refused when too long or not
asked for — with the clerk's text kept — and shown to the reviewer and in the report."""

import copy

import pytest
from rest_framework.test import APIClient

from apps.filings import services
from apps.filings.answers import NOTE_MAX_LENGTH
from apps.filings.models import Answer
from apps.frameworks.exchange import import_framework
from apps.frameworks.services import framework_publish
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    key_industry,
    prefecture,
)
from tests.filings.builders import SPEC, open_period

pytestmark = pytest.mark.django_db

PROMPT = "未单独核算的，请说明估算方法。"


@pytest.fixture
def period():
    industry("27", "医药制造业")
    key_industry()
    spec = copy.deepcopy(SPEC)
    spec["code"] = "qmd-notes"
    k1 = next(i for d in spec["dimensions"] for i in d["indicators"] if i["code"] == "K1")
    k1["note_prompt"] = PROMPT
    return open_period(framework=framework_publish(framework=import_framework(spec)))


@pytest.fixture
def filer():
    return enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="filer")


@pytest.fixture
def draft(filer, period):
    return services.submission_start(enterprise=filer.enterprise, period=period, user=filer)


def _answer(sub, code) -> Answer | None:
    return Answer.objects.filter(submission=sub, indicator__code=code).first()


# --- service ---------------------------------------------------------------------------------------


def test_a_note_is_saved_with_the_answer_and_alone(filer, draft):
    sub, errors = services.submission_save_answers(
        submission=draft, user=filer, revision=draft.revision, answers={"K1": "95"}, notes={"K1": " 按财务数据估算 "}
    )
    assert errors == {}
    answer = _answer(sub, "K1")
    assert answer.value == 95 and answer.note == "按财务数据估算"
    sub, errors = services.submission_save_answers(
        submission=sub, user=filer, revision=sub.revision, answers={}, notes={"K1": "改为按第三方报告"}
    )
    answer.refresh_from_db()
    assert errors == {} and answer.value == 95 and answer.note == "改为按第三方报告"


def test_a_too_long_note_is_refused_with_its_length_and_nothing_of_the_indicator_changes(filer, draft):
    sub, _ = services.submission_save_answers(
        submission=draft, user=filer, revision=draft.revision, answers={"K1": "95"}, notes={"K1": "原说明"}
    )
    long = "字" * (NOTE_MAX_LENGTH + 7)
    sub, errors = services.submission_save_answers(
        submission=sub, user=filer, revision=sub.revision, answers={"K1": "90", "R1": "2"}, notes={"K1": long}
    )
    assert errors["K1"] == f"K1：说明最多 {NOTE_MAX_LENGTH} 个字，现在有 {NOTE_MAX_LENGTH + 7} 个字，请删减 7 个字后再保存。"
    answer = _answer(sub, "K1")
    assert answer.value == 95 and answer.note == "原说明"  # value and note stay together
    assert _answer(sub, "R1").value == 2  # other indicators are saved


def test_a_note_where_the_framework_asks_for_none_is_refused(filer, draft):
    _, errors = services.submission_save_answers(
        submission=draft, user=filer, revision=draft.revision, answers={}, notes={"R1": "无关说明"}
    )
    assert errors == {"R1": "R1：本题不需要填写说明。"}
    assert _answer(draft, "R1") is None


# --- step form ---------------------------------------------------------------------------------------


def test_the_step_shows_a_note_box_only_where_the_framework_asks(client, filer, draft):
    client.force_login(filer)
    html = client.get(f"/filings/{draft.pk}/step/D2/").content.decode()
    assert 'name="note-K1"' in html and PROMPT in html and f"最多 {NOTE_MAX_LENGTH} 字" in html
    assert 'name="note-Y1"' not in html
    box, error = html.index('name="note-K1"'), html.index('data-testid="error-K1"')
    assert html.index('data-testid="indicator-K1"') < box < error  # inside the question, above its message


def test_autosave_saves_the_note(client, filer, draft):
    client.force_login(filer)
    response = client.post(f"/filings/{draft.pk}/autosave/D2/",
                           {"revision": draft.revision, "a-K1": "96", "note-K1": "按季度报表估算"})
    assert response.status_code == 200
    assert _answer(draft, "K1").note == "按季度报表估算"


def test_a_refused_note_stays_in_its_box_with_the_message_beside_it(client, filer, draft):
    client.force_login(filer)
    long = "长" * (NOTE_MAX_LENGTH + 1)
    response = client.post(f"/filings/{draft.pk}/step/D2/",
                           {"revision": draft.revision, "a-K1": "96", "note-K1": long, "move": "stay"})
    assert response.status_code == 422
    html = response.content.decode()
    assert f">{long}</textarea>" in html
    assert "说明最多" in html[html.index('data-testid="error-K1"'):html.index('data-testid="indicator-Y1"')]
    assert _answer(draft, "K1") is None  # nothing of K1 saved


# --- API -------------------------------------------------------------------------------------------------


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_saves_and_returns_notes_and_refuses_long_ones(filer, draft):
    url = f"/api/v1/submissions/{draft.pk}/answers/"
    resp = _api(filer).post(url, {"revision": 0, "answers": {"K1": 97}, "notes": {"K1": "第三方检验"}}, format="json")
    assert resp.status_code == 200 and resp.json()["saved"] == ["K1"]
    got = {a["indicator"]: a for a in _api(filer).get(url).json()}
    assert got["K1"]["note"] == "第三方检验" and got["K1"]["value"] == 97
    resp = _api(filer).post(url, {"revision": 1, "notes": {"K1": "x" * (NOTE_MAX_LENGTH + 1)}}, format="json")
    assert resp.status_code == 400 and "说明最多" in resp.json()["errors"]["K1"]
    resp = _api(filer).post(url, {"revision": 1}, format="json")
    assert resp.status_code == 400 and "answers 或 notes" in str(resp.json())


def test_the_framework_api_says_which_questions_ask_for_a_note(filer, period):
    body = _api(filer).get(f"/api/v1/frameworks/{period.framework_id}/").json()
    indicators = {i["code"]: i for d in body["dimensions"] for i in d["indicators"]}
    assert indicators["K1"]["note_prompt"] == PROMPT and "note_prompt" not in indicators["R1"]


def test_an_outsider_cannot_write_a_note(draft):
    other = enterprise_user(EnterpriseFactory(region=county(GUSU, SUZHOU)), username="other")
    resp = _api(other).post(f"/api/v1/submissions/{draft.pk}/answers/",
                            {"revision": 0, "notes": {"K1": "冒名"}}, format="json")
    assert resp.status_code == 404
    assert _answer(draft, "K1") is None


# --- reviewer and report ------------------------------------------------------------------------------------


def test_the_reviewer_sees_the_note(client, filer, draft):
    services.submission_save_answers(
        submission=draft, user=filer, revision=draft.revision,
        answers={"R1": "3", "C1": ["a"], "K1": "95", "Y1": "no"}, notes={"K1": "按财务数据估算"},
    )
    services.submission_submit(submission=draft, user=filer, pledge=True)
    client.force_login(authority_user(prefecture(NANJING)))
    html = client.get(f"/filings/{draft.pk}/").content.decode()
    assert 'data-testid="answer-note-K1"' in html and "按财务数据估算" in html


def test_the_report_and_its_print_show_the_notes(client, filer, draft):
    from apps.filings.packing import submission_score

    services.submission_save_answers(
        submission=draft, user=filer, revision=draft.revision,
        answers={"R1": "3", "C1": ["a"], "K1": "95", "Y1": "no"}, notes={"K1": "按财务数据估算"},
    )
    services.submission_submit(submission=draft, user=filer, pledge=True)
    services.submission_accept(submission=draft, user=authority_user(prefecture(NANJING)))
    submission_score(submission_id=draft.pk)
    client.force_login(filer)
    html = client.get(f"/filings/{draft.pk}/report/").content.decode()
    section = html[html.index('data-testid="report-notes"'):]
    assert "K1" in section and "按财务数据估算" in section[:section.index("</section>")]
    assert "no-print" not in html[html.index('data-testid="report-notes"') - 60:html.index('data-testid="report-notes"')]
