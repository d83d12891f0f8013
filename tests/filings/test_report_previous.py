"""The enterprise report compares with the enterprise's previous period."""

import datetime

import pytest

from apps.filings import services
from apps.filings.models import Period
from apps.filings.packing import submission_score
from tests.factories import NANJING, XUANWU, EnterpriseFactory, authority_user, county, enterprise_user, prefecture
from tests.filings.builders import COMPLETE, open_period

pytestmark = pytest.mark.django_db


def _accepted(ent, filer, reviewer, period, answers):
    sub = services.submission_start(enterprise=ent, period=period, user=filer)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=answers, revision=sub.revision)
    assert not errors
    services.submission_submit(submission=sub, user=filer, pledge=True)
    services.submission_accept(submission=sub, user=reviewer)
    return submission_score(submission_id=sub.pk)


def test_report_shows_the_change_since_the_previous_period(client):
    ent = EnterpriseFactory(region=county(XUANWU))
    filer = enterprise_user(ent, username="filer")
    reviewer = authority_user(prefecture(NANJING))
    p2025 = open_period("2025")
    before = _accepted(ent, filer, reviewer, p2025, {"R1": "1", "C1": ["a"], "K1": "85", "Y1": "no"})
    last_year = datetime.date.today().replace(year=datetime.date.today().year - 1)
    Period.objects.filter(pk=p2025.pk).update(opens_on=last_year - datetime.timedelta(days=30), closes_on=last_year)
    p2026 = open_period("2026", framework=p2025.framework)
    now = _accepted(ent, filer, reviewer, p2026, COMPLETE)
    assert now.composite == pytest.approx(58.5) and before.composite < now.composite

    client.force_login(filer)
    html = client.get(f"/filings/{now.submission_id}/report/").content.decode()
    change = round(58.5 - round(before.composite, 1), 1)
    assert f"与上期（2025年度）相比：{before.composite:.1f} → 58.5（+{change:.1f}）" in html
    assert "<th class=\"num\">上期</th>" in html

    # the first period's report has nothing to compare with
    html = client.get(f"/filings/{before.submission_id}/report/").content.decode()
    assert 'data-testid="previous"' not in html
