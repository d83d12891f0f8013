"""Self-registration abuse: a throttle per client address, a warning when the USCC's
registration authority names another region, and the authority's confirmation before a
self-registered enterprise counts in indices."""

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from apps.enterprises.models import Enterprise
from apps.indices.pipeline import _registry_frame
from tests.enterprises.test_registration_and_profile import registration_data
from tests.factories import GUSU, HANGZHOU, SUZHOU, XIHU, authority_user, county, enterprise_user, make_uscc, prefecture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@override_settings(REGISTRATION_ATTEMPTS_PER_HOUR=3, NUM_PROXIES=1)
def test_registration_is_throttled_per_client_address():
    def post(n, client_address):
        data = registration_data(uscc=make_uscc("320102"), username=f"farm{n}-{client_address[-1]}")
        return Client().post(reverse("enterprises:register"), data, REMOTE_ADDR="10.0.0.1",
                             HTTP_X_FORWARDED_FOR=client_address)

    assert [post(n, "192.0.2.1").status_code for n in range(3)] == [302, 302, 302]
    refused = post(3, "192.0.2.1")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert "注册请求过于频繁" in refused.content.decode()
    assert post(4, "192.0.2.2").status_code == 302  # another client behind the same proxy


def test_uscc_of_another_region_is_warned_and_passes_once_confirmed(client):
    county(XIHU, HANGZHOU)
    data = registration_data(uscc=make_uscc("330106"))  # registered in 杭州西湖, filed as 南京玄武
    response = client.post(reverse("enterprises:register"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "330106" in html and "西湖区" in html and "我已核对，所在区县无误" in html
    assert not Enterprise.objects.exists()
    assert client.post(reverse("enterprises:register"), {**data, "confirm_region": "on"}).status_code == 302
    assert Enterprise.objects.count() == 1


@pytest.mark.parametrize("authority", ["320102", "320100", "320000"])
def test_uscc_of_the_county_prefecture_or_province_passes_silently(client, authority):
    response = client.post(reverse("enterprises:register"), registration_data(uscc=make_uscc(authority)))
    assert response.status_code == 302


def test_self_registered_enterprise_counts_only_once_confirmed(client):
    assert client.post(reverse("enterprises:register"), registration_data()).status_code == 302
    ent = Enterprise.objects.get()
    assert ent.awaiting_confirmation
    assert ent.pk not in set(_registry_frame()["enterprise_id"])  # not in the index register

    # an authority elsewhere cannot confirm it (404), nor an enterprise user (403)
    stranger = Client()
    stranger.force_login(authority_user(prefecture(SUZHOU)))
    county(GUSU, SUZHOU)
    assert stranger.post(reverse("enterprises:confirm", args=[ent.pk])).status_code == 404
    own = Client()
    own.force_login(enterprise_user(ent))
    assert own.post(reverse("enterprises:confirm", args=[ent.pk])).status_code == 403

    officer = Client()
    officer.force_login(authority_user(county()))
    listing = officer.get(reverse("enterprises:list"))
    assert "待确认" in listing.content.decode()
    assert list(officer.get(reverse("enterprises:list") + "?awaiting_confirmation=true").context["page"]) == [ent]
    response = officer.post(reverse("enterprises:confirm", args=[ent.pk]), {"next": "//evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("enterprises:list")
    ent.refresh_from_db()
    assert not ent.awaiting_confirmation and ent.confirmed_at and ent.confirmed_by is not None
    assert ent.pk in set(_registry_frame()["enterprise_id"])
    assert ent.history.first().history_change_reason == "主管部门确认自行注册的企业"
