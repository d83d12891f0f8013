"""Pages at 390 px (a phone): the header's role badge stays one line, and no page scrolls
sideways. Screenshots of the header and one page per role."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Role
from tests.browser.helpers import login as _login
from tests.factories import UserFactory, authority_user, enterprise_user, province

# The screenshots folder of tests/conftest.py; importing conftest as a module would configure
# Celery a second time when this file is collected beside others under xdist.
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "screenshots"

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}


def _no_sideways_scroll(page, url):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
            .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
        raise AssertionError(f"{url} scrolls sideways by {overflow} px at 390 px: {wide}")


def _chip_is_one_line(page):
    chip = page.get_by_test_id("user-chip").bounding_box()
    assert chip["height"] < 40, f"role badge is {chip['height']} px tall"
    # 通知 and 退出 stay on the badge's line (退出 used to fall onto a line of its own)
    middle = chip["y"] + chip["height"] / 2
    for name, box in (("通知", page.get_by_test_id("notice-link").bounding_box()),
                      ("退出", page.get_by_role("button", name="退出").bounding_box())):
        assert abs(box["y"] + box["height"] / 2 - middle) < 8, f"{name} is not on the role badge's line"


@pytest.fixture
def phone(page):
    page.set_viewport_size(PHONE)
    return page


def test_each_role_at_390_px(phone, live_server, transactional_db, screenshot):
    from django.core.cache import cache

    from tests.insights.test_authority_pages import make_world

    make_world()
    cache.clear()
    authority_user(province(), username="jiangsu", first_name="江苏省工业和信息化厅")
    enterprise_user(username="filer", first_name="某某精密制造有限公司填报员")
    UserFactory(role=Role.EXPERT, username="expert", first_name="评审专家")
    UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry", first_name="部委工作人员")
    pages = {
        "filer": ["/", "/filings/"],
        "jiangsu": ["/", "/insights/", "/insights/rankings/", "/insights/trends/", "/filings/review/"],
        "expert": ["/"],
        "ministry": ["/", "/insights/report/", "/index-runs/", "/insights/"],
    }
    for username, urls in pages.items():
        _login(phone, live_server, username)
        _chip_is_one_line(phone)
        SCREENSHOT_DIR.mkdir(exist_ok=True)
        phone.locator("header.site-header").screenshot(path=str(SCREENSHOT_DIR / f"mobile-header-{username}.png"))
        for url in urls:
            phone.goto(live_server.url + url)
            _no_sideways_scroll(phone, url)
        phone.goto(live_server.url + urls[1 if len(urls) > 1 else 0])
        screenshot(phone, f"mobile-{username}")


def test_data_map_tiles_at_desktop_width(page, live_server, transactional_db, screenshot):
    from django.core.cache import cache

    from tests.insights.test_authority_pages import make_world

    make_world()
    cache.clear()
    UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry")
    _login(page, live_server, "ministry")
    page.goto(live_server.url + "/insights/report/")
    tiles = page.get_by_test_id("tilemap")
    expect(tiles.locator(".tile")).to_have_count(31)
    expect(tiles.locator('[data-code="320000"] .tile-name')).to_have_text("江苏")
    tiles.screenshot(path=str(SCREENSHOT_DIR / "data-map-tiles.png"))
