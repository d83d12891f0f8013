"""Admin of pilot selection and XLSX import/export: all-or-nothing with per-row errors."""

import io

import pytest
import tablib
from django.urls import reverse
from openpyxl import load_workbook

from apps.pilots.models import AggregateResult, Application, ApplicationStatus, Conflict, Expert
from apps.pilots.resources import ConflictResource, ExpertResource, ResultResource
from tests.factories import EnterpriseFactory, authority_user, key_industry, province
from tests.pilots.builders import make_call, staff

pytestmark = pytest.mark.django_db

HEADERS = ["专家编号", "姓名", "工作单位", "所属集团", "地区代码", "重点行业", "场景层级", "电子邮箱", "在库"]


def test_expert_import_is_all_or_nothing_with_row_errors():
    province()
    key_industry()
    good = ["", "张三", "东南大学", "", "320000", "electronics", "lifecycle,value_chain", "z@example.cn", "是"]
    bad = ["", "李四", "某研究院", "", "999999", "nosuch", "everything", "", "是"]
    data = tablib.Dataset(good, bad, headers=HEADERS)
    result = ExpertResource().import_data(data, dry_run=False, raise_errors=False)
    assert result.has_validation_errors() or result.has_errors()
    messages = " ".join(str(e) for row in result.invalid_rows for e in row.error_dict.values()) + " ".join(
        str(e.error) for _, errs in result.row_errors() for e in errs)
    assert "999999" in messages or "nosuch" in messages or "everything" in messages
    assert Expert.objects.count() == 0  # the good row was rolled back too
    result = ExpertResource().import_data(tablib.Dataset(good, headers=HEADERS), dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    expert = Expert.objects.get()
    assert (expert.region_id, list(expert.key_industries.values_list("pk", flat=True)), expert.scenario_levels) == (
        "320000", ["electronics"], ["lifecycle", "value_chain"])


def test_conflict_import_and_result_export():
    expert = Expert.objects.create(name="王五", employer="某大学")
    ent = EnterpriseFactory()
    data = tablib.Dataset([expert.pk, ent.uscc, "曾任顾问"], [expert.pk, "91320000MA0000000X", "x"],
                          headers=["专家编号", "统一社会信用代码", "回避原因"])
    result = ConflictResource().import_data(data, dry_run=False, raise_errors=False)
    assert result.has_errors() or result.has_validation_errors()
    assert not Conflict.objects.exists()
    result = ConflictResource().import_data(tablib.Dataset(data[0], headers=data.headers), dry_run=False, raise_errors=False)
    assert Conflict.objects.get().source == "staff"
    call = make_call("review")
    app = Application.objects.create(call=call, enterprise=ent, recommending_unit=province(),
                                     status=ApplicationStatus.REVIEWED, created_by=staff())
    AggregateResult.objects.create(application=app, method="trimmed_mean", reviews=3, score=81.5, spread=25, disagreement=True)
    xlsx = ResultResource().export().export("xlsx")
    sheet = load_workbook(io.BytesIO(xlsx)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("遴选批次", "企业名称", "推荐单位") and float(rows[1][4]) == 81.5 and rows[1][6] == "是"


def test_admin_pages_for_staff_only(client):
    make_call("application")
    boss = staff()
    boss.is_staff = True
    boss.save()
    client.force_login(boss)
    for model in ("call", "application", "expert", "conflict", "assignment", "review", "aggregateresult",
                  "defenceslot", "objection", "case"):
        assert client.get(reverse(f"admin:pilots_{model}_changelist")).status_code == 200, model
    assert client.get(reverse("admin:pilots_expert_import")).status_code == 200
    clerk = authority_user(province())
    clerk.is_staff = True
    clerk.save()
    client.force_login(clerk)
    assert client.get(reverse("admin:pilots_call_changelist")).status_code == 403
