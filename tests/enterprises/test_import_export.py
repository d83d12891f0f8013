"""Bulk import and export of enterprises: services, management commands, portal pages, admin.

Files are built in the tests (CSV in UTF-8/GBK, XLSX with openpyxl); every expectation (line
numbers, counts, messages) is worked out by hand from the rows written here.
"""

import codecs
import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import NoReverseMatch, include, path, reverse

from apps.accounts.models import Role
from apps.accounts.scoping import SYSTEM
from apps.core.models import ImportJobStatus, ImportMode
from apps.enterprises import import_views
from apps.enterprises.imports import (
    ImportFileError,
    enterprises_export,
    enterprises_import,
    read_enterprise_table,
)
from apps.enterprises.models import Enterprise, ImportJob
from apps.enterprises.resources import IMPORT_COLUMNS
from apps.enterprises.tasks import run_import_job
from apps.reference.models import Region, RegionLevel
from apps.reference.size import SizeClass
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    key_industry,
    make_uscc,
    prefecture,
    wrong_check,
)


# The job pages' URL patterns live in import_views.urlpatterns; until apps/enterprises/urls.py
# includes them, these tests use a URLconf that does.
def _job_urls_wired() -> bool:
    try:
        reverse("enterprises:import-job", args=[1])
    except NoReverseMatch:
        return False
    return True


if not _job_urls_wired():
    from apps.enterprises import urls as enterprise_urls
    from portal import urls as portal_urls

    urlpatterns = [
        path(
            "enterprises/",
            include(
                (enterprise_urls.urlpatterns + [path("import/", include(import_views.urlpatterns))], "enterprises")
            ),
        ),
        *[p for p in portal_urls.urlpatterns if str(p.pattern) != "enterprises/"],
    ]
    pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
else:
    pytestmark = [pytest.mark.django_db]


HEADER = list(IMPORT_COLUMNS)


def row(uscc, **kw):
    """One data row in the order of IMPORT_COLUMNS."""
    values = {
        "name": "南京测试电子有限公司",
        "county": XUANWU[0],
        "industry": "39",
        "key": "电子制造",
        "employees": "320",
        "revenue": "2500.50",
        "address": "南京市玄武区测试路1号",
        "contact": "李四",
        "phone": "13800000000",
        "email": "li@example.cn",
    }
    values.update(kw)
    return [
        uscc, values["name"], values["county"], values["industry"], values["key"], values["employees"],
        values["revenue"], values["address"], values["contact"], values["phone"], values["email"],
    ]  # fmt: skip


def csv_bytes(rows, *, encoding="utf-8", bom=False, header=HEADER) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for r in rows:
        writer.writerow(r)
    data = out.getvalue().encode(encoding)
    return (codecs.BOM_UTF8 if bom else b"") + data


