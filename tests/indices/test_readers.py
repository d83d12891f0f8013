"""One disclosure path (issue 8, finding 1): every surface that shows a cell value gives,
for each role, exactly what apps.indices.readers.cells_for answers for that reader — the
public view for the public, enterprises and cells outside a reader's jurisdiction."""

import codecs
import csv
import datetime
import io
import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.accounts.models import Role
from apps.filings.models import Submission
from apps.indices.models import IndexCell, IndexRun
from apps.indices.readers import PUBLIC, Reader, cells_for, public_memo
from apps.reference.models import Region
from tests.factories import UserFactory, authority_user, county, enterprise_user, prefecture, province
from tests.insights.test_authority_pages import export_url, make_world

pytestmark = pytest.mark.django_db

ROLES = ["enterprise", "xuanwu", "nanjing", "jiangsu", "ministry"]


@pytest.fixture(autouse=True)
def _clear_cache(fresh_caches):
    """Every test here starts and ends with empty caches (tests/conftest.py fresh_caches)."""


@pytest.fixture
def world():
    world = make_world()
    # a filing of 玄武区 (南京市, 江苏省), seen by its enterprise and by every authority above it
    sub = Submission.objects.filter(period=world["p2026"], county_code="320102").select_related("enterprise").first()
    world["submission"] = sub
    world["users"] = {
        "enterprise": enterprise_user(sub.enterprise),
        "xuanwu": authority_user(county()),
        "nanjing": authority_user(prefecture()),
        "jiangsu": authority_user(province()),
        "ministry": UserFactory(role=Role.MINISTRY, is_staff=True),
    }
    return world


def report_rows(html: str) -> dict[str, dict]:
    """The benchmark rows of the enterprise report: {kind: {median, benchmark, hidden}}."""
    out = {}
    for kind, body in re.findall(r'<tr data-testid="bench-row" data-kind="([^"]+)">(.*?)</tr>', html, re.S):
        nums = [re.sub(r"<[^>]+>|[▲▼]", "", v).strip() for v in re.findall(r'<td class="num">(.*?)</td>', body, re.S)]
        values = [None if v in ("—", "") else float(v.split()[0]) for v in nums]
        out[kind] = {"hidden": not nums, "median": values[0] if nums else None, "benchmark": values[1] if nums else None}
    return out


def one_decimal(v):
    return None if v is None else float(f"{v:.1f}")


@pytest.mark.parametrize("role", ROLES)
def test_the_enterprise_report_shows_what_cells_for_answers(client, world, role):
    """The report leak: /filings/<id>/report/ read IndexCell directly; the enterprise saw
    南京's benchmark (mean of its top decile, a handful of named firms) that the public
    view hides. Now each row equals cells_for for the reader, per role."""
    user, sub, run = world["users"][role], world["submission"], world["run"]
    client.force_login(user)
    response = client.get(reverse("filings:report", args=[sub.pk]))
    assert response.status_code == 200
    rows = report_rows(response.content.decode())
    assert set(rows) == {"division", "province", "prefecture", "nation"}
    reader = Reader.of(user)
    codes = {"division": sub.division_code, "province": sub.province_code, "prefecture": sub.prefecture_code, "nation": "CN"}
    for kind, code in codes.items():
        expected = cells_for(reader, run, kind, codes=(code,))[0]
        shown = rows[kind]
        assert shown["hidden"] == expected["hidden"], (role, kind)
        if not expected["hidden"]:
            assert shown["median"] == one_decimal(expected["median"]), (role, kind)
            assert shown["benchmark"] == one_decimal(expected["benchmark"]), (role, kind)
    # the finding itself: 南京 (n ≈ 25) has a stored benchmark, which only insiders may read
    nanjing = IndexCell.objects.get(run=run, kind="prefecture", code="320100")
    assert nanjing.benchmark is not None and not nanjing.suppressed
    inside = role in ("nanjing", "jiangsu", "ministry")
    assert (rows["prefecture"]["benchmark"] is not None) == inside, role


def test_the_open_data_api_is_the_public_answer(client, world):
    run = world["run"]
    for kind in ("nation", "province", "prefecture", "county", "division", "size", "province_division"):
        body = client.get(f"/api/v1/public/periods/{run.period.code}/cells/", {"kind": kind, "page_size": 1000}).json()
        expected = {c["code"]: c for c in cells_for(PUBLIC, run, kind)}
        assert {r["code"] for r in body["results"]} == set(expected)
        for record in body["results"]:
            cell = expected[record["code"]]
            for field in ("n", "mean", "median", "p25", "p75", "p90", "benchmark", "ci_low", "ci_high", "rank",
                          "suppression_reason", "stale"):
                assert record[field] == cell[field], (kind, record["code"], field)


@pytest.mark.parametrize("role", ["xuanwu", "nanjing", "jiangsu", "ministry"])
def test_the_ranking_export_is_the_readers_answer(client, world, role):
    user, run = world["users"][role], world["run"]
    client.force_login(user)
    response = client.get(export_url("regions"))
    if response.status_code == 404 or not response.content.strip():  # a county has no child regions
        return
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig").lstrip(codecs.BOM_UTF8.decode()))))
    names = {name: code for code, name in Region.objects.values_list("code", "name")}
    reader = Reader.of(user)
    for row in rows:
        code = names[row["名称"]]
        kind = Region.objects.get(code=code).level
        expected = cells_for(reader, run, kind, codes=(code,))[0]
        value = row["综合指数"]
        assert (None if value == "" else float(value)) == one_decimal(expected["mean"]), (role, code)
        assert row["隐藏原因"] == str(expected["reason_label"]), (role, code)


