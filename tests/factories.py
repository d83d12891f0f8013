"""factory_boy factories and small builders for tests.

Regions and industries are created on demand with their real GB/T codes (no need to load
the whole reference set for every test); ``county()`` builds the province and prefecture
above a county when they are missing.
"""

import itertools
from decimal import Decimal

import factory
from stdnum.cn import uscc as uscc_mod

from apps.accounts.models import Role, User
from apps.enterprises.models import Enterprise
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region, RegionLevel

# (code, name) of some real regions used across tests.
JIANGSU = ("320000", "江苏省")
NANJING = ("320100", "南京市")
XUANWU = ("320102", "玄武区")
SUZHOU = ("320500", "苏州市")
GUSU = ("320508", "姑苏区")
ZHEJIANG = ("330000", "浙江省")
HANGZHOU = ("330100", "杭州市")
XIHU = ("330106", "西湖区")


def province(code_name=JIANGSU) -> Region:
    code, name = code_name
    region, _ = Region.objects.get_or_create(
        code=code, defaults={"name": name, "level": RegionLevel.PROVINCE, "province_code": code}
    )
    return region


def prefecture(code_name=NANJING, province_code_name=None) -> Region:
    code, name = code_name
    prov = province(province_code_name or _province_of(code))
    region, _ = Region.objects.get_or_create(
        code=code,
        defaults={
            "name": name, "level": RegionLevel.PREFECTURE, "parent": prov,
            "province_code": prov.code, "prefecture_code": code,
        },
    )
    return region


def county(code_name=XUANWU, prefecture_code_name=None, province_code_name=None) -> Region:
    code, name = code_name
    pref = prefecture(prefecture_code_name or _prefecture_of(code), province_code_name)
    region, _ = Region.objects.get_or_create(
        code=code,
        defaults={
            "name": name, "level": RegionLevel.COUNTY, "parent": pref,
            "province_code": pref.province_code, "prefecture_code": pref.code,
        },
    )
    return region


_KNOWN = {r[0]: r for r in (JIANGSU, NANJING, SUZHOU, ZHEJIANG, HANGZHOU)}


def _province_of(code: str):
    c = code[:2] + "0000"
    return _KNOWN.get(c, (c, f"省{c}"))


def _prefecture_of(code: str):
    c = code[:4] + "00"
    return _KNOWN.get(c, (c, f"市{c}"))


def industry(code: str = "39", name: str = "计算机、通信和其他电子设备制造业") -> Industry:
    section, _ = Industry.objects.get_or_create(code="C", defaults={"name": "制造业", "level": IndustryLevel.SECTION})
    if len(code) == 2:
        obj, _ = Industry.objects.get_or_create(
            code=code, defaults={"name": name, "level": IndustryLevel.DIVISION, "parent": section, "division_code": code}
        )
        return obj
    parent = industry(code[:2], f"大类{code[:2]}")
    obj, _ = Industry.objects.get_or_create(
        code=code, defaults={"name": name, "level": IndustryLevel.GROUP, "parent": parent, "division_code": code[:2]}
    )
    return obj


def key_industry(code: str = "electronics", name: str = "电子制造") -> KeyIndustry:
    obj, _ = KeyIndustry.objects.get_or_create(code=code, defaults={"name": name})
    return obj


_serial = itertools.count(1)


def make_uscc(region_code: str = "320102", serial: int | None = None) -> str:
    """A valid unified social credit code (check character computed by python-stdnum)."""
    n = next(_serial) if serial is None else serial
    body = f"91{region_code}{n:09d}"[:17]
    # positions 9-17 are the organisation code; digits are always valid characters
    return body + uscc_mod.calc_check_digit(body)


def wrong_check(code: str) -> str:
    """The same code with a wrong check character."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:17] + next(c for c in alphabet if c != code[17])


class EnterpriseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enterprise

    uscc = factory.LazyFunction(make_uscc)
    name = factory.Sequence(lambda n: f"测试制造有限公司{n:04d}")
    region = factory.LazyFunction(county)
    industry = factory.LazyFunction(industry)
    employees = 350
    revenue = Decimal("5000")
    contact_name = "张三"
    contact_phone = "025-88888888"
    contact_email = factory.Sequence(lambda n: f"contact{n}@example.cn")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.MINISTRY
    password = factory.PostGenerationMethodCall("set_password", "Portal-Test-2026")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


TEST_PASSWORD = "Portal-Test-2026"


def enterprise_user(enterprise=None, **kw) -> User:
    enterprise = enterprise or EnterpriseFactory()
    return UserFactory(role=Role.ENTERPRISE, enterprise=enterprise, **kw)


def authority_user(region: Region, **kw) -> User:
    return UserFactory(role=Role.AUTHORITY, region=region, **kw)