def xlsx_bytes(rows, *, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def ref():
    """Reference rows: 玄武区 (南京) and 姑苏区 (苏州), industries 39 and 391, key industry 电子制造."""
    county(XUANWU)
    county(GUSU, SUZHOU)
    industry("39")
    industry("391", "计算机制造")
    key_industry("electronics", "电子制造")
    key_industry("equipment", "装备制造")


def errors_of(report):
    return [(e.line, e.column, e.message) for e in report.errors]


# --- reading files ---------------------------------------------------------------------------


def test_utf8_csv_import_creates_rows(ref):
    a, b = make_uscc(), make_uscc()
    data = csv_bytes([row(a), row(b, name="南京第二电子有限公司", industry="391", key="电子制造；装备制造", employees="12", revenue="100")])
    report = enterprises_import(data=data, filename="企业.csv", user=SYSTEM)

    assert (report.created, report.updated, report.skipped, report.applied) == (2, 0, 0, True)
    assert report.errors == []
    assert report.encoding == "UTF-8"
    first = Enterprise.objects.get(uscc=a)
    assert first.name == "南京测试电子有限公司"
    assert (first.province_code, first.prefecture_code, first.county_code, first.division_code) == ("320000", "320100", "320102", "39")
    assert first.employees == 320 and first.revenue == Decimal("2500.50")
    assert first.size_class == SizeClass.MEDIUM  # 320 people and 2,500.5 万元
    assert first.contact_email == "li@example.cn"
    second = Enterprise.objects.get(uscc=b)
    assert second.industry_id == "391" and second.division_code == "39"
    assert second.size_class == SizeClass.MICRO
    assert sorted(second.key_industries.values_list("code", flat=True)) == ["electronics", "equipment"]


def test_utf8_with_bom_and_gbk_csv_are_detected(ref):
    a, b = make_uscc(), make_uscc()
    report = enterprises_import(data=csv_bytes([row(a)], bom=True), filename="a.csv", user=SYSTEM)
    assert report.encoding == "UTF-8（带 BOM）" and report.created == 1

    gbk = csv_bytes([row(b, name="苏州姑苏精密机械有限公司", county=GUSU[0], address="苏州市姑苏区")], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")  # really not UTF-8
    report = enterprises_import(data=gbk, filename="b.csv", user=SYSTEM)
    assert report.errors == [] and report.created == 1
    assert report.encoding == "GBK（GB18030）"
    assert Enterprise.objects.get(uscc=b).name == "苏州姑苏精密机械有限公司"


def test_gbk_file_read_as_utf8_by_choice_is_explained(ref):
    gbk = csv_bytes([row(make_uscc())], encoding="gbk")
    with pytest.raises(ImportFileError) as exc:
        enterprises_import(data=gbk, filename="b.csv", user=SYSTEM, encoding="utf-8")
    assert "按 UTF-8 编码无法读取第 1 行" in exc.value.message and "GBK" in exc.value.message
    report = enterprises_import(data=gbk, filename="b.csv", user=SYSTEM, encoding="gbk")
    assert report.created == 1


def test_xlsx_import_with_numeric_cells(ref):
    a = make_uscc()
    # Excel stores codes and amounts typed into cells as numbers.
    data = xlsx_bytes([row(a, county=320102, industry=39, employees=1200, revenue=45000.5)])
    report = enterprises_import(data=data, filename="企业.xlsx", user=SYSTEM)
    assert report.errors == [] and report.created == 1
    assert report.file_format == "xlsx" and report.encoding == ""
    ent = Enterprise.objects.get(uscc=a)
    assert ent.region_id == "320102" and ent.industry_id == "39"
    assert ent.employees == 1200 and ent.revenue == Decimal("45000.50")
    assert ent.size_class == SizeClass.LARGE


def test_xlsx_line_numbers_are_sheet_rows(ref):
    good = make_uscc()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)  # row 1
    sheet.append(row(good))  # row 2
    # rows 3 and 4 left empty
    sheet.cell(row=5, column=1, value=wrong_check(make_uscc()))  # row 5, only the USCC filled in
    out = io.BytesIO()
    book.save(out)
    report = enterprises_import(data=out.getvalue(), filename="x.xlsx", user=SYSTEM, mode=ImportMode.VALID_ROWS_ONLY)
    assert {e.line for e in report.errors} == {5}
    assert ("5", "统一社会信用代码") == (str(report.errors[0].line), report.errors[0].column)
    assert any("企业名称" in e.message and "必填" in e.message for e in report.errors)
    assert report.created == 1 and report.skipped == 1


def test_bad_rows_are_reported_with_line_numbers_and_reasons(ref):
    ok1, bad_check, dup, ok2 = make_uscc(), wrong_check(make_uscc()), make_uscc(), make_uscc()
    rows = [
        row(ok1),  # line 2
        row(bad_check),  # line 3
        [""] * len(HEADER),  # line 4: blank, skipped but counted
        row(make_uscc(), county="320199"),  # line 5: no such county
        row(dup),  # line 6
        row(dup, name="重复的企业"),  # line 7
        row(ok2, employees="12.5", revenue="-3", key="纺织"),  # line 8
        row(make_uscc(), county=NANJING[0], industry="99", name=""),  # line 9
    ]
    report = enterprises_import(data=csv_bytes(rows), filename="bad.csv", user=SYSTEM)

    by_line = {}
    for line, column, message in errors_of(report):
        by_line.setdefault(line, []).append((column, message))
    assert sorted(by_line) == [3, 5, 6, 7, 8, 9]
    [(col3, msg3)] = by_line[3]
    assert col3 == "统一社会信用代码" and "校验位" in msg3
    [(col5, msg5)] = by_line[5]
    assert col5 == "区县代码" and "320199" in msg5 and "不存在" in msg5
    for line in (6, 7):
        [(col, msg)] = by_line[line]
        assert col == "统一社会信用代码" and "出现了 2 次" in msg and "第 6、7 行" in msg
    columns8 = {c for c, _ in by_line[8]}
    assert columns8 == {"重点行业", "从业人员", "营业收入（万元）"}
    assert any("整数" in m for c, m in by_line[8] if c == "从业人员")
    assert any("负数" in m for c, m in by_line[8] if c == "营业收入（万元）")
    assert any("纺织" in m and "电子制造" in m for c, m in by_line[8] if c == "重点行业")
    messages9 = dict(by_line[9])
    assert "必填" in messages9["企业名称"]
    assert "南京市" in messages9["区县代码"] and "区县一级" in messages9["区县代码"]
    assert "99" in messages9["行业代码"] and "不存在" in messages9["行业代码"]

    # all_or_nothing (the default): one bad row and nothing is written
    assert report.mode == ImportMode.ALL_OR_NOTHING
    assert (report.created, report.updated, report.applied) == (0, 0, False)
    assert report.skipped == 6 and report.total_rows == 7  # the blank line 4 is not a data row
    assert not Enterprise.objects.exists()
    assert "没有写入任何数据" in report.summary()


def test_valid_rows_only_writes_the_good_rows(ref):
    ok1, ok2 = make_uscc(), make_uscc()
    rows = [row(ok1), row(wrong_check(make_uscc())), row(make_uscc(), county="999999"), row(ok2)]
    report = enterprises_import(data=csv_bytes(rows), filename="v.csv", user=SYSTEM, mode=ImportMode.VALID_ROWS_ONLY)
    assert [e.line for e in report.errors] == [3, 4]
    assert (report.created, report.skipped, report.applied) == (2, 2, True)
    assert sorted(Enterprise.objects.values_list("uscc", flat=True)) == sorted([ok1, ok2])


def test_inactive_county_is_refused(ref):
    Region.objects.create(
        code="320103", name="白下区", level=RegionLevel.COUNTY, parent_id=NANJING[0],
        province_code="320000", prefecture_code="320100", is_active=False,
    )  # fmt: skip
    report = enterprises_import(data=csv_bytes([row(make_uscc(), county="320103")]), filename="x.csv", user=SYSTEM)
    [(line, column, message)] = errors_of(report)
    assert (line, column) == (2, "区县代码") and "已撤销" in message and "白下区" in message


def test_reimport_updates_instead_of_duplicating_and_records_the_user(ref):
    ministry = UserFactory(role=Role.MINISTRY)
    a = make_uscc()
    enterprises_import(data=csv_bytes([row(a)]), filename="1.csv", user=ministry)
    # the same enterprise, typed with spaces and lower case, new figures
    spaced = " ".join([a[:6], a[6:12], a[12:]]).lower()
    report = enterprises_import(
        data=csv_bytes([row(spaced, name="南京测试电子股份有限公司", employees="1500", revenue="50000", key="")]),
        filename="2.csv",
        user=ministry,
    )
    assert (report.created, report.updated) == (0, 1)
    assert Enterprise.objects.count() == 1
    ent = Enterprise.objects.get(uscc=a)
    assert ent.name == "南京测试电子股份有限公司" and ent.size_class == SizeClass.LARGE
    assert list(ent.key_industries.all()) == []
    history = list(ent.history.order_by("history_date"))
    assert history[0].history_type == "+" and history[-1].name == "南京测试电子股份有限公司"
    assert {h.history_user_id for h in history} == {ministry.pk}
    assert history[-1].history_change_reason == "批量导入：2.csv"


def test_unchanged_rows_are_not_written_again(ref):
    a, b = make_uscc(), make_uscc()
    data = csv_bytes([row(a), row(b, key="")])
    enterprises_import(data=data, filename="1.csv", user=SYSTEM)
    history = {e.uscc: e.history.count() for e in Enterprise.objects.all()}
    assert history == {a: 2, b: 1}  # creation, plus setting the key industry of a

    # the same file again, with b's phone corrected
    report = enterprises_import(data=csv_bytes([row(a), row(b, key="", phone="025-99")]), filename="2.csv", user=SYSTEM)
    assert (report.created, report.updated, report.unchanged, report.applied) == (0, 1, 1, True)
    assert {e.uscc: e.history.count() for e in Enterprise.objects.all()} == {a: 2, b: 2}
    assert "未变化 1 家" in report.summary()

    # a key industry only: not unchanged
    report = enterprises_import(data=csv_bytes([row(a, key="电子制造、装备制造")]), filename="3.csv", user=SYSTEM)
    assert (report.updated, report.unchanged) == (1, 0)


def test_missing_columns_are_updated_only_when_present(ref):
    a = make_uscc()
    enterprises_import(data=csv_bytes([row(a)]), filename="1.csv", user=SYSTEM)
    header = ["统一社会信用代码", "企业名称", "区县代码", "行业代码", "从业人员", "营业收入(万元)", "联系人", "联系电话"]
    data = csv_bytes([[a, "新名称", "320102", "39", "320", "2500.5", "王五", "025-1"]], header=header)
    report = enterprises_import(data=data, filename="2.csv", user=SYSTEM)
    assert report.updated == 1
    ent = Enterprise.objects.get(uscc=a)
    assert ent.name == "新名称" and ent.contact_name == "王五"
    assert ent.address == "南京市玄武区测试路1号" and ent.contact_email == "li@example.cn"  # columns absent: unchanged
    assert list(ent.key_industries.values_list("code", flat=True)) == ["electronics"]


def test_authority_cannot_import_into_another_prefecture(ref):
    nanjing_authority = authority_user(prefecture(NANJING))
    suzhou_existing = EnterpriseFactory(region=county(GUSU, SUZHOU))
    mine, theirs = make_uscc(), make_uscc()
    rows = [
        row(mine),  # line 2: 玄武区, inside 南京
        row(theirs, county=GUSU[0]),  # line 3: 姑苏区 is in 苏州
        row(suzhou_existing.uscc, county=XUANWU[0]),  # line 4: moving a 苏州 enterprise is not theirs to do
    ]
    report = enterprises_import(
        data=csv_bytes(rows), filename="x.csv", user=nanjing_authority, mode=ImportMode.VALID_ROWS_ONLY
    )
    errors = errors_of(report)
    assert [(line, column) for line, column, _ in errors] == [(3, "区县代码"), (4, "统一社会信用代码")]
    assert "不在您的管辖范围内" in errors[0][2]
    assert "管辖范围以外" in errors[1][2]
    assert report.created == 1
    assert Enterprise.objects.filter(uscc=theirs).exists() is False
    suzhou_existing.refresh_from_db()
    assert suzhou_existing.region_id == GUSU[0]


def test_enterprise_user_and_expert_may_not_import(ref):
    from django.core.exceptions import PermissionDenied

    for user in (enterprise_user(), UserFactory(role=Role.EXPERT)):
        with pytest.raises(PermissionDenied):
            enterprises_import(data=csv_bytes([row(make_uscc())]), filename="x.csv", user=user)


def test_unexpected_error_midway_leaves_the_data_as_it_was(ref, monkeypatch):
    from django.db import DatabaseError

    from apps.enterprises import bulk_import

    existing = EnterpriseFactory(region=county(XUANWU), name="原名称")
    real_copy_rows = bulk_import.copy_rows

    def copy_rows_failing_at_history(table, columns, rows):
        # The enterprises are written already when the history rows fail.
        if table == Enterprise.history.model._meta.db_table:
            raise DatabaseError("disk full")
        return real_copy_rows(table, columns, rows)

    monkeypatch.setattr(bulk_import, "copy_rows", copy_rows_failing_at_history)
    rows = [row(existing.uscc, name="改过的名称"), row(make_uscc()), row(make_uscc())]
    for mode in ImportMode.values:
        report = enterprises_import(data=csv_bytes(rows), filename="x.csv", user=SYSTEM, mode=mode)
        assert report.applied is False and report.created == 0 and report.updated == 0
        assert [e.line for e in report.errors] == [0] and "没有写入任何数据" in report.errors[0].message
        existing.refresh_from_db()
        assert existing.name == "原名称"
        assert Enterprise.objects.count() == 1
        assert existing.history.count() == 1

    def copy_rows_crashing(table, columns, rows):
        raise RuntimeError("a bug")

    monkeypatch.setattr(bulk_import, "copy_rows", copy_rows_crashing)
    with pytest.raises(RuntimeError):
        enterprises_import(data=csv_bytes(rows), filename="x.csv", user=SYSTEM)
    existing.refresh_from_db()
    assert existing.name == "原名称" and Enterprise.objects.count() == 1


def test_dry_run_writes_nothing_but_reports_what_would_happen(ref):
    existing = EnterpriseFactory(region=county(XUANWU))
    report = enterprises_import(
        data=csv_bytes([row(existing.uscc, name="新"), row(make_uscc())]), filename="x.csv", user=SYSTEM, dry_run=True
    )
    assert (report.created, report.updated, report.applied) == (1, 1, False)
    assert Enterprise.objects.count() == 1 and Enterprise.objects.get().name != "新"


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (csv_bytes([row("91320102000000001X")]), "renamed.xlsx", "不是 Excel 工作簿"),
        (xlsx_bytes([row("91320102000000001X")]), "renamed.csv", "内容是 Excel 工作簿"),
        (b"", "empty.csv", "文件是空的"),
        (codecs.BOM_UTF8 + b"\r\n", "bom-only.csv", "文件是空的"),
        (b"a,b\n1,2\n", "data.json", "不支持的文件类型“.json”"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls", "旧版 Excel"),
        (csv_bytes([], header=HEADER), "header-only.csv", "只有表头"),
        (csv_bytes([["x"]], header=["统一社会信用代码", "企业名称", "备注"]), "few.csv", "缺少必需的列：区县代码、行业代码、从业人员、营业收入（万元）、联系人、联系电话"),
        (codecs.BOM_UTF16_LE + "统一社会信用代码".encode("utf-16-le"), "u16.csv", "UTF-16"),
    ],
)
def test_unusable_files_are_refused_with_a_clear_message(data, filename, expected):
    with pytest.raises(ImportFileError) as exc:
        read_enterprise_table(data=data, filename=filename)
    assert expected in exc.value.message


