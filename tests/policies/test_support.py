"""Support records: import (CSV UTF-8/GBK, XLSX; all or nothing; errors per row by USCC)
and scoping — an authority of 南京 cannot see 苏州's supported enterprises through the page,
the API, the export or the admin."""

import codecs
import datetime
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.models import Role
from apps.policies.models import SupportRecord
from apps.policies.services import support_records_import
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    prefecture,
    wrong_check,
)
from tests.policies.builders import measure, policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    nanjing_firm = EnterpriseFactory(region=county(XUANWU), name="南京玄武精密电子有限公司")
    suzhou_firm = EnterpriseFactory(region=county(GUSU, SUZHOU), name="苏州姑苏智造有限公司")
    m = measure(policy())
    return {"nanjing": nanjing_firm, "suzhou": suzhou_firm, "measure": m,
            "nj_user": authority_user(prefecture(NANJING)), "sz_user": authority_user(prefecture(SUZHOU))}


def csv_bytes(rows, encoding="utf-8"):
    text = "\n".join(",".join(r) for r in rows) + "\n"
    return (codecs.BOM_UTF8 if encoding == "utf-8-sig" else b"") + text.encode("utf-8" if encoding == "utf-8-sig" else encoding)


HEADER = ["统一社会信用代码", "措施编号", "支持日期", "金额（万元）", "备注"]


def test_import_utf8_gbk_and_xlsx(world):
    m, nj = world["measure"], world["nj_user"]
    uscc = world["nanjing"].uscc
    report = support_records_import(data=csv_bytes([HEADER, [uscc, str(m.pk), "2025-03-01", "50", "首批"]], "utf-8-sig"),
                                    filename="support.csv", user=nj)
    assert report == {"created": 1, "errors": [], "rows": 1}
    report = support_records_import(data=csv_bytes([HEADER, [uscc, str(m.pk), "2025年4月1日", "12.5", "诊断服务券"]], "gbk"),
                                    filename="support.csv", user=nj)
    assert report["created"] == 1
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append([uscc, m.pk, datetime.date(2025, 5, 1), 8, ""])
    out = io.BytesIO()
    book.save(out)
    assert support_records_import(data=out.getvalue(), filename="support.xlsx", user=nj)["created"] == 1
    records = SupportRecord.objects.filter(enterprise=world["nanjing"]).order_by("granted_on")
    assert [str(r.amount) for r in records] == ["50.00", "12.50", "8.00"]
    assert records[1].note == "诊断服务券" and records[0].history.first().history_type == "+"


def test_bad_rows_save_nothing_and_are_reported_by_uscc(world):
    m, nj = world["measure"], world["nj_user"]
    good = world["nanjing"].uscc
    suzhou = world["suzhou"].uscc
    rows = [
        HEADER,
        [good, str(m.pk), "2025-03-01", "50", ""],
        [suzhou, str(m.pk), "2025-03-01", "50", ""],          # outside 南京: looks unknown
        [wrong_check(good), str(m.pk), "2025-03-01", "", ""],   # no such enterprise
        [good, str(m.pk), "2025-13-45", "abc", ""],             # bad date and amount
        [good, "99999", "2025-03-02", "", ""],                  # no such measure
        [good, str(m.pk), "2025-03-01", "10", ""],              # duplicate of line 2
    ]
    report = support_records_import(data=csv_bytes(rows), filename="s.csv", user=nj)
    assert report["created"] == 0 and SupportRecord.objects.count() == 0
    by_line = {}
    for e in report["errors"]:
        by_line.setdefault(e["line"], []).append(e)
    assert set(by_line) == {3, 4, 5, 6, 7}
    assert by_line[3][0]["uscc"] == suzhou and "不在您的管辖范围内" in by_line[3][0]["message"]
    assert {e["column"] for e in by_line[5]} == {"支持日期", "金额（万元）"}
    assert "措施编号 99999 不存在" in by_line[6][0]["message"]
    assert "重复" in by_line[7][0]["message"]


def test_import_page_with_a_chosen_measure(world, client):
    client.force_login(world["nj_user"])
    upload = SimpleUploadedFile("s.csv", csv_bytes([["统一社会信用代码", "支持日期"], [world["nanjing"].uscc, "2025-06-01"]]))
    response = client.post(reverse("policies:support-import"),
                           {"measure": world["measure"].pk, "file": upload, "encoding": "auto"})
    assert response.status_code == 302
    assert SupportRecord.objects.get().measure == world["measure"]
    # a file without the USCC column is refused as a whole, with the expected header
    upload = SimpleUploadedFile("s.csv", csv_bytes([["企业", "支持日期"], ["x", "2025-06-01"]]))
    response = client.post(reverse("policies:support-import"), {"file": upload, "encoding": "auto"})
    assert response.status_code == 200 and "缺少必需的列：统一社会信用代码" in response.content.decode()


