"""数据地图 at the national scope: a tile grid of the 31 provinces coloured by fixed score
bands; provinces without filings are drawn as 无数据."""

import re

import pytest

from apps.accounts.models import Role
from apps.indices.models import IndexCell
from apps.insights.tilemap import TILES, band_of, province_tiles
from tests.factories import UserFactory, authority_user, province
from tests.insights.test_authority_pages import make_world

pytestmark = pytest.mark.django_db


def test_layout_has_every_province_once_on_distinct_tiles():
    assert len(TILES) == 31
    assert len({(r, c) for r, c, _ in TILES.values()}) == 31
    assert all(0 <= r < 8 and 0 <= c < 8 for r, c, _ in TILES.values())


def test_bands_are_fixed_score_ranges():
    assert [band_of(v) for v in (None, 12.0, 40.0, 49.9, 55, 69.99, 70, 99)] == [None, 0, 1, 1, 2, 3, 4, 4]
    tiles = {t.code: t for t in province_tiles([{"code": "320000", "name": "江苏省", "mean": 61.2},
                                                 {"code": "330000", "name": "浙江省", "hidden": True, "mean": None}])}
    assert tiles["320000"].band == "b3" and tiles["330000"].band == "hidden" and tiles["110000"].band == "none"


def test_ministry_data_map_draws_the_tiles(client):
    world = make_world()
    client.force_login(UserFactory(role=Role.MINISTRY))
    html = client.get("/insights/report/").content.decode()
    assert html.count('role="listitem" data-code=') == 31
    js = IndexCell.objects.get(run=world["run"], kind="province", code="320000")
    band = f"b{band_of(round(js.mean, 1))}"
    assert re.search(rf'data-code="320000" data-band="{band}"', html)
    assert 'data-code="110000" data-band="none"' in html  # no filings in Beijing


def test_province_authority_data_map_has_no_national_tiles(client):
    make_world()
    client.force_login(authority_user(province()))
    html = client.get("/insights/report/").content.decode()
    assert 'data-testid="tilemap"' not in html