def test_too_large_file_is_refused(settings):
    settings.ENTERPRISE_IMPORT_MAX_BYTES = 100
    with pytest.raises(ImportFileError) as exc:
        read_enterprise_table(data=csv_bytes([row(make_uscc())] * 5), filename="big.csv")
    assert "文件过大" in exc.value.message


def test_header_spelling_variants_and_extra_columns(ref):
    header = ["统一社会信用代码*", "企业名称", "区县代码", "行业代码", "从业人员", "营业收入 (万元)", "联系人", "联系电话", "备注", "企业规模"]
    data = csv_bytes([[make_uscc(), "甲", "320102", "39", "5", "10", "张", "1", "随便", "大型"]], header=header)
    report = enterprises_import(data=data, filename="x.csv", user=SYSTEM)
    assert report.errors == [] and report.created == 1
    assert report.ignored_columns == ["备注", "企业规模"]
    assert Enterprise.objects.get().size_class == SizeClass.MICRO  # derived, not read


# --- export ----------------------------------------------------------------------------------


def test_export_csv_has_bom_chinese_and_neutralised_formulae(ref):
    EnterpriseFactory(region=county(XUANWU), name='=HYPERLINK("http://evil.example","点我")', contact_phone="+86 25 1234")
    EnterpriseFactory(region=county(XUANWU), name="@SUM(1)", address="-2+3", contact_name="南京张三")
    data = enterprises_export(user=SYSTEM, file_format="csv")
    assert data.startswith(codecs.BOM_UTF8)
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["统一社会信用代码", "企业名称", "省级代码"]
    assert "企业规模" in rows[0]
    cells = [c for r in rows[1:] for c in r]
    assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in cells
    assert "'@SUM(1)" in cells and "'-2+3" in cells and "'+86 25 1234" in cells
    assert "南京张三" in cells and "中型" in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


