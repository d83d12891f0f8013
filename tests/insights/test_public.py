"""Public pages (/open/) and the open-data API (/api/v1/public/): only published runs, only
disclosure-safe values, cacheable, throttled, and a fixed number of queries.

Every test here reads one world with both periods published, written once for the module;
the tests of what shows before a publication are in test_public_without_runs.py."""

import copy
import csv
import io
import json

import numpy as np
import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from apps.filings.models import Submission, SubmissionStatus
from apps.filings.packing import compiled_for
from apps.filings.synthetic import synthetic_answers
from apps.frameworks import scoring
from apps.indices.models import IndexCell
from apps.indices.readers import public_memo
from apps.indices.services import index_run_publish
from apps.insights.public_api import CELL_FIELDS, VALUES, PublicCellSerializer
from tests.factories import EnterpriseFactory, county, industry, key_industry
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run
from tests.kept_rows import rows_kept_for_the_module

pytestmark = pytest.mark.django_db

API = "/api/v1/public"
KINDS = ["nation", "province", "prefecture", "county", "division", "key_industry", "size", "province_division",
         "prefecture_division"]
SMALL_PROVINCES = [
    ((("110101", "东城区"), ("110100", "北京市辖区"), ("110000", "北京市")), 3),
    ((("120101", "和平区"), ("120100", "天津市辖区"), ("120000", "天津市")), 4),
]


def add_small_provinces(periods):
    """Two provinces with too few filings to publish (3 and 4 enterprises)."""
    framework = periods[0].framework
    compiled = compiled_for(framework)
    rng = np.random.default_rng(11)
    electronics = industry("39")
    for (county_, prefecture_, province_), count in SMALL_PROVINCES:
        region = county(county_, prefecture_, province_)
        enterprises = [EnterpriseFactory(region=region, industry=electronics, name=f"{province_[1]}企业{i}") for i in range(count)]
        for p, period in enumerate(periods):
            A = synthetic_answers(compiled, rng.uniform(0.5, 4.5, count) + 0.3 * p, rng)
            A[:, compiled.module_index >= 0] = np.nan
            for e, row in zip(enterprises, A, strict=True):
                Submission.objects.create(
                    enterprise=e, period=period, framework=framework, status=SubmissionStatus.ACCEPTED,
                    province_code=e.province_code, prefecture_code=e.prefecture_code, county_code=e.county_code,
                    division_code=e.division_code, size_class=e.size_class, answer_vector=scoring.pack_answers(row),
                )  # fmt: skip


def populate():
    periods = build(small_county=True)
    add_small_provinces(periods)
    tag = key_industry("electronics", "电子信息")
    from apps.enterprises.models import Enterprise

    for e in Enterprise.objects.filter(industry__code="39"):
        e.key_industries.add(tag)
    return periods


@pytest.fixture(autouse=True)
def _clear_cache(fresh_caches):
    """Every test here starts and ends with empty caches (tests/conftest.py fresh_caches)."""


def publish_both():
    """The population with both periods published (2025 first, so 2026 has changes)."""
    p2025, p2026 = populate()
    r2025 = index_run_publish(run=inline_run(p2025), user=None)
    r2026 = index_run_publish(run=inline_run(p2026), user=None)
    return r2025, r2026


@pytest.fixture(scope="module")
def published_rows(django_db_setup, django_db_blocker):
    """Written once for the module (tests/conftest.py rows_kept_for_the_module): every test
    here reads the same two published runs; what a test changes is rolled back after it."""
    yield from rows_kept_for_the_module(django_db_blocker, publish_both, "published_rows")


@pytest.fixture
def published(published_rows, db):
    return copy.deepcopy(published_rows)


