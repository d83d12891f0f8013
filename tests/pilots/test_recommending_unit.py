"""The pilot recommending channel (apps.accounts.scoping) against the statistical hierarchy:
a province's jurisdiction includes its 计划单列市 and 新疆 includes the 兵团's cities, but in a
pilot call those recommend for themselves."""

import pytest

from apps.accounts.scoping import (
    jurisdiction_of,
    pilot_channel_q,
    recommending_unit_for,
    recommending_unit_of,
)
from apps.enterprises.models import Enterprise
from tests.factories import EnterpriseFactory, authority_user, prefecture
from tests.pilots.builders import separately_planned_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = separately_planned_world()
    w["shenyang_ent"] = EnterpriseFactory(region=w["shenyang_county"], name="沈阳甲公司")
    w["dalian_ent"] = EnterpriseFactory(region=w["dalian_county"], name="大连乙公司")
    w["shihezi_ent"] = EnterpriseFactory(region=w["shihezi"], name="石河子丙公司")
    w["urumqi_ent"] = EnterpriseFactory(region=w["urumqi_county"], name="乌鲁木齐丁公司")
    return w


def names(q):
    return sorted(Enterprise.objects.filter(q).values_list("name", flat=True))


def test_recommending_unit_of_each_enterprise(world):
    assert recommending_unit_for(world["shenyang_ent"]).code == "210000"
    assert recommending_unit_for(world["dalian_ent"]).code == "210200"
    assert recommending_unit_for(world["shihezi_ent"]).code == "660000"
    assert recommending_unit_for(world["urumqi_ent"]).code == "650000"


def test_statistical_hierarchy_still_includes_them(world):
    """Indices and filings: 辽宁 sees 大连's enterprise, 新疆 sees 石河子's."""
    liaoning = jurisdiction_of(authority_user(world["liaoning"]))
    assert names(liaoning.enterprise_q()) == ["大连乙公司", "沈阳甲公司"]
    xinjiang = jurisdiction_of(authority_user(world["xinjiang"]))
    assert names(xinjiang.enterprise_q()) == ["乌鲁木齐丁公司", "石河子丙公司"]
    assert liaoning.covers_region_code("210202")


def test_pilot_channel_excludes_them(world):
    assert names(pilot_channel_q(world["liaoning"])) == ["沈阳甲公司"]
    assert names(pilot_channel_q(world["dalian"])) == ["大连乙公司"]
    assert names(pilot_channel_q(world["xinjiang"])) == ["乌鲁木齐丁公司"]
    assert names(pilot_channel_q(world["xpcc"])) == ["石河子丙公司"]


def test_channel_agrees_with_unit_for_every_enterprise(world):
    units = [world[k] for k in ("liaoning", "dalian", "xinjiang", "xpcc")]
    for ent in Enterprise.objects.all():
        holders = [u.code for u in units if Enterprise.objects.filter(pilot_channel_q(u), pk=ent.pk).exists()]
        assert holders == [recommending_unit_for(ent).code]


def test_who_is_a_recommending_unit(world):
    assert recommending_unit_of(authority_user(world["liaoning"])).code == "210000"
    assert recommending_unit_of(authority_user(world["dalian"])).code == "210200"
    assert recommending_unit_of(authority_user(world["xpcc"])).code == "660000"
    shenyang = prefecture(("210100", "沈阳市"), ("210000", "辽宁省"))
    assert recommending_unit_of(authority_user(shenyang)) is None