def test_export_xlsx_neutralises_formulae(ref):
    EnterpriseFactory(region=county(XUANWU), name='=HYPERLINK("http://evil.example","点我")')
    data = enterprises_export(user=SYSTEM, file_format="xlsx")
    assert data.startswith(b"PK\x03\x04")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [c.value for c in sheet[1]]
    name_cell = sheet.cell(row=2, column=header.index("企业名称") + 1)
    assert name_cell.value == "'=HYPERLINK(\"http://evil.example\",\"点我\")"
    assert name_cell.data_type == "s"  # text, not a formula
    assert not any(c.data_type == "f" for r in sheet.iter_rows() for c in r)
    assert sheet.cell(row=2, column=header.index("从业人员") + 1).value == 350  # numbers stay numbers


def test_export_round_trips_through_import(ref):
    ent = EnterpriseFactory(region=county(XUANWU), name="=1+1 测试")
    ent.key_industries.set([key_industry()])
    for fmt, name in (("csv", "e.csv"), ("xlsx", "e.xlsx")):
        data = enterprises_export(user=SYSTEM, file_format=fmt)
        report = enterprises_import(data=data, filename=name, user=SYSTEM)
        # the export reads back exactly: nothing to change (the neutralised "'=" included)
        assert report.errors == [] and (report.updated, report.unchanged) == (0, 1), fmt
        ent.refresh_from_db()
        assert ent.name == "=1+1 测试"
        assert list(ent.key_industries.values_list("code", flat=True)) == ["electronics"]


