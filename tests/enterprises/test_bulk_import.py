"""The enterprise import validated as columns and written set-based (apps.enterprises.bulk_import):
the same errors, data and history as the per-row django-import-export resource, and a file of
100,000 rows with 1 % bad rows reported line by line with nothing written (all-or-nothing)."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.db import transaction

from apps.accounts.scoping import SYSTEM
from apps.core.models import ImportMode
from apps.enterprises.imports import enterprises_import, read_enterprise_table
from apps.enterprises.models import Enterprise
from apps.enterprises.resources import IMPORT_COLUMNS, EnterpriseResource
from apps.reference.models import KeyIndustry
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    industry,
    key_industry,
    make_uscc,
    prefecture,
    wrong_check,
)

pytestmark = [pytest.mark.django_db]

HEADER = list(IMPORT_COLUMNS)


def row(uscc, **kw):
    values = {
        "name": "南京测试电子有限公司", "county": XUANWU[0], "industry": "39", "key": "电子制造", "employees": "320",
        "revenue": "2500.50", "address": "南京市玄武区测试路1号", "contact": "李四", "phone": "13800000000",
        "email": "li@example.cn",
    }  # fmt: skip
    values.update(kw)
    return [
        uscc, values["name"], values["county"], values["industry"], values["key"], values["employees"],
        values["revenue"], values["address"], values["contact"], values["phone"], values["email"],
    ]  # fmt: skip


def csv_bytes(rows, header=HEADER) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


@pytest.fixture
def ref():
    county(XUANWU)
    county(GUSU, SUZHOU)
    industry("39")
    industry("391", "计算机制造")
    key_industry("electronics", "电子制造")
    key_industry("equipment", "装备制造")


class Rollback(Exception):
    pass


def state() -> dict:
    """Enterprises with their key industries, and their history with its key-industry snapshots."""
    out = {}
    for e in Enterprise.objects.order_by("uscc"):
        history = [
            (h.history_type, h.name, h.employees, str(h.revenue), h.contact_email, h.address, h.size_class,
             h.history_user_id, h.history_change_reason, sorted(k.keyindustry_id for k in h.key_industries.all()))
            for h in e.history.order_by("history_date", "history_id")
        ]  # fmt: skip
        out[e.uscc] = (
            e.name, e.region_id, e.industry_id, e.employees, str(e.revenue), e.address, e.contact_name,
            e.contact_phone, e.contact_email, e.size_class, e.province_code, e.prefecture_code, e.county_code,
            e.division_code, sorted(e.key_industries.values_list("pk", flat=True)), history,
        )  # fmt: skip
    return out


def per_row_import(data: bytes, user, mode: str, reason: str):
    """The old path: the resource saves row by row (what the admin still does)."""
    from apps.enterprises.imports import _row_errors

    table = read_enterprise_table(data=data, filename="x.csv")
    resource = EnterpriseResource(user=user, change_reason=reason)
    with transaction.atomic():
        result = resource.import_data(
            table.to_dataset(), dry_run=False, raise_errors=False, use_transactions=True,
            rollback_on_validation_errors=mode == ImportMode.ALL_OR_NOTHING,
        )  # fmt: skip
    errors = sorted(table.read_errors + _row_errors(resource=resource, result=result, lines=table.lines), key=lambda e: e.line)
    return [(e.line, e.column, e.message) for e in errors], result.totals


def test_same_errors_data_and_history_as_the_per_row_resource(ref):
    user = authority_user(prefecture(NANJING))
    electronics, equipment = KeyIndustry.objects.get(code="electronics"), KeyIndustry.objects.get(code="equipment")
    xuanwu = county(XUANWU)
    unchanged = EnterpriseFactory(region=xuanwu, industry=industry("39"), name="不变", employees=320,
                                  revenue="2500.50", address="南京市玄武区测试路1号", contact_name="李四",
                                  contact_phone="13800000000", contact_email="li@example.cn")  # fmt: skip
    unchanged.key_industries.set([electronics])
    renamed = EnterpriseFactory(region=xuanwu, industry=industry("39"))
    renamed.key_industries.set([electronics])
    swapped = EnterpriseFactory(region=xuanwu, industry=industry("39"))
    swapped.key_industries.set([electronics])
    emptied = EnterpriseFactory(region=xuanwu, industry=industry("39"))
    emptied.key_industries.set([electronics, equipment])
    elsewhere = EnterpriseFactory(region=county(GUSU, SUZHOU), industry=industry("39"))
    dup = make_uscc()
    rows = [
        row(make_uscc()),  # new with a key industry
        row(make_uscc(), key=""),  # new without
        row(make_uscc().lower()[:6] + " " + make_uscc()[6:], key="装备制造、电子制造"),  # wrong code once spaced
        row(" ".join(make_uscc()), key="equipment；电子制造"),  # spaces inside: normalised
        row(unchanged.uscc, name="不变"),
        row(renamed.uscc, name="改名后"),
        row(swapped.uscc, name=swapped.name, key="装备制造", employees=str(swapped.employees),
            revenue=str(swapped.revenue), address=swapped.address, contact=swapped.contact_name,
            phone=swapped.contact_phone, email=swapped.contact_email),  # fmt: skip
        row(emptied.uscc, key=""),
        row(elsewhere.uscc),  # outside the jurisdiction
        row(make_uscc("320508")),  # new, but in 苏州: outside
        row(wrong_check(make_uscc())),
        row(make_uscc()[:17]),
        row(make_uscc(), county="999999"),
        row(make_uscc(), county="320100"),  # a prefecture
        row(make_uscc(), county="32010"),
        row(make_uscc(), industry="C39"),  # accepted as 39
        row(make_uscc(), industry="C"),
        row(make_uscc(), industry="3"),
        row(make_uscc(), key="航天"),
        row(make_uscc(), employees="1,200"),
        row(make_uscc(), employees="３２０"),  # full-width digits: the widget accepts them
        row(make_uscc(), employees="-3"),
        row(make_uscc(), employees="12.5"),
        row(make_uscc(), employees=""),
        row(make_uscc(), revenue="1,234.5"),
        row(make_uscc(), revenue="1.234"),
        row(make_uscc(), revenue="abc"),
        row(make_uscc(), revenue="9999999999999"),
        row(make_uscc(), email="not-an-email"),
        row(make_uscc(), email="Li.Si@Example.COM"),
        row(make_uscc(), email="li@例子.中国"),
        row(make_uscc(), name="长" * 201),
        row(make_uscc(), name=""),
        row(make_uscc(), phone="1" * 31),
        row(make_uscc(), contact=""),
        row(make_uscc(), address="址" * 301),
        row(dup),
        row(dup, name="重复"),
        row(""),
    ]
    data = csv_bytes(rows)
    reason = "批量导入：x.csv"
    for mode in (ImportMode.VALID_ROWS_ONLY, ImportMode.ALL_OR_NOTHING):
        try:
            with transaction.atomic():
                report = enterprises_import(data=data, filename="x.csv", user=user, mode=mode)
                new = ([(e.line, e.column, e.message) for e in report.errors], state())
                raise Rollback
        except Rollback:
            pass
        try:
            with transaction.atomic():
                old_errors, totals = per_row_import(data, user, mode, reason)
                old = (old_errors, state())
                raise Rollback
        except Rollback:
            pass
        assert new[0] == old[0]
        assert len(new[0]) > 20
        assert new[1] == old[1]
        if mode == ImportMode.VALID_ROWS_ONLY:
            assert (report.created, report.updated, report.unchanged) == (totals["new"], totals["update"], totals["skip"])
            assert report.created >= 5 and report.updated == 3 and report.unchanged == 1


def test_hundred_thousand_rows_with_one_percent_bad_are_reported_line_by_line_and_nothing_is_written(ref):
    # Without the optional address and e-mail columns, so that the file stays under the 10 MB cap.
    header = [c for c in HEADER if c not in ("通讯地址", "电子邮箱")]
    rows, bad_lines = [], []
    for i in range(100_000):
        code = make_uscc("320102", serial=10_000_000 + i)
        if i % 100 == 7:
            code = wrong_check(code)
            bad_lines.append(i + 2)
        full = row(code, name=f"测试{i}", key="" if i % 3 else "电子制造", employees=str(10 + i % 5000))
        rows.append([v for c, v in zip(HEADER, full, strict=True) if c in header])
    data = csv_bytes(rows, header=header)
    report = enterprises_import(data=data, filename="十万.csv", user=SYSTEM, mode=ImportMode.ALL_OR_NOTHING)
    assert report.total_rows == 100_000
    assert [e.line for e in report.errors] == bad_lines
    assert {e.message for e in report.errors} == {"统一社会信用代码校验位错误：请核对营业执照上的18位代码，最后一位是校验位。"}
    assert {e.column for e in report.errors} == {"统一社会信用代码"}
    assert report.applied is False and report.created == 0 and report.skipped == 1000
    assert not Enterprise.objects.exists()
    assert not Enterprise.history.exists()


def test_the_valid_rows_of_a_large_file_are_written_with_history_and_key_industries(ref):
    user = authority_user(prefecture(NANJING))
    rows = [row(make_uscc("320102", serial=20_000_000 + i), key="电子制造" if i % 2 else "") for i in range(3000)]
    rows[10][0] = wrong_check(rows[10][0])
    report = enterprises_import(data=csv_bytes(rows), filename="三千.csv", user=user, mode=ImportMode.VALID_ROWS_ONLY)
    assert report.applied and report.created == 2999 and [e.line for e in report.errors] == [12]
    assert Enterprise.objects.count() == 2999
    assert Enterprise.key_industries.through.objects.count() == 1500  # odd rows; the bad one (index 10) has none
    assert Enterprise.history.count() == 2999 + 1500
    assert set(Enterprise.history.values_list("history_user", flat=True)) == {user.pk}
    ent = Enterprise.objects.get(uscc=rows[1][0])
    assert ent.size_class == "medium" and ent.province_code == "320000" and ent.county_code == "320102"
    assert [h.history_type for h in ent.history.order_by("history_date")] == ["+", "~"]
    # The sequence still hands out fresh ids after the ones the import took from it.
    highest = max(Enterprise.objects.values_list("pk", flat=True))
    assert EnterpriseFactory(region=county(XUANWU)).pk > highest


def test_job_records_its_row_counter_and_the_running_job_page_shows_it(ref, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from apps.core.models import ImportJobStatus
    from apps.enterprises.imports import import_job_create, import_job_progress, import_job_run
    from apps.enterprises.models import ImportJob

    user = authority_user(prefecture(NANJING))
    upload = SimpleUploadedFile("企业.csv", csv_bytes([row(make_uscc()) for _ in range(3)] + [row("坏代码")]))
    job = import_job_create(uploaded_file=upload, user=user, mode=ImportMode.VALID_ROWS_ONLY, encoding="auto", language="zh-hans")
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportJobStatus.SUCCEEDED and job.created_count == 3
    assert import_job_progress(job) == {"checked": 4, "written": 3}

    client.force_login(user)
    page = client.get(reverse("enterprises:import-job", args=[job.pk]), headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="job-progress"' not in page  # finished: the counts say it all
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING, finished_at=None)
    page = client.get(reverse("enterprises:import-job", args=[job.pk]), headers={"HX-Request": "true"}).content.decode()
    assert "已检查 4 行，已写入 3 行" in page


def test_list_search_finds_a_uscc_typed_any_way_by_the_index_and_names_by_part(ref, client):
    from django.db import connection
    from django.urls import reverse

    from apps.enterprises.models import enterprise_search_q

    user = authority_user(prefecture(NANJING))
    ent = EnterpriseFactory(region=county(XUANWU), name="南京搜索测试电子有限公司")
    outside = EnterpriseFactory(region=county(GUSU, SUZHOU))
    client.force_login(user)

    def found(q):
        return list(client.get(reverse("enterprises:list"), {"q": q}).context["page"])

    typed = ent.uscc.lower()[:6] + " " + ent.uscc.lower()[6:]  # lower case, a space: normalised
    assert found(typed) == [ent]
    assert found("搜索测试") == [ent]
    assert found(outside.uscc) == []  # outside the jurisdiction: not found
    # the code is an exact match on the unique index (iexact was upper(uscc) = …: a scan)
    sql = str(Enterprise.objects.filter(enterprise_search_q(typed)).query)
    assert "UPPER(" not in sql.upper() and "LIKE" not in sql.upper()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Enterprise.objects.filter(enterprise_search_q(typed)).explain()
        assert "enterprises_enterprise_uscc_key" in plan


def test_name_search_is_case_blind_and_served_by_the_trigram_index(ref, client):
    from django.db import connection
    from django.urls import reverse

    from apps.enterprises.models import enterprise_search_q

    user = authority_user(prefecture(NANJING))
    ent = EnterpriseFactory(region=county(XUANWU), name="南京Acme精密电子有限公司")
    EnterpriseFactory(region=county(XUANWU), name="南京另一家机械有限公司")
    client.force_login(user)

    def found(q):
        return list(client.get(reverse("enterprises:list"), {"q": q}).context["page"])

    assert found("acme精密") == [ent]  # part of the name, any case
    assert found("精密电子") == [ent]
    assert found("ACME 精密") == []  # a substring, not words
    if connection.vendor == "postgresql":
        # the lookup's expression, UPPER(name::text), is the index's: with scans forbidden
        # the planner can answer it from enterprise_name_trgm (on 200,000 enterprises it
        # does so by itself, docs/PERFORMANCE.md); a mismatched expression would scan anyway
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        for q in ("acme精密", "精密电子"):
            plan = Enterprise.objects.filter(enterprise_search_q(q)).explain()
            assert "Bitmap Index Scan on enterprise_name_trgm" in plan, plan


def test_one_and_two_character_name_searches_find_what_a_substring_search_finds(ref, client):
    """One or two characters (e.g. "玄武", "钢"): pg_trgm has no trigram of them, so on
    PostgreSQL the names holding those characters come from an index of each name's
    characters (the generated column name_chars, migration enterprises.0008, which
    PostgreSQL keeps up to date on every write of the name), and a pair is then looked for
    in those names only. The answers are those of name__icontains."""
    from django.db import connection
    from django.urls import reverse

    from apps.enterprises.models import enterprise_search_q

    user = authority_user(prefecture(NANJING))
    steel = EnterpriseFactory(region=county(XUANWU), name="南京玄武钢材有限公司")
    acme = EnterpriseFactory(region=county(XUANWU), name="南京Ab精密电子有限公司")
    other = EnterpriseFactory(region=county(XUANWU), name="南京另一家机械有限公司")
    outside = EnterpriseFactory(region=county(GUSU, SUZHOU), name="苏州玄武钢铁有限公司")
    client.force_login(user)

    def found(q):
        return sorted(e.pk for e in client.get(reverse("enterprises:list"), {"q": q}).context["page"])

    assert found("玄武") == [steel.pk]  # the one outside the jurisdiction is not listed
    assert found("钢") == [steel.pk]
    assert found("ab") == found("AB") == [acme.pk]  # any case
    assert found("b精") == [acme.pk]  # a pair across a Latin letter and a Han character
    assert found("南京") == sorted([steel.pk, acme.pk, other.pk])
    assert found("武钢材") == [steel.pk]  # three characters: the trigram search, as before
    assert found("钢玄") == [] and found("京南") == []  # a pair in this order only
    for q in ("玄武", "钢", "ab", "南京", "有", "京南", "铁"):
        assert set(Enterprise.objects.filter(enterprise_search_q(q)).values_list("pk", flat=True)) == set(
            Enterprise.objects.filter(name__icontains=q).values_list("pk", flat=True)), q
    # the filings list searches through the filing's enterprise (another table alias)
    from apps.filings.models import Submission

    assert set(Submission.objects.filter(enterprise_search_q("玄武", "enterprise")).values_list("pk", flat=True)) == set(
        Submission.objects.filter(enterprise__name__icontains="玄武").values_list("pk", flat=True))
    # a renamed enterprise is found by its new name only (the column follows the name)
    steel.name = "南京紫金特钢有限公司"
    steel.save()
    assert found("玄武") == [] and found("紫金") == [steel.pk]
    if connection.vendor == "postgresql":
        assert "name_chars" in str(Enterprise.objects.filter(enterprise_search_q("玄武")).query)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Enterprise.objects.filter(enterprise_search_q("紫金")).explain()
        assert "Bitmap Index Scan on enterprise_name_chars" in plan, plan
    del outside


def test_an_imported_name_is_found_by_two_characters(ref):
    """The import writes names with COPY and UPDATE … FROM a staging table: PostgreSQL
    computes the generated column there too."""
    from apps.enterprises.models import enterprise_search_q

    code = make_uscc()
    report = enterprises_import(data=csv_bytes([row(code, name="常州龙城精工有限公司")]), filename="x.csv", user=SYSTEM)
    assert report.applied
    assert list(Enterprise.objects.filter(enterprise_search_q("龙城")).values_list("uscc", flat=True)) == [code]
    report = enterprises_import(data=csv_bytes([row(code, name="常州天宁精工有限公司")]), filename="x.csv", user=SYSTEM)
    assert report.applied and report.updated == 1
    assert not Enterprise.objects.filter(enterprise_search_q("龙城")).exists()
    assert list(Enterprise.objects.filter(enterprise_search_q("天宁")).values_list("uscc", flat=True)) == [code]


def test_text_that_copy_would_read_as_control_characters_is_stored_as_typed(ref):
    # The rows go to PostgreSQL as COPY text built a column at a time: tab, newline,
    # backslash and a literal \N must be escaped, not read as field ends or NULL.
    odd = {"name": "甲\t乙\\丙有限公司", "address": "第一行\n第二行 \\N", "contact": "\\N", "phone": "a\\tb"}
    code = make_uscc()
    report = enterprises_import(data=csv_bytes([row(code, **odd)]), filename="x.csv", user=SYSTEM)
    assert report.applied and report.created == 1
    ent = Enterprise.objects.get(uscc=code)
    assert (ent.name, ent.address, ent.contact_name, ent.contact_phone) == (
        odd["name"], odd["address"], odd["contact"], odd["phone"],
    )  # fmt: skip
    history = ent.history.get(history_type="+")
    assert (history.name, history.address, history.contact_name) == (odd["name"], odd["address"], odd["contact"])
    # and again as an update (the staging table): unchanged, then changed
    assert enterprises_import(data=csv_bytes([row(code, **odd)]), filename="x.csv", user=SYSTEM).unchanged == 1
    report = enterprises_import(data=csv_bytes([row(code, **{**odd, "name": "丁\\t戊"})]), filename="x.csv", user=SYSTEM)
    assert report.updated == 1
    ent.refresh_from_db()
    assert ent.name == "丁\\t戊" and ent.address == odd["address"]
