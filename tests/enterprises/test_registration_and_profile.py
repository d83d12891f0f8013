"""Self-registration, editing with history, and the rules on both."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import Role, User
from apps.enterprises.models import Enterprise
from apps.reference.models import Region
from apps.reference.size import SizeClass
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    key_industry,
    make_uscc,
    prefecture,
    wrong_check,
)

pytestmark = pytest.mark.django_db


def registration_data(**overrides):
    region = county(XUANWU)
    industry("39")
    key_industry()
    data = {
        "uscc": make_uscc("320102"),
        "name": "南京测试电子有限公司",
        "province": region.province_code,
        "prefecture": region.prefecture_code,
        "region": region.code,
        "industry": "39",
        "key_industries": ["electronics"],
        "employees": "320",
        "revenue": "2500.50",
        "address": "南京市玄武区测试路1号",
        "contact_name": "李四",
        "contact_phone": "13800000000",
        "contact_email": "li@example.cn",
        "username": "nj-electronics",
        "password1": "Quality-Digital-88",
        "password2": "Quality-Digital-88",
    }
    data.update(overrides)
    return data


def test_registration_creates_enterprise_and_user_and_logs_in(client):
    data = registration_data()
    resp = client.post(reverse("enterprises:register"), data)
    assert resp.status_code == 302
    ent = Enterprise.objects.get(uscc=data["uscc"])
    assert (ent.province_code, ent.prefecture_code, ent.county_code, ent.division_code) == ("320000", "320100", "320102", "39")
    assert ent.size_class == SizeClass.MEDIUM  # 320 people and 2,500.5 万元
    assert list(ent.key_industries.values_list("code", flat=True)) == ["electronics"]
    user = User.objects.get(username="nj-electronics")
    assert user.role == Role.ENTERPRISE and user.enterprise == ent
    assert resp.url == reverse("enterprises:detail", args=[ent.pk])
    assert client.get(resp.url).status_code == 200  # logged in


def test_registration_wrong_check_character_is_refused_in_chinese(client):
    data = registration_data()
    data["uscc"] = wrong_check(data["uscc"])
    resp = client.post(reverse("enterprises:register"), data)
    assert resp.status_code == 200
    assert "统一社会信用代码校验位错误" in resp.text
    assert not Enterprise.objects.exists() and not User.objects.exists()


def test_registration_accepts_lowercase_and_spaces(client):
    code = make_uscc("320102", serial=77)
    spaced = f"{code[:6]} {code[6:12]} {code[12:]}".lower()
    resp = client.post(reverse("enterprises:register"), registration_data(uscc=spaced))
    assert resp.status_code == 302
    assert Enterprise.objects.get().uscc == code


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"uscc": "91320102"}, "统一社会信用代码应为18位"),
        ({"region": "999999"}, "未知的区县代码"),
        ({"industry": "99"}, "未知的行业代码"),
        ({"password2": "Other-Password-99"}, "两次输入的密码不一致"),
        ({"password1": "12345678901", "password2": "12345678901"}, "密码"),
        ({"employees": "-3"}, "从业人员"),
    ],
)
def test_registration_errors_are_actionable(client, overrides, message):
    resp = client.post(reverse("enterprises:register"), registration_data(**overrides))
    assert resp.status_code == 200
    assert message in resp.text
    assert 'id="error-summary"' in resp.text
    assert not Enterprise.objects.exists()


def test_registration_duplicate_uscc(client):
    existing = EnterpriseFactory()
    resp = client.post(reverse("enterprises:register"), registration_data(uscc=existing.uscc))
    assert "该统一社会信用代码已注册" in resp.text
    assert Enterprise.objects.count() == 1


def test_registration_refuses_prefecture_or_abolished_region(client):
    resp = client.post(reverse("enterprises:register"), registration_data(region=NANJING[0]))
    assert resp.status_code == 200 and not Enterprise.objects.exists()
    abolished = county(("320103", "白下区"))
    Region.objects.filter(pk=abolished.pk).update(is_active=False)
    resp = client.post(reverse("enterprises:register"), registration_data(region=abolished.code))
    assert "已撤销" in resp.text
    assert not Enterprise.objects.exists()


def test_registration_failure_midway_leaves_nothing(client, monkeypatch):
    """If creating the user fails after the enterprise row was written, both roll back."""
    from apps.enterprises import services

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.get_user_model().objects, "create_user", broken)
    with pytest.raises(RuntimeError):
        client.post(reverse("enterprises:register"), registration_data())
    assert not Enterprise.objects.exists()


def test_region_options_fragment():
    from django.test import Client

    county(XUANWU)
    county(GUSU, SUZHOU)
    resp = Client().get("/reference/regions/options/", {"province": "320000"})
    assert "南京市" in resp.text and "苏州市" in resp.text
    resp = Client().get("/reference/regions/options/", {"prefecture": "320100"})
    assert "玄武区" in resp.text and "姑苏区" not in resp.text


def test_edit_by_authority_records_history_with_who_and_what(client):
    ent = EnterpriseFactory(region=county(XUANWU), employees=350, revenue=Decimal("5000"))
    officer = authority_user(prefecture(NANJING), first_name="王科长")
    client.force_login(officer)
    form = client.get(reverse("enterprises:edit", args=[ent.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "key_industries"}
    data.update(employees="1200", revenue="45000", contact_phone="025-66666666")
    resp = client.post(reverse("enterprises:edit", args=[ent.pk]), data)
    assert resp.status_code == 302, resp.context["form"].errors if resp.context else resp
    ent.refresh_from_db()
    assert ent.size_class == SizeClass.LARGE
    history = client.get(reverse("enterprises:history", args=[ent.pk]))
    entries = history.context["entries"]
    assert entries[0].who == "王科长"
    changed = {c.label: (c.old, c.new) for c in entries[0].changes}
    assert changed["从业人员（人）"] == ("350", "1200")
    assert changed["企业规模"] == ("中型", "大型")
    assert changed["联系电话"][1] == "025-66666666"


def test_authority_cannot_move_enterprise_out_of_its_jurisdiction(client):
    ent = EnterpriseFactory(region=county(XUANWU))
    gusu = county(GUSU, SUZHOU)
    officer = authority_user(prefecture(NANJING))
    client.force_login(officer)
    form = client.get(reverse("enterprises:edit", args=[ent.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "key_industries"}
    data.update(province="320000", prefecture=SUZHOU[0], region=gusu.code)
    resp = client.post(reverse("enterprises:edit", args=[ent.pk]), data)
    assert resp.status_code == 200
    assert "不在您的管辖范围内" in resp.text
    ent.refresh_from_db()
    assert ent.county_code == XUANWU[0]


def test_enterprise_user_edits_own_profile_but_not_region(client):
    ent = EnterpriseFactory(region=county(XUANWU))
    gusu = county(GUSU, SUZHOU)
    user = enterprise_user(ent)
    client.force_login(user)
    form = client.get(reverse("enterprises:edit", args=[ent.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "key_industries"}
    data.update(region=gusu.code, prefecture=SUZHOU[0], contact_name="赵六")
    resp = client.post(reverse("enterprises:edit", args=[ent.pk]), data)
    assert resp.status_code == 302
    ent.refresh_from_db()
    assert ent.contact_name == "赵六" and ent.county_code == XUANWU[0]


def test_api_update_validates_like_the_form(client):
    ent = EnterpriseFactory(region=county(XUANWU))
    officer = authority_user(prefecture(NANJING))
    client.force_login(officer)
    url = f"/api/v1/enterprises/{ent.pk}/"
    resp = client.patch(url, {"region": NANJING[0]}, content_type="application/json")
    assert resp.status_code == 400 and "区县" in resp.json()["region"][0]
    gusu = county(GUSU, SUZHOU)
    resp = client.patch(url, {"region": gusu.code}, content_type="application/json")
    assert resp.status_code == 400 and "管辖范围" in resp.json()["region"][0]
    resp = client.patch(url, {"employees": 10, "revenue": "100"}, content_type="application/json")
    assert resp.status_code == 200 and resp.json()["size_class"] == "micro"
    original = ent.uscc
    resp = client.patch(url, {"uscc": make_uscc()}, content_type="application/json")
    ent.refresh_from_db()
    assert resp.status_code == 200 and ent.uscc == original  # the USCC is read-only


def test_enterprise_can_be_placed_in_a_city_without_counties(client):
    """东莞 has no county level: the city itself is offered and stored as the county."""
    from apps.reference.models import Region

    dongguan = prefecture(("441900", "东莞市"), ("440000", "广东省"))
    Region.objects.filter(pk=dongguan.pk).update(is_county_equivalent=True)
    options = client.get("/reference/regions/options/", {"prefecture": "441900"})
    assert "东莞市" in options.text
    data = registration_data(province="440000", prefecture="441900", region="441900", uscc=make_uscc("441900"))
    resp = client.post(reverse("enterprises:register"), data)
    assert resp.status_code == 302
    ent = Enterprise.objects.get(uscc=data["uscc"])
    assert (ent.province_code, ent.prefecture_code, ent.county_code) == ("440000", "441900", "441900")
