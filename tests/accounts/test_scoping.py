"""Who may see which enterprise, through every surface: service, pages, API and admin."""

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.accounts.scoping import jurisdiction_of
from apps.enterprises.models import Enterprise
from tests.factories import (
    GUSU,
    HANGZHOU,
    NANJING,
    SUZHOU,
    TEST_PASSWORD,
    XIHU,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    prefecture,
    province,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Three enterprises: 南京玄武, 苏州姑苏 (both Jiangsu), 杭州西湖 (Zhejiang)."""
    nanjing_ent = EnterpriseFactory(region=county(XUANWU), name="南京甲公司")
    suzhou_ent = EnterpriseFactory(region=county(GUSU, SUZHOU), name="苏州乙公司")
    hangzhou_ent = EnterpriseFactory(region=county(XIHU, HANGZHOU), name="杭州丙公司")
    return nanjing_ent, suzhou_ent, hangzhou_ent


def names(qs):
    return sorted(qs.values_list("name", flat=True))


def test_jurisdictions_by_role(world):
    nj, sz, hz = world
    assert names(Enterprise.objects.visible_to(UserFactory(role=Role.MINISTRY))) == sorted([nj.name, sz.name, hz.name])
    assert names(Enterprise.objects.visible_to(authority_user(province()))) == sorted([nj.name, sz.name])
    assert names(Enterprise.objects.visible_to(authority_user(prefecture(NANJING)))) == [nj.name]
    assert names(Enterprise.objects.visible_to(authority_user(county(XUANWU)))) == [nj.name]
    assert names(Enterprise.objects.visible_to(enterprise_user(sz))) == [sz.name]
    assert names(Enterprise.objects.visible_to(UserFactory(role=Role.EXPERT))) == []
    from django.contrib.auth.models import AnonymousUser

    assert names(Enterprise.objects.visible_to(AnonymousUser())) == []


def test_inactive_user_sees_nothing(world):
    user = UserFactory(role=Role.MINISTRY, is_active=False)
    assert jurisdiction_of(user).is_empty


def test_xpcc_authority_oversees_its_prefecture_code(world):
    from apps.reference.models import Region, RegionLevel

    xinjiang = province(("650000", "新疆维吾尔自治区"))
    direct = prefecture(("659000", "自治区直辖县级行政区划"), ("650000", "新疆维吾尔自治区"))
    shihezi = county(("659001", "石河子市"), ("659000", "自治区直辖县级行政区划"))
    xpcc = Region.objects.create(
        code="660000", name="新疆生产建设兵团", level=RegionLevel.PROVINCE, province_code="660000",
        oversees_prefecture_code=direct.code,
    )
    ent = EnterpriseFactory(region=shihezi, name="石河子丁公司")
    assert names(Enterprise.objects.visible_to(authority_user(xpcc))) == [ent.name]
    assert xinjiang.code == ent.province_code


def _login(client, user):
    client.force_login(user)


def test_enterprise_user_cannot_read_another_enterprise_page_or_api(client, world):
    nj, sz, _ = world
    user = enterprise_user(nj)
    _login(client, user)
    assert client.get(reverse("enterprises:detail", args=[nj.pk])).status_code == 200
    assert client.get(reverse("enterprises:detail", args=[sz.pk])).status_code == 404
    assert client.get(reverse("enterprises:edit", args=[sz.pk])).status_code == 404
    assert client.get(reverse("enterprises:history", args=[sz.pk])).status_code == 404
    assert client.get(reverse("enterprises:list")).status_code == 403
    api = client.get("/api/v1/enterprises/")
    assert [row["name"] for row in api.json()["results"]] == [nj.name]
    assert client.get(f"/api/v1/enterprises/{sz.pk}/").status_code == 404
    assert client.patch(f"/api/v1/enterprises/{sz.pk}/", {"name": "x"}, content_type="application/json").status_code == 404
    assert client.get(reverse("admin:enterprises_enterprise_change", args=[sz.pk])).status_code == 302


def test_prefecture_authority_cannot_read_enterprise_of_another_prefecture(client, world):
    nj, sz, hz = world
    user = authority_user(prefecture(NANJING))
    _login(client, user)
    page = client.get(reverse("enterprises:list"))
    assert page.status_code == 200
    assert nj.name in page.text and sz.name not in page.text and hz.name not in page.text
    assert client.get(reverse("enterprises:detail", args=[sz.pk])).status_code == 404
    assert client.get(reverse("enterprises:edit", args=[sz.pk])).status_code == 404
    assert client.get(reverse("enterprises:history", args=[sz.pk])).status_code == 404
    assert client.get(f"/api/v1/enterprises/{sz.pk}/").status_code == 404
    assert [r["name"] for r in client.get("/api/v1/enterprises/").json()["results"]] == [nj.name]
    # filtering cannot widen the scope
    assert client.get("/api/v1/enterprises/", {"prefecture_code": SUZHOU[0]}).json()["results"] == []
    assert client.get(reverse("enterprises:list"), {"q": sz.uscc}).context["total"] == 0


def test_token_auth_is_scoped_the_same(client, world):
    nj, sz, _ = world
    user = authority_user(prefecture(NANJING))
    token = client.post("/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD}).json()["token"]
    resp = client.get("/api/v1/enterprises/", HTTP_AUTHORIZATION=f"Token {token}")
    assert [r["name"] for r in resp.json()["results"]] == [nj.name]
    assert client.get(f"/api/v1/enterprises/{sz.pk}/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 404


def test_anonymous_is_refused_everything_but_public_pages(client, world):
    nj, _, _ = world
    assert client.get("/").status_code == 200
    assert client.get(reverse("enterprises:register")).status_code == 200
    assert client.get(reverse("enterprises:list")).status_code == 302
    assert client.get(reverse("enterprises:detail", args=[nj.pk])).status_code == 302
    assert client.get("/api/v1/enterprises/").status_code in (401, 403)
    assert client.get("/api/v1/regions/").status_code in (401, 403)


def test_expert_sees_no_enterprise(client, world):
    nj, _, _ = world
    _login(client, UserFactory(role=Role.EXPERT))
    assert client.get(reverse("enterprises:detail", args=[nj.pk])).status_code == 404
    assert client.get(reverse("enterprises:list")).status_code == 403
    assert client.get("/api/v1/enterprises/").json()["results"] == []


def test_admin_changelist_is_scoped(client, world):
    """A staff user with model permissions still sees only its jurisdiction in the admin."""
    from django.contrib.auth.models import Permission

    nj, sz, _ = world
    user = authority_user(prefecture(NANJING), is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_enterprise", "change_enterprise"]))
    _login(client, user)
    resp = client.get(reverse("admin:enterprises_enterprise_changelist"))
    assert resp.status_code == 200
    assert nj.name in resp.text and sz.name not in resp.text
    assert client.get(reverse("admin:enterprises_enterprise_change", args=[sz.pk])).status_code in (302, 404)
