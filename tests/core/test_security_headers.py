"""Script injection and caching: framework text cannot run as script, every page sends a
Content-Security-Policy and carries no inline script, and nothing a signed-in user is
served may be stored by a cache."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from apps.filings import services
from apps.filings.models import SubmissionScore, SubmissionStatus
from tests.core.conftest import urls
from tests.factories import EnterpriseFactory, county, enterprise_user
from tests.filings.builders import open_period

pytestmark = pytest.mark.django_db

EVIL = '</script><script>document.title="pwned"</script><img src=x onerror=alert(1)>'


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


def test_framework_text_in_the_report_chart_is_data_not_script(client):
    ent = EnterpriseFactory(region=county())
    filer = enterprise_user(ent)
    sub = services.submission_start(enterprise=ent, period=open_period(), user=filer)
    sub.framework.dimensions.filter(code="D1").update(name=EVIL)
    sub.status = SubmissionStatus.ACCEPTED
    sub.save(update_fields=["status"])
    SubmissionScore.objects.create(
        submission=sub, framework=sub.framework, scoring_code_version="test", composite=58.5, level=3,
        dimension_scores={"D1": 67.5, "D2": 45.0}, indicator_scores={"R1": 60.0, "C1": 75.0, "K1": 75.0, "Y1": 0.0},
    )
    client.force_login(filer)
    response = client.get(reverse("filings:report", args=[sub.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "</script><script>" not in html
    assert "<img src=x" not in html
    found = Scripts()
    found.feed(html)
    assert found.inline == [] and found.handlers == []
    block = re.search(r'<script id="radar-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(block)
    assert data["indicators"][0]["name"] == EVIL  # the name arrives intact, as data
    assert data["name"] == ent.name


@pytest.mark.parametrize("role", ["anonymous", "enterprise", "authority", "ministry"])
def test_every_page_sends_a_csp_without_inline_script_and_signed_in_pages_are_not_stored(client, portal, role):
    user = portal["users"][role]
    if user is not None:
        client.force_login(user)
    pages = 0
    for name, url in urls(portal["ids"]):
        response = client.get(url)
        # (the open-data API answers the same to everyone and authenticates no one)
        if user is not None and not url.startswith("/api/v1/public/"):
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
