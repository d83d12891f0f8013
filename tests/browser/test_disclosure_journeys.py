"""What an enterprise and an authority see of the index numbers (issue 8), in Chromium:
the enterprise report shows the public view of its region's benchmarks; the authority's
ranking shows each rank with its 95 % interval. Screenshots at 1400 and 390 px."""

import re

import pytest
from playwright.sync_api import expect

from apps.filings.models import Submission
from tests.browser.test_insights_journeys import _login
from tests.factories import authority_user, enterprise_user, prefecture
from tests.insights.test_authority_pages import make_world

pytestmark = [pytest.mark.browser]


def test_enterprise_report_and_authority_ranking(page, live_server, transactional_db, screenshot):
    world = make_world()
    sub = Submission.objects.filter(period=world["p2026"], county_code="320102").first()
    enterprise_user(sub.enterprise, username="qiye")
    authority_user(prefecture(), username="nanjing", first_name="南京市工信局")

    _login(page, live_server, "qiye")
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/filings/{sub.pk}/report/")
        table = page.get_by_test_id("benchmark")
        expect(table).to_be_visible()
        # 南京市 (n ≈ 25): the median is public from n = 9, the top-decile mean only from n = 41
        row = table.locator('tr[data-kind="prefecture"]')
        expect(row.locator("td").nth(2)).to_have_text("—")
        expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\d+\.\d"))
        screenshot(page, f"report-benchmarks-{width}")

    _login(page, live_server, "nanjing")
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/insights/rankings/")
        ranks = page.get_by_test_id("ranking-table").locator('td[data-key="rank"]')
        expect(ranks.first).to_have_text(re.compile(r"^\d+ / \d+（\d+–\d+）$"))
        screenshot(page, f"ranking-intervals-{width}")
