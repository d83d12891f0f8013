"""Score axes start at 0 on every score chart: read from the drawn ECharts instances (the
axis extent ECharts actually used, not only the option we passed) on the authority trends
page, the public trends page, the dashboard radar and the enterprise report radar."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from apps.filings.models import Submission, SubmissionStatus
from tests.browser.helpers import login as _login
from tests.factories import authority_user, enterprise_user, prefecture

pytestmark = [pytest.mark.browser]

# [low, high] of the value axis as drawn
Y_EXTENT = """id => { const c = echarts.getInstanceByDom(document.getElementById(id));
  return c.getModel().getComponent("yAxis", 0).axis.scale.getExtent(); }"""
# the lower end of every dimension axis as drawn: a radar's axes, or the value axis of the
# grouped bars the dashboard draws instead when a framework has fewer than three dimensions
DIMENSION_MINIMA = """id => { const c = echarts.getInstanceByDom(document.getElementById(id));
  const radar = c.getModel().getComponent("radar", 0);
  if (radar) { return radar.coordinateSystem.getIndicatorAxes().map(a => a.scale.getExtent()[0]); }
  return [c.getModel().getComponent("yAxis", 0).axis.scale.getExtent()[0]]; }"""


def _drawn(page, chart_id):
    expect(page.locator(f"#{chart_id} svg")).to_have_count(1)


def test_every_score_axis_starts_at_zero(page, live_server, transactional_db):
    from tests.insights.test_authority_pages import make_world

    world = make_world()
    cache.clear()

    page.goto(live_server.url + "/open/trends/")
    _drawn(page, "trend-chart")
    low, high = page.evaluate(Y_EXTENT, "trend-chart")
    assert (low, high) == (0, 100)

    authority_user(prefecture(), username="nanjing")
    _login(page, live_server, "nanjing")
    page.goto(live_server.url + "/insights/trends/")
    _drawn(page, "trend-chart")
    values = page.evaluate("JSON.parse(document.getElementById('trend-data').textContent).lines[0].value")
    assert min(v for v in values if v is not None) > 20  # the scores are far from 0 ...
    assert page.evaluate(Y_EXTENT, "trend-chart")[0] == 0  # ... and the axis still starts there
    _drawn(page, "share-chart")
    assert page.evaluate(Y_EXTENT, "share-chart") == [0, 100]

    page.goto(live_server.url + "/insights/")
    _drawn(page, "radar-chart")
    assert set(page.evaluate(DIMENSION_MINIMA, "radar-chart")) == {0}
    _drawn(page, "level-chart")
    assert page.evaluate(Y_EXTENT, "level-chart")[0] == 0

    accepted = Submission.objects.filter(period=world["p2026"], status=SubmissionStatus.ACCEPTED,
                                         score__isnull=False).first()
    enterprise_user(accepted.enterprise, username="reader")
    _login(page, live_server, "reader")
    page.goto(f"{live_server.url}/filings/{accepted.pk}/report/")
    _drawn(page, "radar")
    assert set(page.evaluate(DIMENSION_MINIMA, "radar")) == {0}
