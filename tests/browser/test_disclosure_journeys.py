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


def test_ministry_is_told_which_group_of_filings_blocks_a_revision(page, live_server, transactional_db, screenshot):
    """A re-run whose changes, set against the published run, give away the total of two
    filings that form no cell (tests/indices/test_revisions.py): staff confirm the publish
    and are refused in words, with the group and the cells it follows from; the published
    run stays."""
    from apps.accounts.models import Role
    from apps.indices.models import IndexRun
    from tests.factories import UserFactory
    from tests.indices.test_revisions import replacement_revision

    published, rerun, _ = replacement_revision()
    UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry", first_name="部委工作人员")
    _login(page, live_server, "ministry")
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        # the run page says so beforehand, and offers no publish link
        page.goto(f"{live_server.url}/index-runs/{rerun.pk}/")
        check = page.get_by_test_id("revision-check")
        expect(check).to_have_attribute("data-state", "blocked")
        expect(check).to_contain_text("不能发布：把该批次与该期次已发布的批次联立")
        expect(page.get_by_test_id("publish-link")).to_have_count(0)
        screenshot(page, f"revision-check-on-run-page-{width}")
        page.goto(f"{live_server.url}/index-runs/{rerun.pk}/publish/")
        page.get_by_test_id("confirm").check()
        page.get_by_role("button", name="确认发布").click()
        error = page.get_by_test_id("error")
        expect(error).to_contain_text("不能发布：把该批次与该期次已发布的批次联立")
        expect(error).to_contain_text("2 家")
        expect(error).to_contain_text("新增或重新评分后的 南京市玄武区 · 医药制造业 填报 加 已退出或重新评分前的 南京市秦淮区 · 医药制造业 填报（共 2 家，由两批次中县级“玄武区”、县级“秦淮区”")
        screenshot(page, f"revision-group-refused-{width}")
    assert IndexRun.objects.get(pk=published.pk).is_published
    assert not IndexRun.objects.get(pk=rerun.pk).is_published
