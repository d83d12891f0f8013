"""What many browser journeys share: signing in through the real log-in form."""

from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD


def login(page, live_server, username: str, password: str = TEST_PASSWORD) -> None:
    """Sign ``username`` in through /accounts/login/ in a fresh browser session (cookies of an
    earlier user cleared) and wait until the header shows the signed-in user."""
    page.context.clear_cookies()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("user-chip")).to_be_visible()
