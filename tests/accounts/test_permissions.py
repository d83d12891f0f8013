"""The permission module: each role × surface × action, from one table.

The predicates of :mod:`apps.accounts.permissions` are asserted per role, then every page
and API surface that is guarded by one of them is requested as every role; the expected
answer is written in the table, so a role that gains or loses a right shows up here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from apps.accounts import permissions as perms
from apps.accounts.models import Role
from apps.accounts.scoping import SYSTEM, jurisdiction_of
from apps.enterprises.imports import enterprises_export
from apps.enterprises.models import Enterprise, ImportJob
from apps.frameworks.models import Framework
from apps.insights.models import ExportJob
from tests.factories import XUANWU, EnterpriseFactory, UserFactory, authority_user, county, enterprise_user
from tests.filings.builders import open_period

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "enterprise", "expert", "authority", "ministry", "admin", "inactive")


@pytest.fixture
def people():
    ent = EnterpriseFactory(region=county(XUANWU))
    return {
        "anonymous": AnonymousUser(),
        "enterprise": enterprise_user(ent),
        "expert": UserFactory(role=Role.EXPERT),
        # is_staff does not widen what an authority may do outside the admin site
        "authority": authority_user(county(XUANWU), is_staff=True),
        "ministry": UserFactory(role=Role.MINISTRY),
        "admin": UserFactory(role=Role.ADMIN, is_superuser=True, is_staff=True),
        "inactive": UserFactory(role=Role.MINISTRY, is_active=False),
    }


Y, N = True, False
# predicate:                   anon ent expert auth ministry admin inactive
PREDICATES = {
    "can_file":                   (N, Y, N, N, N, N, N),
    "can_review":                 (N, N, N, Y, Y, Y, N),
    "can_read_insights":          (N, N, N, Y, Y, Y, N),
    "can_list_enterprises":       (N, N, N, Y, Y, Y, N),
    "can_import_enterprises":     (N, N, N, Y, Y, Y, N),
    "can_transfer":               (N, N, N, Y, Y, Y, N),
    "can_move_enterprise_region": (N, N, N, Y, Y, Y, N),
    "can_confirm_enterprises":    (N, N, N, Y, Y, Y, N),
    "can_see_draft_frameworks":   (N, N, N, N, Y, Y, N),
    "can_run_indices":            (N, N, N, N, Y, Y, N),
    "can_edit_reference_data":    (N, N, N, N, N, Y, N),
}  # fmt: skip


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_by_role(people, name):
    predicate = getattr(perms, name)
    got = tuple(predicate(people[role]) for role in ROLES)
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, PREDICATES[name], strict=True))
    assert predicate(None) is False  # None is nobody, never "everything"


def test_system_actor_is_explicit(people):
    """The system actor may do every platform action but file; None may do nothing."""
    assert jurisdiction_of(SYSTEM).everything
    assert not jurisdiction_of(None).everything
    assert all(getattr(perms, n)(SYSTEM) for n in PREDICATES if n not in ("can_file", "can_edit_reference_data"))
    assert not perms.can_file(SYSTEM)
    # a service that used to read user=None as "all" refuses None and serves SYSTEM
    EnterpriseFactory()
    assert enterprises_export(user=SYSTEM, file_format="csv").decode("utf-8-sig").count("\n") == 1 + Enterprise.objects.count()
    assert enterprises_export(user=None, file_format="csv").decode("utf-8-sig").count("\n") == 1


def test_can_file_only_for_own_enterprise(people):
    user = people["enterprise"]
    assert perms.can_file(user, user.enterprise)
    assert perms.can_file(user, user.enterprise_id)
    assert not perms.can_file(user, EnterpriseFactory())


def test_require_raises_permission_denied(people):
    with pytest.raises(PermissionDenied):
        perms.require(perms.can_review, people["enterprise"])
    perms.require(perms.can_review, people["authority"])


# --- surfaces ---------------------------------------------------------------------------------

LOGIN = "login"  # anonymous visitors of a page are sent to log in


def _period():
    return open_period()


SURFACES = [
    # (name, method, url builder, {role: expected status}); missing roles: 403
    ("filing home", "get", lambda ctx: reverse("filings:home"),
     {"anonymous": LOGIN, "enterprise": 200, "authority": 302, "ministry": 302, "admin": 302}),
    ("filing start", "post", lambda ctx: reverse("filings:start", args=[ctx["period"].code]),
     {"anonymous": LOGIN, "enterprise": 302}),
    ("review queue", "get", lambda ctx: reverse("filings:queue"),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("bulk accept", "post", lambda ctx: reverse("filings:bulk-accept"),
     {"anonymous": LOGIN, "authority": 302, "ministry": 302, "admin": 302}),
    ("transfer page", "get", lambda ctx: reverse("filings:transfer"),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("transfer export", "get", lambda ctx: reverse("filings:transfer-export", args=[ctx["period"].code]),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("enterprise list", "get", lambda ctx: reverse("enterprises:list"),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("enterprise import", "get", lambda ctx: reverse("enterprises:import"),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("insights dashboard", "get", lambda ctx: reverse("insights:dashboard"),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("insights enterprises", "get", lambda ctx: reverse("insights:enterprises"),
     {"anonymous": LOGIN, "authority": 200, "ministry": 200, "admin": 200}),
    ("other's export job", "get", lambda ctx: reverse("insights:export-job", args=[ctx["export_job"].pk]),
     {"anonymous": LOGIN, "authority": 404, "ministry": 404, "admin": 404}),
    ("API start a filing", "post", lambda ctx: "/api/v1/submissions/",
     {"anonymous": 401, "enterprise": 400}),
    ("admin site", "get", lambda ctx: reverse("admin:index"),
     {"anonymous": LOGIN, "enterprise": LOGIN, "expert": LOGIN, "authority": 200, "ministry": LOGIN, "admin": 200}),
]


@pytest.fixture
def ctx(people):
    owner = UserFactory(role=Role.MINISTRY, username="owner")
    return {
        "period": _period(),
        "export_job": ExportJob.objects.create(owner=owner, file_format="csv", params={}),
    }


@pytest.mark.parametrize("role", [r for r in ROLES if r != "inactive"])
@pytest.mark.parametrize("surface", SURFACES, ids=[s[0] for s in SURFACES])
def test_surface_by_role(client, people, ctx, role, surface):
    name, method, url_of, expected = surface
    want = expected.get(role, 403)
    if role != "anonymous":
        client.force_login(people[role])
    url = url_of(ctx)
    response = getattr(client, method)(url, content_type="application/json") if url.startswith("/api/") else getattr(client, method)(url)
    if want == LOGIN:
        assert response.status_code == 302, (name, role, response.status_code)
        assert "login" in response["Location"], (name, role, response["Location"])
    else:
        assert response.status_code == want, (name, role, response.status_code)


def test_navigation_follows_the_predicates(client, people):
    expected = {
        "enterprise": {"诊断填报", "本企业信息"},
        "expert": set(),
        "authority": {"数据分析", "填报审核", "企业名录", "批量导入", "管理后台"},
        "ministry": {"数据分析", "填报审核", "企业名录", "批量导入"},
        "admin": {"数据分析", "填报审核", "企业名录", "批量导入", "管理后台"},
    }
    guarded = {"诊断填报", "本企业信息", "数据分析", "填报审核", "企业名录", "批量导入", "管理后台"}
    for role, labels in expected.items():
        client.force_login(people[role])
        nav = {str(label) for label, _url in client.get(reverse("core:home")).context["nav_items"]}
        assert nav & guarded == labels, role


def test_draft_frameworks_only_for_platform_staff(client, people):
    from apps.frameworks.exchange import import_framework
    from tests.factories import industry, key_industry
    from tests.filings.builders import SPEC

    industry("27", "医药制造业")
    key_industry()
    draft = import_framework({**SPEC, "code": "qmd-draft"})
    assert Framework.objects.filter(pk=draft.pk).exists()
    for role, sees in (("enterprise", False), ("authority", False), ("ministry", True), ("admin", True)):
        client.force_login(people[role])
        codes = [f["code"] for f in client.get("/api/v1/frameworks/").json()["results"]]
        assert ("qmd-draft" in codes) is sees, role


def test_job_lists_by_rule(people):
    own = people["authority"]
    other = people["ministry"]
    job = ImportJob.objects.create(file="imports/x.csv", original_name="x.csv", uploaded_by=other)
    assert list(ImportJob.objects.visible_to(other)) == [job]
    assert list(ImportJob.objects.visible_to(people["admin"])) == [job]  # platform staff see all
    assert list(ImportJob.objects.visible_to(own)) == []
    assert list(ImportJob.objects.visible_to(None)) == []
    export = ExportJob.objects.create(owner=own, file_format="csv", params={})
    qs = ExportJob.objects.all()
    assert list(perms.export_jobs_visible_to(qs, own)) == [export]
    assert list(perms.export_jobs_visible_to(qs, people["admin"])) == []  # personal data: owner only
    assert list(perms.export_jobs_visible_to(qs, SYSTEM)) == []


# --- the rule itself: role and jurisdiction rules live in apps/accounts only ---------------------

_ROLE_TESTS_IN_CODE = re.compile(
    r"\.role\s*(==|!=|\bin\b|\bnot in\b)"  # user.role == ... / in (...)
    r"|\bfilter\([^)]*\brole(__in)?\s*="  # querysets by role
    r"|\.is_staff\b|\.is_superuser\b"  # Django's flags read as a role
)
_ROLE_TESTS_IN_TEMPLATES = re.compile(r"\buser\.(role|is_staff|is_superuser)\b")


def _sources(suffix: str):
    root = Path(settings.BASE_DIR)
    for path in sorted((root / "apps").rglob(f"*{suffix}")):
        rel = path.relative_to(root).as_posix()
        # apps/accounts is where the rules live; migrations and the demo loaders create users
        # with a role (an assignment, not a rule).
        if rel.startswith("apps/accounts/") or "/migrations/" in rel or rel.endswith(("/demo.py", "/load_demo.py")):
            continue
        yield rel, path.read_text(encoding="utf-8")


def test_no_role_comparison_outside_the_permission_module():
    """Every view, API, form, task and template asks a named predicate of apps/accounts
    instead of comparing roles itself (issue 9: the checks were written seven times)."""
    found = [
        f"{rel}:{n}: {line.strip()}"
        for suffix, pattern in ((".py", _ROLE_TESTS_IN_CODE), (".html", _ROLE_TESTS_IN_TEMPLATES))
        for rel, text in _sources(suffix)
        for n, line in enumerate(text.splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_the_role_scan_finds_a_comparison():
    """The scan above is not vacuous: the shapes it must catch are caught."""
    for line in ['if user.role == Role.MINISTRY:', 'if request.user.role in (Role.AUTHORITY,):',
                 'User.objects.filter(role=Role.ENTERPRISE)', 'if user.is_staff:']:
        assert _ROLE_TESTS_IN_CODE.search(line), line
    assert _ROLE_TESTS_IN_TEMPLATES.search('{% if user.role != "enterprise" %}')
    assert not _ROLE_TESTS_IN_CODE.search("is_staff = pilot_rules.is_pilot_staff(user)")
    # and it reads the project's sources
    assert sum(1 for _ in _sources(".py")) > 100 and sum(1 for _ in _sources(".html")) > 40