def test_export_is_scoped_to_the_users_jurisdiction(ref):
    EnterpriseFactory(region=county(XUANWU), name="南京甲公司")
    EnterpriseFactory(region=county(GUSU, SUZHOU), name="苏州乙公司")
    text = enterprises_export(user=authority_user(prefecture(NANJING)), file_format="csv").decode("utf-8-sig")
    assert "南京甲公司" in text and "苏州乙公司" not in text
    assert enterprises_export(user=UserFactory(role=Role.EXPERT), file_format="csv").decode("utf-8-sig").count("\n") == 1


# --- management commands ---------------------------------------------------------------------


def test_import_command_reports_lines_and_exits_non_zero(ref, tmp_path):
    path = tmp_path / "企业.csv"
    path.write_bytes(csv_bytes([row(make_uscc()), row(wrong_check(make_uscc()))], encoding="gbk"))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_enterprises", str(path), stdout=out, stderr=err)
    assert exc.value.returncode == 2
    text = out.getvalue()
    assert "GBK" in text and "第 3 行 [统一社会信用代码]" in text and "校验位" in text
    assert "新增 0" in text and not Enterprise.objects.exists()

    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_enterprises", str(path), "--mode", "valid_rows_only", stdout=out, stderr=err)
    assert exc.value.returncode == 2 and "部分导入" in str(exc.value)
    assert Enterprise.objects.count() == 1


