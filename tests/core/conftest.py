"""Shared by the tests that walk every URL of the portal: the URLconf walker, a form
parser, and ``portal`` — a world with published index runs, a draft filing, an import and
an export job, and a user of each role, written once per module (every test of a module
that uses it must ask for it: tests/kept_rows.py)."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import Role
from apps.enterprises.models import ImportJob
from apps.filings import services
from apps.filings.models import Period
from apps.insights.models import ExportJob
from tests.factories import EnterpriseFactory, UserFactory, authority_user, county, enterprise_user, prefecture
from tests.insights.test_authority_pages import make_world
from tests.kept_rows import rows_kept_for_the_module

SKIP = {"accounts:logout", "set_language", "api-docs", "api-redoc", "api-schema"}


def walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace + (f"{p.namespace}:" if p.namespace else "")
            yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace + (p.name or "")


def concrete(route: str, name: str, ids: dict) -> str | None:
    """The route with its parameters filled from ``ids``; None for format-suffix variants."""
    if "format" in route or route.startswith("admin/"):
        return None
    route = route.replace("^", "").replace("$", "").replace("\\.", ".")
    app = name.split(":")[0] if ":" in name else name.rsplit("-", 1)[0]

    def fill(match):
        key = match.group("name")
        return str(ids.get((name, key), ids.get((app, key), ids.get(key, 1 if key.endswith("id") or key == "pk" else "x"))))

    route = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", fill, route)
    route = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", fill, route)
    return "/" + route


class Forms(HTMLParser):
    """The forms of a page: action, method and field names."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "fields": set()})
        elif tag in ("input", "select", "textarea", "button") and self.forms and a.get("name"):
            if a.get("type") != "file" and a.get("name") != "csrfmiddlewaretoken":
                self.forms[-1]["fields"].add(a["name"])


def build_portal() -> dict:
    """The world of ``portal``: ids to fill the URLconf's parameters and a user per role."""
    cache.clear()
    world = make_world()
    period: Period = world["p2026"]
    ent = EnterpriseFactory(region=county())
    filer = enterprise_user(ent)
    sub = services.submission_start(enterprise=ent, period=period, user=filer)
    ministry = UserFactory(role=Role.MINISTRY)
    job = ImportJob.objects.create(file="imports/x.csv", original_name="x.csv", uploaded_by=ministry)
    export = ExportJob.objects.create(owner=ministry, file_format="csv", params={})
    ids = {
        ("filings", "pk"): sub.pk, ("enterprises", "pk"): ent.pk, ("insights", "pk"): export.pk,
        ("enterprise", "pk"): ent.pk, ("submission", "pk"): sub.pk, ("framework", "pk"): period.framework_id,
        ("enterprises:import-job", "pk"): job.pk, ("enterprises:import-job-errors", "pk"): job.pk,
        ("region", "code"): "320102", ("industry", "code"): "39", ("key-industry", "code"): "electronics",
        ("period", "code"): period.code, "period_code": period.code, "period": period.code, "dimension": "D1",
        "fmt": "csv", "table": "regions", "kind": "nation", "code": "CN",
    }
    users = {
        "anonymous": None, "enterprise": filer, "authority": authority_user(prefecture()), "ministry": ministry,
    }
    return {"ids": ids, "users": users}


@pytest.fixture(scope="module")
def portal_rows(django_db_setup, django_db_blocker):
    """Written once per module (tests/kept_rows.py); what a test changes is rolled back after it."""
    yield from rows_kept_for_the_module(django_db_blocker, build_portal, "portal_rows")


@pytest.fixture
def portal(portal_rows, db, fresh_caches):
    return copy.deepcopy(portal_rows)


def urls(ids):
    for route, name in walk(get_resolver().url_patterns):
        url = None if name in SKIP else concrete(route, name, ids)
        if url is not None:
            yield name, url