@pytest.mark.parametrize("role", ROLES)
def test_the_cell_admin_serves_only_readers_of_every_cell(client, world, role):
    user = world["users"][role]
    user.is_staff = True
    user.save()
    client.force_login(user)
    response = client.get(reverse("admin:indices_indexcell_changelist"))
    if role == "ministry":
        assert response.status_code == 200
        # for a reader of every cell, the stored values are cells_for's answer
        cell = IndexCell.objects.filter(run=world["run"], suppressed=True).first()
        assert cells_for(Reader.of(user), world["run"], cell.kind, codes=(cell.code,))[0]["mean"] == cell.mean
    else:
        assert response.status_code in (302, 403), role


def test_public_reasons_are_one_reason_insiders_keep_the_detail(world):
    """Finding 4: small_n ⇒ n 1–4, stability ⇒ 5–9 … The public reads one reason."""
    run = world["run"]
    jianye_public = cells_for(PUBLIC, run, "county", codes=("320105",))[0]
    assert jianye_public["suppressed"] and jianye_public["suppression_reason"] == "not_published"
    assert str(jianye_public["reason_label"]) == "不公开"
    reasons = {c["suppression_reason"] for kind in ("county", "prefecture", "province_division", "prefecture_division")
               for c in cells_for(PUBLIC, run, kind) if c["suppressed"]}
    assert reasons == {"not_published"}
    insider = cells_for(Reader.of(world["users"]["nanjing"]), run, "county", codes=("320105",))[0]
    assert insider["suppression_reason"] == "small_n" and str(insider["reason_label"]) == "样本不足"
    assert insider["confidential"] and insider["mean"] is not None


def test_level_distributions_the_run_withholds_are_withheld_on_every_public_read(world):
    """Group attribute disclosure: a published cell whose filers are all in one level shows
    no level distribution to the public, nor do the complements the run recorded
    (IndexRun.audit["protection"]["level_hidden"]); insiders keep them."""
    run = world["run"]
    shown = [c for c in cells_for(PUBLIC, run, "prefecture") if not c["suppressed"] and c["level_shares"]]
    assert len(shown) >= 2
    one, other = shown[0]["code"], shown[1]["code"]
    IndexCell.objects.filter(run=run, kind="prefecture", code=one).update(level_shares=[0.0, 0.0, 1.0, 0.0, 0.0])
    run.audit = {**(run.audit or {}), "protection": {**(run.audit or {}).get("protection", {}),
                                                     "level_hidden": [f"prefecture|{other}"]}}
    run.save(update_fields=["audit"])
    public_memo.clear()
    cache.clear()
    public = {c["code"]: c for c in cells_for(PUBLIC, run, "prefecture")}
    assert public[one]["level_shares"] is None and public[other]["level_shares"] is None
    assert public[one]["mean"] is not None
    ministry = {c["code"]: c for c in cells_for(Reader.of(world["users"]["ministry"]), run, "prefecture")}
    assert ministry[one]["level_shares"] == [0.0, 0.0, 1.0, 0.0, 0.0] and ministry[other]["level_shares"]


def test_a_run_under_an_id_used_before_reads_its_own_cells(world):
    """SQLite hands out an id again after a rolled-back transaction or a delete (and a database
    restored from a backup, the ids created after it): the cached cells of the run that had
    the id before are not the new run's, although nobody cleared the caches in between."""
    IndexRun.objects.filter(pk=world["run"].pk).update(is_published=False, published_at=None)  # a run being previewed
    run = IndexRun.objects.get(pk=world["run"].pk)
    ministry = Reader.of(world["users"]["ministry"])
    old = cells_for(ministry, run, "nation")[0]["n"]
    # another run under the same id: other cells, written (finished) at another time
    IndexCell.objects.filter(run=run, kind="nation").update(n=old + 1)
    IndexRun.objects.filter(pk=run.pk).update(finished_at=run.finished_at + datetime.timedelta(seconds=1))
    run = IndexRun.objects.get(pk=run.pk)
    assert cells_for(ministry, run, "nation")[0]["n"] == old + 1


def test_every_late_acceptance_reaches_readers_past_their_caches(world):
    """The first late acceptance after a publication sets stale_since; a second one flags
    other cells. Both must reach the insiders who see the flags (ministry staff here; the
    public sees no cell's flag, only that the period is being updated) past the caches that
    hold the cells read in between: the run's version moves with every new flag
    (IndexRun.stale_marked_at)."""
    from apps.indices.services import index_mark_stale

    run = IndexRun.objects.get(pk=world["run"].pk)
    assert run.is_published
    first, second = world["submission"], (
        Submission.objects.filter(period=world["p2026"]).exclude(province_code=world["submission"].province_code).first())
    assert second is not None

    def stale(county_code):
        run_now = IndexRun.objects.get(pk=run.pk)
        cells = {c["code"]: c for c in cells_for(Reader.of(world["users"]["ministry"]), run_now, "county")}
        return cells[county_code]["stale"]

    assert not stale(first.county_code) and not stale(second.county_code)  # cached now
    assert index_mark_stale(submission=first) > 0
    since = IndexRun.objects.get(pk=run.pk).stale_since
    assert stale(first.county_code) and not stale(second.county_code)
    assert index_mark_stale(submission=second) > 0
    assert stale(second.county_code)  # not the cached flags of the first acceptance
    assert IndexRun.objects.get(pk=run.pk).stale_since == since  # still when it first went stale
    assert index_mark_stale(submission=second) == 0  # nothing new: the version stays