def api_cells(client, period, kind, **params):
    response = client.get(f"{API}/periods/{period}/cells/", {"kind": kind, "page_size": 1000, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    return body["results"]


# --- the API never gives a suppressed value, nor an unpublished run ---------------------------


def test_api_never_returns_a_suppressed_value(client, published):
    _, run = published
    rows = {(c.kind, c.code): c for c in IndexCell.objects.filter(run=run)}
    assert any(c.suppressed for c in rows.values()), "the population should have suppressed cells"
    assert rows[("province", "110000")].suppressed and rows[("province", "120000")].suppressed
    seen = {}
    for kind in KINDS:
        for record in api_cells(client, "2026", kind):
            seen[(record["kind"], record["code"])] = record
    bulk = {(r["kind"], r["code"]): r for r in client.get(f"{API}/periods/2026/cells.json").json()["cells"]}
    assert seen.keys() == rows.keys() == bulk.keys()
    for key, row in rows.items():
        for record in (seen[key], bulk[key]):
            assert record["run_id"] == run.pk
            assert record["suppressed"] == row.suppressed
            if row.suppressed:
                assert record["reason_label"]
                assert all(record[f] is None for f in VALUES), (key, {f: record[f] for f in VALUES if record[f] is not None})
            else:
                assert record["n"] == row.n
                assert record["mean"] == (pytest.approx(row.mean) if row.mean is not None else None)
    one = client.get(f"{API}/periods/2026/cells/province/110000/").json()
    assert one["suppressed"] and one["reason_label"] == "不公开" and one["mean"] is None and one["n"] is None


def test_records_have_the_documented_fields(client, published):
    record = api_cells(client, "2026", "nation")[0]
    assert list(record) == list(CELL_FIELDS) == list(PublicCellSerializer().fields)


def test_unknown_period_kind_or_cell(client, published):
    assert client.get(f"{API}/periods/2031/cells/").status_code == 404
    assert client.get(f"{API}/periods/2026/cells/?kind=enterprise").status_code == 400
    assert client.get(f"{API}/periods/2026/cells/county/999999/").status_code == 404
    assert client.get(f"{API}/periods/2026/cells/?kind=county&page=99").status_code == 404
    assert client.get(reverse("open:provinces") + "?period=2031").status_code == 404


def test_cells_filtered_by_parent_and_paginated(client, published):
    counties = api_cells(client, "2026", "county", parent="320100")
    assert {c["code"] for c in counties} == {"320102", "320104", "320105"}
    page = client.get(f"{API}/periods/2026/cells/", {"kind": "county", "page_size": 2}).json()
    assert page["count"] == IndexCell.objects.filter(run=published[1], kind="county").count()
    assert len(page["results"]) == 2 and page["next"].startswith("http://testserver/api/v1/public/")
    ranked = [c["rank"] for c in api_cells(client, "2026", "province") if c["rank"] is not None]
    assert ranked == sorted(ranked) == [1, 2] and all(isinstance(r, int) for r in ranked)


# --- caching -----------------------------------------------------------------------------------


def test_conditional_requests_get_304(client, published):
    url = f"{API}/periods/2026/cells/?kind=province"
    first = client.get(url)
    assert first.status_code == 200
    assert "public" in first["Cache-Control"] and "max-age=300" in first["Cache-Control"]
    assert first["Last-Modified"] and first["ETag"]
    assert "Cookie" not in first.get("Vary", "")
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and not again.content and again["ETag"] == first["ETag"]
    since = client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert since.status_code == 304
    for path in ("/periods/", "/periods/2026/cells.csv", "/periods/2026/cells.json", "/periods/2026/cells/nation/CN/"):
        r = client.get(API + path)
        assert r.status_code == 200 and client.get(API + path, HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    # another language is another representation
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert english["ETag"] != first["ETag"]


def test_a_run_that_goes_stale_is_modified_for_if_modified_since(client, published):
    """A late acceptance after the publication sets the run's stale_since, which the periods
    list reports: a client asking If-Modified-Since the publication gets the new body, not a
    304 (Last-Modified is readers.run_changed_at: the publication or a later stale flag)."""
    import datetime

    from apps.indices.models import IndexRun
    from apps.indices.services import index_mark_stale

    _, run = published
    hour_ago = run.published_at - datetime.timedelta(hours=1)  # Last-Modified counts whole seconds
    IndexRun.objects.filter(is_published=True).update(published_at=hour_ago)
    url = f"{API}/periods/"
    before = client.get(url)
    stale_then = {p["code"]: p["run"]["stale_since"] for p in before.json()}
    assert stale_then["2026"] is None
    assert index_mark_stale(submission=Submission.objects.filter(period=run.period).first()) > 0
    after = client.get(url, HTTP_IF_MODIFIED_SINCE=before["Last-Modified"])
    assert after.status_code == 200 and after["Last-Modified"] != before["Last-Modified"]
    assert {p["code"]: p["run"]["stale_since"] for p in after.json()}["2026"] is not None
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=after["Last-Modified"]).status_code == 304
    # the period's cell endpoints: their Last-Modified moved with the flag too
    for path in ("/periods/2026/cells/?kind=province", "/periods/2026/cells.csv", "/periods/2026/cells/nation/CN/"):
        assert client.get(API + path, HTTP_IF_MODIFIED_SINCE=http_date_of(hour_ago)).status_code == 200


def http_date_of(moment):
    from django.utils.http import http_date

    return http_date(int(moment.timestamp()))


def test_responses_are_cached_by_run(client, published, django_assert_num_queries):
    url = f"{API}/periods/2026/cells/?kind=province"
    with django_assert_num_queries(4):  # which run is published, the run, its province cells, their names
        cold = client.get(url)
    with django_assert_num_queries(1):  # which run is published, only
        warm = client.get(url)
    assert cold.content == warm.content
    public_memo.clear()  # another worker process: the body comes from the shared cache
    with django_assert_num_queries(1):
        assert client.get(url).content == cold.content


# Query budgets of every open-data endpoint: a response not cached yet reads the run, its
# cells and their names (a few queries, whatever the number of cells); a cached one asks only
# which run is published; a conditional request that matches asks the same and sends no body.
ENDPOINT_BUDGETS = [
    # path, queries when nothing is cached (why), queries in another process (its memory empty)
    ("/periods/", 2, "which runs are published, the runs", 2),
    ("/periods/2026/cells/?kind=province", 4, "which run is published, the run, its cells, their names", 1),
    ("/periods/2026/cells/?kind=province&parent=CN&page_size=1&page=2", 4, "the same, one page", 1),
    ("/periods/2026/cells/?kind=size", 3, "size names need no query", 1),
    ("/periods/2026/cells/province/320000/", 4, "which run, the run, the province cells, their names", 1),
    ("/periods/2026/cells.csv", 3 + 2 * len(KINDS), "which run, the run, per kind its cells and names", 1),
    ("/periods/2026/cells.json", 3 + 2 * len(KINDS), "the same", 1),
]


@pytest.mark.parametrize("path, cold, why, other_process", ENDPOINT_BUDGETS, ids=[e[0] for e in ENDPOINT_BUDGETS])
def test_public_api_query_budgets(client, published, django_assert_max_num_queries, django_assert_num_queries,
                                  path, cold, why, other_process):
    with django_assert_max_num_queries(cold):  # nothing cached (see ENDPOINT_BUDGETS)
        first = client.get(API + path)
    assert first.status_code == 200, first.content
    with django_assert_num_queries(1):  # cached: which run is published, only
        assert client.get(API + path).content == first.content
    with django_assert_num_queries(1):  # the client has it: 304, no body
        assert client.get(API + path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    public_memo.clear()  # another worker process: the shared cache, not the database
    with django_assert_num_queries(other_process):  # (/periods/: the runs themselves, once per process)
        assert client.get(API + path).content == first.content


def test_ranking_page_queries(client, published, django_assert_num_queries):
    with django_assert_num_queries(4):  # which runs are published, the runs, province cells, region names
        assert client.get(reverse("open:provinces")).status_code == 200
    with django_assert_num_queries(1):  # which runs are published, only
        assert client.get(reverse("open:provinces")).status_code == 200
    # every ranking page costs the same, whatever the number of rows (no query per row)
    for name in ("industries", "key_industries", "sizes"):
        with django_assert_num_queries(3 if name != "sizes" else 2):  # size names need no query
            assert client.get(reverse(f"open:{name}")).status_code == 200
    # another worker process (empty memory) reads the page body this one cached
    public_memo.clear()
    with django_assert_num_queries(2):  # which runs are published, the runs
        assert client.get(reverse("open:provinces")).status_code == 200


# --- throttling --------------------------------------------------------------------------------


def test_throttling_answers_429_in_chinese(client, published):
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public": "3/min"}}
    with override_settings(REST_FRAMEWORK=rates):
        cache.clear()
        for _ in range(3):
            assert client.get(f"{API}/periods/").status_code == 200
        refused = client.get(f"{API}/periods/2026/cells/")
        assert refused.status_code == 429
        assert "请求过于频繁" in refused.json()["detail"]
        assert int(refused["Retry-After"]) > 0
    cache.clear()
    assert client.get(f"{API}/periods/").status_code == 200


def test_throttling_on_redis_one_round_trip_per_request(client, published):
    """With the production cache (Redis) the throttle keeps each address's requests in one
    sorted set, checked and recorded by one script call; the cache reuses its client."""
    import os
    import uuid

    from django.core.cache import caches

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs the Redis of the test environment (CELERY_BROKER_URL)")
    prefix = f"test-throttle-{uuid.uuid4().hex[:8]}"
    redis_cache = {"default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}}
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public": "3/min"}}
    with override_settings(CACHES=redis_cache, REST_FRAMEWORK=rates):
        backend = caches["default"]
        assert backend._cache.get_client() is backend._cache.get_client()
        for _ in range(3):
            assert client.get(f"{API}/periods/", REMOTE_ADDR="10.1.1.1").status_code == 200
        refused = client.get(f"{API}/periods/2026/cells/", REMOTE_ADDR="10.1.1.1")
        assert refused.status_code == 429 and "请求过于频繁" in refused.json()["detail"]
        assert 0 < int(refused["Retry-After"]) <= 60
        # another address is not held back by the first one's requests
        assert client.get(f"{API}/periods/", REMOTE_ADDR="10.1.1.2").status_code == 200
        redis = backend._cache.get_client(write=True)
        key = backend.make_and_validate_key("throttle_public_10.1.1.1")
        assert redis.type(key) == b"zset" and redis.zcard(key) == 3  # the refused request is not recorded
        for found in redis.scan_iter(f"{prefix}:*"):
            redis.delete(found)


# --- bulk downloads ----------------------------------------------------------------------------


def test_csv_has_bom_run_id_and_the_api_numbers(client, published):
    _, run = published
    response = client.get(f"{API}/periods/2026/cells.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f"run{run.pk}.csv" in response["Content-Disposition"]
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {"run_id", "suppression_reason", "reason_label", "mean"} <= set(rows[0])
    assert len(rows) == IndexCell.objects.filter(run=run).count()
    api = {}
    for kind in KINDS:
        api.update({(c["kind"], c["code"]): c for c in api_cells(client, "2026", kind)})
    for row in rows:
        record = api[(row["kind"], row["code"])]
        assert row["run_id"] == str(run.pk) and row["period"] == "2026"
        for field in ("mean", "median", "coverage", "change"):
            assert row[field] == ("" if record[field] is None else repr(record[field]))
        assert row["n"] == ("" if record["n"] is None else str(record["n"]))
        if record["suppressed"]:
            assert row["suppression_reason"] and all(row[f] == "" for f in VALUES)
    beijing = next(r for r in rows if r["kind"] == "province" and r["code"] == "110000")
    assert beijing["reason_label"] == "不公开" and beijing["name"] == "北京市"
    document = client.get(f"{API}/periods/2026/cells.json").json()
    assert document["run"]["id"] == run.pk and len(document["cells"]) == len(rows)


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["home", "provinces", "industries", "key_industries", "sizes", "trends", "method"])
def test_pages_render_for_anonymous_visitors(client, published, name):
    _, run = published
    response = client.get(reverse(f"open:{name}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="public-note"' in html
    assert f"发布的{run.period.name}指数" in html and reverse("open:method") in html


def test_province_ranking_marks_suppressed_cells_with_the_reason(client, published):
    _, run = published
    html = client.get(reverse("open:provinces")).content.decode()
    assert 'data-testid="ranking-chart"' in html and 'data-testid="ranking-table"' in html
    assert html.count('data-suppressed="true"') == IndexCell.objects.filter(run=run, kind="province", suppressed=True).count()
    beijing = html.split('data-code="110000"', 1)[1].split("</tr>", 1)[0]
    assert "不公开" in beijing and "样本不足" not in beijing and "不公布数值" in beijing
    raw = IndexCell.objects.get(run=run, kind="province", code="110000")
    assert f"{raw.mean:.1f}" not in beijing
    chart = json.loads(html.split('id="ranking-data" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert "北京市" not in chart["names"] and "天津市" not in chart["names"]


def test_period_selector_and_trends(client, published):
    r2025, r2026 = published
    html = client.get(reverse("open:home") + "?period=2025").content.decode()
    assert "发布的2025年度指数" in html  # the footnote names the period, not an internal run number
    trends = client.get(reverse("open:trends") + "?province=320000").content.decode()
    assert "2025年度" in trends and "2026年度" in trends and "江苏省" in trends
    assert f"#{r2025.pk}" in trends and f"#{r2026.pk}" in trends
    small = client.get(reverse("open:trends") + "?province=110000").content.decode()
    assert "样本不足" in small
    assert client.get(reverse("open:trends") + "?province=999999").status_code == 404


def test_english_pages(client, published):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("open:provinces")).content.decode()
    assert '<html lang="en">' in html
