"""Script injection and the admin's policy, with rows of their own (the tests of every page
share the ``portal`` world in test_security_headers.py): framework text reaches the report
chart as data, never as script; the admin allows eval for unfold but no inline script."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from apps.filings import services
from apps.filings.models import SubmissionScore, SubmissionStatus
from tests.core.test_security_headers import Scripts
from tests.factories import EnterpriseFactory, county, enterprise_user
from tests.filings.builders import open_period

pytestmark = pytest.mark.django_db

EVIL = '</script><script>document.title="pwned"</script><img src=x onerror=alert(1)>'


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


def test_admin_pages_allow_eval_for_unfold_but_no_inline_script(client):
    from apps.accounts.models import Role
    from tests.factories import UserFactory

    client.force_login(UserFactory(role=Role.ADMIN, is_superuser=True, is_staff=True))
    for url in ("/admin/", "/admin/accounts/apitoken/", "/admin/enterprises/enterprise/"):
        response = client.get(url)
        assert response.status_code == 200, url
        script_src = response["Content-Security-Policy"].split("script-src")[1].split(";")[0]
        assert "'unsafe-eval'" in script_src and "unsafe-inline" not in script_src, url
        found = Scripts()
        found.feed(response.content.decode())
        assert found.inline == [], (url, found.inline)