def test_import_command_dry_run_as_user_and_success(ref, tmp_path):
    user = authority_user(prefecture(NANJING), username="nj-clerk")
    path = tmp_path / "ok.xlsx"
    path.write_bytes(xlsx_bytes([row(make_uscc())]))
    out = io.StringIO()
    call_command("import_enterprises", str(path), "--as-user", "nj-clerk", "--dry-run", stdout=out, stderr=io.StringIO())
    assert "试导入" in out.getvalue() and not Enterprise.objects.exists()
    call_command("import_enterprises", str(path), "--as-user", "nj-clerk", stdout=io.StringIO(), stderr=io.StringIO())
    ent = Enterprise.objects.get()
    # one history row for the creation, one for setting its key industries
    assert [h.history_user for h in ent.history.all()] == [user, user]

    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"not,an,xlsx\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_enterprises", str(bad), stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 1 and "不是 Excel 工作簿" in str(exc.value)


def test_export_command(ref, tmp_path):
    EnterpriseFactory(region=county(XUANWU), name="南京甲公司")
    EnterpriseFactory(region=county(GUSU, SUZHOU), name="苏州乙公司")
    authority_user(prefecture(NANJING), username="nj")
    out = tmp_path / "out.csv"
    call_command("export_enterprises", str(out), "--as-user", "nj", stderr=io.StringIO())
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8) and "南京甲公司" in data.decode("utf-8-sig")
    assert "苏州乙公司" not in data.decode("utf-8-sig")
    xlsx = tmp_path / "out.xlsx"
    call_command("export_enterprises", str(xlsx), stderr=io.StringIO())
    assert xlsx.read_bytes().startswith(b"PK\x03\x04")


# --- portal pages and the job ----------------------------------------------------------------


def _login(client, user):
    client.force_login(user)


