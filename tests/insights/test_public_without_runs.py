"""Public pages (/open/) and the open-data API (/api/v1/public/) before a run is published,
and the page that needs no run (the methodology). The tests of published runs share one
world in test_public.py."""

import csv
import io

import pytest
from django.urls import reverse

from apps.indices.services import index_run_publish
from tests.indices.test_index_runs import inline_run
from tests.insights.test_public import API, populate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache(fresh_caches):
    """Every test here starts and ends with empty caches (tests/conftest.py fresh_caches)."""


@pytest.fixture
def periods():
    return populate()


def test_unpublished_runs_never_leak_and_publishing_switches(client, periods):
    p2025, p2026 = periods
    inline_run(p2025)  # succeeded, never published
    assert client.get(f"{API}/periods/2025/cells/").status_code == 404
    first = index_run_publish(run=inline_run(p2026), user=None)
    newer = inline_run(p2026)  # succeeded but not published
    assert newer.pk > first.pk

    listing = client.get(f"{API}/periods/").json()
    assert [(p["code"], p["run"]["id"]) for p in listing] == [("2026", first.pk)]
    cells = client.get(f"{API}/periods/2026/cells/?kind=province")
    etag = cells["ETag"]
    assert {c["run_id"] for c in cells.json()["results"]} == {first.pk}
    assert client.get(f"{API}/periods/2026/cells/nation/CN/").json()["run_id"] == first.pk
    body = client.get(f"{API}/periods/2026/cells.csv").content.decode("utf-8-sig")
    assert {row["run_id"] for row in csv.DictReader(io.StringIO(body))} == {str(first.pk)}
    page = client.get(reverse("open:provinces")).content.decode()
    assert f"#{first.pk}" in page and f"#{newer.pk}" not in page

    index_run_publish(run=newer, user=None)
    switched = client.get(f"{API}/periods/2026/cells/?kind=province", HTTP_IF_NONE_MATCH=etag)
    assert switched.status_code == 200 and switched["ETag"] != etag
    assert {c["run_id"] for c in switched.json()["results"]} == {newer.pk}
    assert client.get(f"{API}/periods/").json()[0]["run"]["id"] == newer.pk
    body = client.get(f"{API}/periods/2026/cells.csv").content.decode("utf-8-sig")
    assert {row["run_id"] for row in csv.DictReader(io.StringIO(body))} == {str(newer.pk)}
    page = client.get(reverse("open:provinces")).content.decode()
    assert f"#{newer.pk}" in page and f"#{first.pk}" not in page


def test_pages_without_any_published_run(client, periods):
    inline_run(periods[1])  # not published
    for name in ("home", "provinces", "trends", "method"):
        html = client.get(reverse(f"open:{name}")).content.decode()
        assert "尚无已发布的指数数据" in html
    assert client.get(f"{API}/periods/").json() == []


def test_methodology_page_speaks_to_the_public(client):
    html = client.get(reverse("open:method")).content.decode()
    for anchor in ("measured", "scores", "levels", "indices", "not-published", "limits"):
        assert f'id="{anchor}"' in html
    assert "参与企业少于 5 家" in html and "统计法》第二十五条" in html and "未统计" in html
    # no developer documentation on a public page
    for developer in ("apps/", "SCORING_CODE_VERSION", "numpy", "IndexCell", "dominance_k", ".py"):
        assert developer not in html, developer


def test_methodology_page_in_english_has_no_chinese(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("open:method")).content.decode()
    assert "What is measured" in html and "fewer than 5 enterprises" in html
