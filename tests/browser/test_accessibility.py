"""axe-core (vendored from the npm registry, portal/static/vendor/axe-core/) on ten key pages:
no serious or critical violation. The script is loaded from our own static files, so the
page's Content-Security-Policy (script-src 'self') stays as it is in production."""

import pytest
from django.conf import settings
from django.core.cache import cache

from apps.accounts.models import Role
from apps.filings import services
from apps.filings.models import Submission, SubmissionStatus
from tests.browser.helpers import login as _login
from tests.factories import (
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    prefecture,
)

pytestmark = [pytest.mark.browser]

AXE = "/static/vendor/axe-core/axe.min.js"
# Every WCAG 2.x A/AA rule and axe's best practices; only serious and critical ones fail.
RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " — " + n.failureSummary.split("\\n").slice(1, 2).join(""))}));
}"""


def _violations(page, live_server, path) -> list[dict]:
    page.goto(live_server.url + path)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("location.pathname") == path.split("?")[0], f"{path} redirected to {page.url}"
    page.add_script_tag(url=live_server.url + AXE)
    return page.evaluate(RUN)


def test_ten_key_pages_have_no_serious_or_critical_violation(page, live_server, transactional_db):
    from tests.insights.test_authority_pages import make_world

    world = make_world()
    cache.clear()
    p2026 = world["p2026"]
    # an enterprise with a draft of the open period, and one whose 2026 filing is accepted and scored
    filer = enterprise_user(EnterpriseFactory(region=county()), username="filer", first_name="填报员")
    draft = services.submission_start(enterprise=filer.enterprise, period=p2026, user=filer)
    accepted = Submission.objects.filter(period=p2026, status=SubmissionStatus.ACCEPTED, score__isnull=False).first()
    enterprise_user(accepted.enterprise, username="reader", first_name="报告读者")
    authority_user(prefecture(), username="nanjing", first_name="南京市工业和信息化局")
    UserFactory(role=Role.MINISTRY, is_staff=True, username="ministry", first_name="部委工作人员")

    pages = [
        (None, "/open/"),  # public home
        (None, "/open/method/"),  # method page
        (None, "/open/provinces/"),  # public data (rankings)
        (None, "/accounts/login/"),
        (None, "/accounts/register/"),
        ("filer", "/"),  # enterprise workbench
        ("filer", f"/filings/{draft.pk}/step/D2/"),  # filing step
        ("reader", f"/filings/{accepted.pk}/report/"),  # report
        ("nanjing", "/filings/review/"),  # authority review queue
        ("ministry", "/index-runs/"),  # ministry index runs
    ]
    found = {}
    current = None
    for user, path in pages:
        if user != current:
            if user is None:
                page.context.clear_cookies()
            else:
                _login(page, live_server, user)
            current = user
        violations = _violations(page, live_server, path)
        if violations:
            found[path] = violations
    assert not found, "\n".join(
        f"{path}: {v['impact']} {v['id']} ({v['help']}): {v['nodes']}" for path, vs in found.items() for v in vs
    )
    # the check itself can fail: the vendored axe ran, and it reports an image without a text
    assert page.evaluate("axe.version") == "4.14.1"
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/static/x.png\">')")
    assert "image-alt" in {v["id"] for v in page.evaluate(RUN)}
    # on a phone, the report and the method page stay inside the screen in both languages
    # (tables with English headers once pushed them sideways)
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, live_server, "reader")
    for language in ("zh-hans", "en"):
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
        for path in (f"/filings/{accepted.pk}/report/", "/open/method/"):
            page.goto(live_server.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} ({language}) scrolls sideways by {overflow} px at 390 px"