def _upload(client, data, name, **fields):
    payload = {"file": SimpleUploadedFile(name, data), "mode": "all_or_nothing", "encoding": "auto", **fields}
    return client.post(reverse("enterprises:import"), payload)


def test_import_page_is_refused_to_enterprise_users_experts_and_anonymous(client, ref):
    url = reverse("enterprises:import")
    resp = client.get(url)
    assert resp.status_code == 302 and reverse("accounts:login") in resp.url
    for user in (enterprise_user(), UserFactory(role=Role.EXPERT)):
        _login(client, user)
        assert client.get(url).status_code == 403
        assert _upload(client, csv_bytes([row(make_uscc())]), "a.csv").status_code == 403
    assert not ImportJob.objects.exists()


def test_upload_creates_a_job_that_the_task_runs(client, ref, django_capture_on_commit_callbacks, monkeypatch):
    user = authority_user(prefecture(NANJING))
    _login(client, user)
    assert client.get(reverse("enterprises:import")).status_code == 200
    rows = [row(make_uscc()), row(wrong_check(make_uscc())), row(make_uscc(), county=GUSU[0])]

    delayed = []
    monkeypatch.setattr(run_import_job, "delay", lambda job_id: delayed.append(job_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = _upload(client, csv_bytes(rows, encoding="gbk"), "南京企业.csv", mode="valid_rows_only")
    job = ImportJob.objects.get()
    assert resp.status_code == 302 and resp.url == reverse("enterprises:import-job", args=[job.pk])
    assert len(callbacks) == 1 and delayed == [job.pk]  # enqueued only after the commit
    assert (job.status, job.uploaded_by, job.mode, job.original_name) == ("queued", user, "valid_rows_only", "南京企业.csv")
    assert job.file.name.startswith("imports/") and job.file.path.endswith(".csv")

    page = client.get(resp.url)
    assert 'hx-trigger="every 2s"' in page.text and "排队中" in page.text

    assert run_import_job(job.pk) == ImportJobStatus.SUCCEEDED  # what the worker does
    job.refresh_from_db()
    assert (job.created_count, job.updated_count, job.skipped_count, job.total_rows) == (1, 0, 2, 3)
    assert job.detected_encoding == "GBK（GB18030）"
    assert [(e["line"], e["column"]) for e in job.errors] == [(3, "统一社会信用代码"), (4, "区县代码")]
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at

    fragment = client.get(resp.url, HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in fragment.text and "<html" not in fragment.text
    assert "校验位" in fragment.text and "部分导入" in fragment.text

    report = client.get(reverse("enterprises:import-job-errors", args=[job.pk]))
    assert report["Content-Type"].startswith("text/csv")
    assert report.content.startswith(codecs.BOM_UTF8)
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "错误说明"] and lines[1][:2] == ["3", "统一社会信用代码"]

    assert "南京企业.csv" in client.get(reverse("enterprises:import")).text  # listed under 我的导入记录


def test_upload_of_a_renamed_file_is_refused_on_the_form(client, ref):
    _login(client, UserFactory(role=Role.MINISTRY))
    resp = _upload(client, csv_bytes([row(make_uscc())]), "企业.xlsx")
    assert resp.status_code == 200
    assert "不是 Excel 工作簿" in resp.text
    assert not ImportJob.objects.exists()


def _job(user, data=b"", name="x.csv", **kw) -> ImportJob:
    job = ImportJob(original_name=name, uploaded_by=user, **kw)
    job.file.save(name, ContentFile(data or csv_bytes([row(make_uscc())])), save=False)
    job.save()
    return job


def test_users_see_only_their_own_jobs(client, ref):
    owner = authority_user(prefecture(NANJING))
    other = authority_user(prefecture(NANJING))
    job = _job(owner)
    for name in ("enterprises:import-job", "enterprises:import-job-errors"):
        url = reverse(name, args=[job.pk])
        _login(client, other)
        assert client.get(url).status_code == 404
        _login(client, owner)
        assert client.get(url).status_code == 200
        _login(client, UserFactory(role=Role.MINISTRY))
        assert client.get(url).status_code == 200
    client.logout()
    assert client.get(reverse("enterprises:import-job", args=[job.pk])).status_code == 302


def test_all_or_nothing_job_fails_and_writes_nothing(ref):
    job = _job(UserFactory(role=Role.MINISTRY), csv_bytes([row(make_uscc()), row("123")]))
    run_import_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED
    assert (job.created_count, job.skipped_count) == (0, 1)
    assert job.errors == [{"line": 3, "column": "统一社会信用代码", "message": "统一社会信用代码应为18位，当前为3位。"}]
    assert not Enterprise.objects.exists()


def test_job_is_idempotent(ref):
    job = _job(UserFactory(role=Role.MINISTRY))
    assert run_import_job(job.pk) == ImportJobStatus.SUCCEEDED
    ent = Enterprise.objects.get()
    job.refresh_from_db()
    finished, history_rows = job.finished_at, ent.history.count()
    assert run_import_job(job.pk) == ImportJobStatus.SUCCEEDED  # delivered twice: not run again
    job.refresh_from_db()
    assert job.finished_at == finished and ent.history.count() == history_rows


def test_job_with_unreadable_file_fails_with_a_message(ref):
    job = _job(UserFactory(role=Role.MINISTRY))
    job.file.storage.delete(job.file.name)
    assert run_import_job(job.pk) == ImportJobStatus.FAILED
    job.refresh_from_db()
    assert "无法读取上传的文件" in job.message and job.finished_at is not None


def test_job_with_a_refused_file_fails_with_the_reason(ref):
    job = _job(UserFactory(role=Role.MINISTRY), csv_bytes([row(make_uscc())]), name="renamed.xlsx")
    assert run_import_job(job.pk) == ImportJobStatus.FAILED
    job.refresh_from_db()
    assert "不是 Excel 工作簿" in job.message


def test_job_never_stays_running_after_an_unexpected_error(ref, monkeypatch):
    from apps.enterprises import imports

    def crash(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(imports, "enterprises_import", crash)
    job = _job(UserFactory(role=Role.MINISTRY))
    with pytest.raises(RuntimeError):
        run_import_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED and "意外错误" in job.message


# --- admin -----------------------------------------------------------------------------------


def test_admin_import_preview_and_confirm(client, ref):
    admin_user = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    _login(client, admin_user)
    url = reverse("admin:enterprises_enterprise_import")
    assert client.get(url).status_code == 200

    bad = client.post(url, {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("a.csv", csv_bytes([row(make_uscc()), row("1")]))})
    assert bad.status_code == 200
    assert "第 3 行：统一社会信用代码应为18位" in bad.text
    assert "confirm_form" not in bad.context or bad.context["confirm_form"] is None

    good_uscc = make_uscc()
    preview = client.post(url, {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("a.csv", csv_bytes([row(good_uscc)], encoding="gbk"))})
    confirm = preview.context["confirm_form"]
    assert confirm is not None and not Enterprise.objects.exists()
    done = client.post(reverse("admin:enterprises_enterprise_process_import"), confirm.initial)
    assert done.status_code == 302
    ent = Enterprise.objects.get(uscc=good_uscc)
    assert {h.history_user for h in ent.history.all()} == {admin_user}


def test_admin_export_uses_the_safe_writer(client, ref):
    EnterpriseFactory(region=county(XUANWU), name="=1+2")
    _login(client, UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True))
    resp = client.post(reverse("admin:enterprises_enterprise_export"), {"resource": "0", "format": "0"})
    assert resp.status_code == 200
    assert resp.content.startswith(codecs.BOM_UTF8) and "'=1+2" in resp.content.decode("utf-8-sig")


def test_admin_history_of_an_enterprise_outside_the_scope_is_404(client, ref):
    from django.contrib.auth.models import Permission

    suzhou = EnterpriseFactory(region=county(GUSU, SUZHOU))
    nanjing = EnterpriseFactory(region=county(XUANWU))
    user = authority_user(prefecture(NANJING), is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_enterprise", "change_enterprise"]))
    _login(client, user)
    assert client.get(reverse("admin:enterprises_enterprise_history", args=[nanjing.pk])).status_code == 200
    assert client.get(reverse("admin:enterprises_enterprise_history", args=[suzhou.pk])).status_code == 404
    history_id = suzhou.history.get().history_id
    assert client.get(reverse("admin:enterprises_enterprise_simple_history", args=[suzhou.pk, history_id])).status_code == 404
