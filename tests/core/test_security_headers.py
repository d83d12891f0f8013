"""Script injection and caching: framework text cannot run as script, every page sends a
Content-Security-Policy and carries no inline script, and nothing a signed-in user is
served may be stored by a cache. The tests here share the ``portal`` world
(tests/core/conftest.py); those that build their own rows are in
test_security_headers_own_rows.py."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.core.conftest import urls

pytestmark = pytest.mark.django_db


class Scripts(HTMLParser):
    """Inline scripts and on*= handler attributes of a page."""

    def __init__(self):
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        # on*= handlers, and htmx's hx-on (evaluated like one)
        self.handlers += [f"<{tag} {k}=…>" for k in a if k.startswith(("on", "hx-on", "data-hx-on"))]
        if tag == "script":
            # a json_script block is data (type application/json), never run
            self._in_script = None if a.get("src") or a.get("type") == "application/json" else ""

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.inline.append(self._in_script.strip()[:80])
            self._in_script = None


@pytest.mark.parametrize("role", ["anonymous", "enterprise", "authority", "ministry"])
def test_every_page_sends_a_csp_without_inline_script_and_signed_in_pages_are_not_stored(client, portal, role):
    user = portal["users"][role]
    if user is not None:
        client.force_login(user)
    pages = 0
    for name, url in urls(portal["ids"]):
        response = client.get(url)
        # (public API endpoints — open data, pilot notices — authenticate no one and answer
        # the same to everyone: the request ends anonymous and keeps its public headers)
        if user is not None and response.wsgi_request.user.is_authenticated:
            cache_control = response.get("Cache-Control", "")
            assert "no-store" in cache_control and "public" not in cache_control, (url, cache_control)
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        pages += 1
        policy = response.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0], (url, policy)
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy, url
        found = Scripts()
        found.feed(response.content.decode())
        assert found.inline == [], (name, url, found.inline)
        assert found.handlers == [], (name, url, found.handlers)
    assert pages >= 5


def test_personal_data_exports_are_not_stored(client, portal):
    client.force_login(portal["users"]["ministry"])
    for url in (reverse("enterprises:export", args=["csv"]), reverse("insights:enterprise-export", args=["csv"]),
                reverse("filings:transfer-export", args=[portal["ids"]["period_code"]])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url


def test_public_pages_keep_their_cache_headers_for_anonymous_visitors(client, portal):
    response = client.get("/api/v1/public/periods/")
    assert "public" in response.get("Cache-Control", "")
    assert "Content-Security-Policy" in response