@pytest.fixture
def supported(world):
    for key in ("nanjing", "suzhou"):
        SupportRecord.objects.create(enterprise=world[key], measure=world["measure"], granted_on=datetime.date(2025, 3, 1))
    return world


def test_nanjing_authority_cannot_see_suzhou_support_on_page_api_export(supported, client):
    w = supported
    client.force_login(w["nj_user"])
    page = client.get(reverse("policies:support")).content.decode()
    assert w["nanjing"].uscc in page and w["suzhou"].uscc not in page
    api = client.get("/api/v1/policies/support-records/").json()
    assert [r["uscc"] for r in api["results"]] == [w["nanjing"].uscc]
    suzhou_record = SupportRecord.objects.get(enterprise=w["suzhou"])
    assert client.get(f"/api/v1/policies/support-records/{suzhou_record.pk}/").status_code == 404
    for fmt in ("csv", "xlsx"):
        body = client.get(reverse("policies:support-export", args=[fmt])).content
        if fmt == "xlsx":
            sheet = openpyxl.load_workbook(io.BytesIO(body)).active
            body = "\n".join(",".join(str(c or "") for c in row) for row in sheet.iter_rows(values_only=True)).encode()
        text = body.decode("utf-8-sig")
        assert w["nanjing"].uscc in text and w["suzhou"].uscc not in text
    # the 苏州 authority sees its own
    client.force_login(w["sz_user"])
    assert [r["uscc"] for r in client.get("/api/v1/policies/support-records/").json()["results"]] == [w["suzhou"].uscc]


def test_nanjing_authority_cannot_see_suzhou_support_in_admin(supported, client):
    w = supported
    staff = authority_user(prefecture(NANJING), is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_supportrecord", "change_supportrecord"]))
    client.force_login(staff)
    listing = client.get(reverse("admin:policies_supportrecord_changelist")).content.decode()
    assert "南京玄武精密电子有限公司" in listing and "苏州姑苏智造有限公司" not in listing
    suzhou_record = SupportRecord.objects.get(enterprise=w["suzhou"])
    assert client.get(reverse("admin:policies_supportrecord_change", args=[suzhou_record.pk])).status_code in (302, 404)


def test_public_enterprise_and_expert_users_get_no_support_records(supported, client):
    assert client.get("/api/v1/policies/support-records/").status_code in (401, 403)
    assert client.get(reverse("policies:support")).status_code == 302  # to log in
    for user in (UserFactory(role=Role.EXPERT),):
        client.force_login(user)
        assert client.get(reverse("policies:support")).status_code == 403
        assert client.get("/api/v1/policies/support-records/").status_code == 403


def test_admin_exports_and_imports_targets_with_the_same_checks(client):
    import tablib

    from apps.policies.resources import TargetResource
    from tests.policies.builders import periods, reference

    reference()
    ps = periods((2025,))
    m = measure(policy())
    good = tablib.Dataset(headers=["measure", "metric", "level_min", "cell_kind", "cell_code", "baseline_period",
                                   "target_year", "comparison", "value"])
    good.append([m.pk, "mean", "", "province", "320000", ps[2025].pk, 2027, "gte", 60])
    bad = tablib.Dataset(headers=good.headers)
    bad.append([m.pk, "mean", "", "province", "990000", ps[2025].pk, 2027, "gte", 60])
    result = TargetResource().import_data(bad, dry_run=False, raise_errors=False)
    assert result.has_validation_errors() or result.has_errors()
    from apps.policies.models import Target

    assert not Target.objects.exists()
    result = TargetResource().import_data(good, dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert Target.objects.get().cell_code == "320000"
    staff = UserFactory(role=Role.MINISTRY, is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get(reverse("admin:policies_target_export"))
    assert page.status_code == 200
    formats = {label: value for value, label in page.context["form"].fields["format"].choices}
    xlsx = next(v for label, v in formats.items() if "xlsx" in str(label).lower())
    response = client.post(reverse("admin:policies_target_export"),
                           {"format": xlsx, "resource": "0", "targetresource_id": "on", "targetresource_cell_code": "on"})
    assert response.status_code == 200 and "attachment" in response.get("Content-Disposition", "")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert "320000" in [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
