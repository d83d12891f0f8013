"""Rank intervals beside ranks for the public, and each cell's 未统计 (not measured) share
(issue 8, "honest uncertainty"): through apps.indices.readers to the public pages, the
open-data API and the authority pages."""

import pandas as pd
import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.filings.models import Answer, Submission, SubmissionStatus
from apps.frameworks.models import Indicator
from apps.indices.aggregation import IndexParameters, compute_statistics
from apps.indices.models import IndexCell
from apps.indices.readers import PUBLIC, cells_for
from apps.indices.services import index_run_publish
from tests.factories import UserFactory
from tests.indices.population import build
from tests.indices.test_aggregation import cell
from tests.indices.test_disclosure import COLUMNS, DIMS, filings
from tests.indices.test_index_runs import inline_run

API = "/api/v1/public"


@pytest.fixture(autouse=True)
def _clear_cache(fresh_caches):
    """Every test here starts and ends with empty caches (tests/conftest.py fresh_caches)."""


@pytest.mark.django_db
def test_the_public_reads_rank_intervals_beside_ranks_in_the_api_and_on_the_page(client):
    _, p2026 = build(n=80)
    run = index_run_publish(run=inline_run(p2026), user=None)
    expected = {c["code"]: c for c in cells_for(PUBLIC, run, "county")}
    ranked = [c for c in expected.values() if c["rank"] is not None]
    assert len(ranked) >= 3 and all(c["rank_low"] <= c["rank"] <= c["rank_high"] for c in ranked)
    response = client.get(f"{API}/periods/{p2026.code}/cells/", {"kind": "county", "page_size": 1000})
    assert response.status_code == 200
    for row in response.json()["results"]:
        mine = expected[row["code"]]
        assert (row["rank"], row["rank_low"], row["rank_high"]) == (mine["rank"], mine["rank_low"], mine["rank_high"])
        if mine["rank"] is None:
            assert row["rank_low"] is None and row["rank_label"] is None
        else:
            assert row["rank_label"] == f"第{mine['rank']}名（{mine['rank_low']}–{mine['rank_high']}）"
    # hidden cells carry no interval either
    hidden = IndexCell.objects.filter(run=run, suppressed=True).first()
    if hidden is not None:
        found = client.get(f"{API}/periods/{p2026.code}/cells/{hidden.kind}/{hidden.code}/").json()
        assert found["rank_low"] is None and found["rank_high"] is None and found["rank_label"] is None
    # the public ranking page of the provinces shows "第k名（a–b）" in each ranked row
    provinces = [c for c in cells_for(PUBLIC, run, "province") if c["rank"] is not None]
    assert provinces
    html = client.get(reverse("open:provinces")).content.decode()
    for c in provinces:
        row = html.split(f'data-code="{c["code"]}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-testid="rank" aria-label="第{c["rank"]}名（{c["rank_low"]}–{c["rank_high"]}）"' in row
        assert f'第{c["rank"]}名</span> <span class="rank-interval">（{c["rank_low"]}–{c["rank_high"]}）<' in row
    assert "括号内为排名的 95% 区间" in html
    # the trends page: "rank / siblings（a–b）" for the chosen province
    c = provinces[0]
    trends = client.get(reverse("open:trends") + f"?province={c['code']}").content.decode()
    assert f'class="rank-interval" data-testid="rank-interval">（{c["rank_low"]}–{c["rank_high"]}）<' in trends


def test_each_cell_carries_its_share_of_not_measured_answers():
    rows = [("310101", "39", 50)] * 4 + [("310102", "39", 60)] * 6
    scores = filings(rows)
    scores["kpi_asked"] = 8.0
    scores["not_measured"] = [8, 8, 0, 0] + [1, 0, 0, 0, 0, 0]  # two filers measured nothing
    cells = compute_statistics(scores, scores[COLUMNS], IndexParameters(), DIMS)
    assert cell(cells, "county", "310101")["not_measured_share"] == pytest.approx(16 / 32)
    assert cell(cells, "county", "310102")["not_measured_share"] == pytest.approx(1 / 48)
    assert cell(cells, "nation", "CN")["not_measured_share"] == pytest.approx(17 / 80)
    # without the columns (no answers known) the share is unknown, not 0
    plain = compute_statistics(filings(rows), filings(rows)[COLUMNS], IndexParameters(), DIMS)
    assert pd.isna(cell(plain, "nation", "CN")["not_measured_share"])


@pytest.mark.django_db
def test_the_not_measured_share_is_computed_by_the_run_and_read_through_the_readers(client):
    _, p2026 = build(n=60)
    kpis = list(Indicator.objects.filter(framework=p2026.framework, kind="kpi", module__isnull=True))
    assert kpis
    filed = list(Submission.objects.filter(period=p2026, status=SubmissionStatus.ACCEPTED, county_code="330106")[:3])
    for submission in filed:
        for indicator in kpis:  # these three measured none of the common KPIs
            Answer.objects.create(submission=submission, indicator=indicator, value=None, not_measured=True)
    run = index_run_publish(run=inline_run(p2026), user=None)
    nation = IndexCell.objects.get(run=run, kind="nation")
    assert nation.not_measured_share == pytest.approx(3 * len(kpis) / (nation.n * len(kpis)))
    county = IndexCell.objects.get(run=run, kind="county", code="330106")
    assert county.not_measured_share == pytest.approx(3 / county.n)
    assert IndexCell.objects.get(run=run, kind="county", code="320102").not_measured_share == 0
    # the API gives what the readers give; hidden cells none
    api = client.get(f"{API}/periods/{p2026.code}/cells/county/330106/").json()
    assert api["not_measured_share"] == pytest.approx(cells_for(PUBLIC, run, "county", codes=("330106",))[0]["not_measured_share"])
    # authority pages: a column in the ranking
    client.force_login(UserFactory(role=Role.MINISTRY))
    html = client.get(reverse("insights:rankings") + "?region=330100").content.decode()
    assert "未统计占比" in html and f"{100 * county.not_measured_share:.1f}%" in html
