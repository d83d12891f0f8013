"""With the language English, the framework's own content comes from its English fields
(period ``name_en``, dimension ``name_en``, ``question_en``, level ``name_en``) wherever they
exist: filing form, check page, reviewer's page, report (radar included), public method page.
A blank English field falls back to the Chinese text."""

import copy
import json
import re

import pytest
from django.conf import settings

from apps.filings import services
from apps.filings.models import Period
from apps.filings.packing import submission_score
from apps.frameworks.exchange import import_framework
from apps.frameworks.services import framework_publish
from tests.factories import (
    NANJING,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    key_industry,
    prefecture,
)
from tests.filings.builders import COMPLETE, SPEC, open_period

pytestmark = pytest.mark.django_db

ENGLISH = {"D1": "Working mechanism", "D2": "Quality results"}
QUESTIONS = {"R1": "Digitalization plan of quality management", "K1": "First-pass yield"}
LEVELS = {3: "Assurance"}


@pytest.fixture
def period():
    industry("27", "医药制造业")
    key_industry()
    spec = copy.deepcopy(SPEC)
    spec["code"] = "qmd-en"
    for d in spec["dimensions"]:
        d["name_en"] = ENGLISH[d["code"]]
        for i in d["indicators"]:
            i["question_en"] = QUESTIONS.get(i["code"], "")  # C1, Y1, B1: no English text
    for lv in spec["levels"]:
        lv["name_en"] = LEVELS.get(lv["rank"], "")
    period = open_period(framework=framework_publish(framework=import_framework(spec)))
    Period.objects.filter(pk=period.pk).update(name_en="2026 assessment")
    period.refresh_from_db()
    return period


@pytest.fixture
def filer():
    return enterprise_user(EnterpriseFactory(region=county(XUANWU)), username="filer")


def _english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def test_the_filing_step_and_check_page_speak_english(client, filer, period):
    sub = services.submission_start(enterprise=filer.enterprise, period=period, user=filer)
    client.force_login(filer)
    chinese = client.get(f"/filings/{sub.pk}/step/D1/").content.decode()
    assert "工作机制" in chinese and "质量管理数字化规划" in chinese and "Working mechanism" not in chinese
    _english(client)
    html = client.get(f"/filings/{sub.pk}/step/D1/").content.decode()
    assert "<h2>D1 Working mechanism</h2>" in html
    assert "Quality results" in html  # the step list
    assert "2026 assessment" in html and "2026年度" not in html
    assert QUESTIONS["R1"] in html and "质量管理数字化规划" not in html
    assert "在用的质量信息系统" in html  # C1 has no English question: the Chinese one, never a blank
    check = client.get(f"/filings/{sub.pk}/check/").content.decode()
    assert QUESTIONS["R1"] in check and "2026 assessment" in check


def test_the_reviewer_page_and_the_report_speak_english(client, filer, period):
    sub = services.submission_start(enterprise=filer.enterprise, period=period, user=filer)
    sub, _ = services.submission_save_answers(submission=sub, user=filer, answers=COMPLETE, revision=sub.revision)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    reviewer = authority_user(prefecture(NANJING))
    client.force_login(reviewer)
    _english(client)
    detail = client.get(f"/filings/{sub.pk}/").content.decode()
    assert "D2 Quality results" in detail and QUESTIONS["K1"] in detail and "2026 assessment" in detail
    services.submission_accept(submission=sub, user=reviewer)
    submission_score(submission_id=sub.pk)
    client.force_login(filer)
    report = client.get(f"/filings/{sub.pk}/report/").content.decode()
    assert "L3 Assurance" in report and "保证级" not in report.split('data-testid="level"')[1][:80]
    assert "D1 Working mechanism" in report
    radar = json.loads(re.search(r'<script id="radar-data" type="application/json">(.*?)</script>', report).group(1))
    assert [i["name"] for i in radar["indicators"]] == ["Working mechanism", "Quality results"]


def test_the_public_method_page_names_dimensions_and_levels_in_english(client, period):
    html = client.get("/open/method/").content.decode()
    assert "工作机制" in html and "L3 保证级" in html
    _english(client)
    html = client.get("/open/method/").content.decode()
    dims = html[html.index('data-testid="method-dimensions"'):]
    assert "Working mechanism" in dims and "60%" in dims
    levels = html[html.index('data-testid="method-levels"'):]
    assert "L3 Assurance" in levels and "L1 经验级" in levels  # L1 has no English name in this framework
