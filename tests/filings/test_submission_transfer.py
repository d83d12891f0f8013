"""XLSX export, template and import of submissions (paper filings typed in by authorities)."""

import codecs
import io

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import NoReverseMatch, include, path, reverse

from apps.accounts.models import Role
from apps.core.models import ImportMode
from apps.core.spreadsheets import SpreadsheetError as ImportFileError
from apps.filings import services, transfer_views
from apps.filings.models import (
    Answer,
    EventAction,
    Submission,
    SubmissionEvent,
    SubmissionImportJob,
    SubmissionStatus,
)
from apps.filings.packing import submission_score
from apps.filings.tasks import run_submission_import_job
from apps.filings.transfer import (
    PaperFiling,
    _modules_by_enterprise,
    submissions_export,
    submissions_import,
    submissions_import_paper,
    submissions_template,
)
from tests.factories import (
    GUSU,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    UserFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    make_uscc,
    prefecture,
)
from tests.filings.builders import COMPLETE


# The page's URL patterns live in transfer_views.urlpatterns; until apps/filings/urls.py
# includes them, these tests use a URLconf that does.
def _transfer_urls_wired() -> bool:
    try:
        reverse("filings:transfer")
    except NoReverseMatch:
        return False
    return True


if not _transfer_urls_wired():
    from apps.filings import urls as filing_urls
    from portal import urls as portal_urls

    urlpatterns = [
        path(
            "filings/",
            include((filing_urls.urlpatterns + [path("transfer/", include(transfer_views.urlpatterns))], "filings")),
        ),
        *[p for p in portal_urls.urlpatterns if str(p.pattern) != "filings/"],
    ]
    pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
else:
    pytestmark = [pytest.mark.django_db]

HEAD = ["统一社会信用代码", "企业名称", "期次", "状态", "R1", "C1", "K1", "Y1", "B1"]
# COMPLETE (R1=3, C1=a+c, K1=95, Y1=no) as a clerk writes it on the sheet
PAPER = {"R1": 3, "C1": "a;c", "K1": 95, "Y1": "否"}


def ent(region=XUANWU, pref=None, code="39", **kw):
    return EnterpriseFactory(region=county(region, pref), industry=industry(code, "医药制造业" if code == "27" else "x"), **kw)


def xlsx(rows, header=HEAD) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row(enterprise, **answers):
    values = {**PAPER, **answers}
    return [enterprise.uscc, enterprise.name, "2026", "", *(values.get(c) for c in HEAD[4:])]


def run(data, period, user, **kw):
    return submissions_import(data=data, filename="纸质填报.xlsx", period=period, user=user, **kw)


def errors_of(report):
    return [(e.line, e.column, e.message) for e in report.errors]


def answers_of(sub):
    return {code: (value, nm) for code, value, nm in sub.answers.values_list("indicator__code", "value", "not_measured")}


def read(data: bytes, sheet=0):
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(r) for r in book.worksheets[sheet].iter_rows(values_only=True)]


def submitted_online(enterprise, period, answers=COMPLETE):
    filer = enterprise_user(enterprise)
    sub = services.submission_start(enterprise=enterprise, period=period, user=filer)
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=answers, revision=sub.revision)
    assert not errors
    services.submission_submit(submission=sub, user=filer, pledge=True)
    sub.refresh_from_db()
    return sub, filer


# --- template and export -------------------------------------------------------------------------


def test_template_has_the_periods_columns_and_an_explanation_sheet(period):
    data = submissions_template(period=period)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert [s.title for s in book.worksheets] == ["填报数据", "填写说明"]
    header = [c.value for c in book.worksheets[0][1]]
    assert header == [
        "统一社会信用代码", "企业名称", "期次", "状态", "R1 质量管理数字化规划", "C1 在用的质量信息系统",
        "K1 一次交检合格率", "Y1 是否通过质量管理体系认证", "B1 药品数据完整性", "综合得分", "等级",
    ]
    assert book.worksheets[0].max_row == 1
    sheet = book.worksheets[0]
    validations = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    assert validations == {"E2:E5000 I2:I5000": '"0,1,2,3,4,5"', "H2:H5000": '"是,否"'}  # R1, B1; Y1
    # Credit codes, checklists and KPIs are text cells: Excel must not turn "95%" into 0.95.
    assert [k for k, d in sheet.column_dimensions.items() if d.number_format == "@"] == ["A", "F", "G"]
    assert sheet.freeze_panes == "A2"
    helptext = read(data, sheet=1)
    by_header = {r[1]: r for r in helptext[1:] if r[1]}
    assert "a：QMS" in by_header["C1 在用的质量信息系统"][6] and "“无”" in by_header["C1 在用的质量信息系统"][6]
    assert "0：没有开展" in by_header["R1 质量管理数字化规划"][6]
    assert "未统计" in by_header["K1 一次交检合格率"][6] and "不要填 0.955" in by_header["K1 一次交检合格率"][6]
    assert "生物医药行业模块" in by_header["B1 药品数据完整性"][3]
    assert by_header["B1 药品数据完整性"][0] == "I"


def test_export_has_answers_in_natural_form_and_scores(period, nanjing):
    a = ent()
    sub, _filer = submitted_online(a, period)
    services.submission_accept(submission=sub, user=nanjing)
    submission_score(submission_id=sub.pk)
    b = ent()
    filer_b = enterprise_user(b)
    draft = services.submission_start(enterprise=b, period=period, user=filer_b)
    services.submission_save_answers(submission=draft, user=filer_b, revision=0,
                                     answers={"K1": "not_measured", "C1": ["__none__"], "Y1": "yes"})
    exported = submissions_export(period=period, user=nanjing)
    rows = read(exported)
    by_uscc = {r[0]: r for r in rows[1:]}
    sheet = openpyxl.load_workbook(io.BytesIO(exported)).worksheets[0]
    assert [sheet.cell(2, c).number_format for c in (1, 5, 6, 7, 8)] == ["@", "General", "@", "@", "General"]
    assert by_uscc[a.uscc] == [a.uscc, a.name, "2026", "审核通过", 3, "a;c", 95, "否", None, 58.5, "L3 保证级"]
    assert by_uscc[b.uscc] == [b.uscc, b.name, "2026", "草稿", None, "无", "未统计", "是", None, None, None]


def test_export_is_scoped_to_the_jurisdiction(period, nanjing):
    mine, theirs = ent(), ent(GUSU, SUZHOU)
    submitted_online(mine, period)
    submitted_online(theirs, period)
    assert [r[0] for r in read(submissions_export(period=period, user=nanjing))[1:]] == [mine.uscc]
    assert len(read(submissions_export(period=period, user=UserFactory(role=Role.MINISTRY)))) == 3
    with pytest.raises(PermissionDenied):
        submissions_export(period=period, user=enterprise_user(mine))


def test_export_neutralises_formulae(period, nanjing):
    a = ent(name="=HYPERLINK(\"http://x\")有限公司")
    submitted_online(a, period)
    assert read(submissions_export(period=period, user=nanjing))[1][1].startswith("'=")


# --- round trip ----------------------------------------------------------------------------------


def test_export_fill_import_round_trip(period, nanjing):
    online = ent()
    sub, _filer = submitted_online(online, period)
    bio = ent(code="27")
    paper = ent()
    exported = submissions_export(period=period, user=nanjing)
    # A clerk adds two paper filings to the exported workbook, in Excel's natural forms.
    book = openpyxl.load_workbook(io.BytesIO(exported))
    sheet = book.worksheets[0]
    sheet.append([bio.uscc, bio.name, "2026", None, "4级", "A；LIMS", "88.5%", "是", 2])
    sheet.append([paper.uscc, None, None, None, 0, "无", "未统计", "否", None])
    out = io.BytesIO()
    book.save(out)
    report = run(out.getvalue(), period, nanjing)
    assert report.errors == [] and report.applied
    assert (report.created, report.updated, report.unchanged) == (2, 0, 1)
    bio_sub = Submission.objects.get(enterprise=bio)
    assert answers_of(bio_sub) == {
        "R1": (4, False), "C1": (["a", "c"], False), "K1": (88.5, False), "Y1": (True, False), "B1": (2, False),
    }
    assert answers_of(Submission.objects.get(enterprise=paper)) == {
        "R1": (0, False), "C1": ([], False), "K1": (None, True), "Y1": (False, False),
    }
    # The online filing was in the file unchanged: left as it was, with its pledge.
    sub.refresh_from_db()
    assert sub.pledged_by is not None and sub.events.count() == 2
    # Export again and import again: the same answers, nothing changes.
    second = submissions_export(period=period, user=nanjing)
    rows = {r[0]: r[4:9] for r in read(second)[1:]}
    assert rows[bio.uscc] == [4, "a;c", 88.5, "是", 2]
    assert rows[paper.uscc] == [0, "无", "未统计", "否", None]
    assert rows[online.uscc] == [3, "a;c", 95, "否", None]
    before = SubmissionEvent.objects.count()
    again = run(second, period, nanjing)
    assert again.errors == [] and (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert SubmissionEvent.objects.count() == before


# --- what an import records ----------------------------------------------------------------------


def test_paper_filing_is_recorded_honestly(period, nanjing):
    a = ent()
    filer = enterprise_user(a)
    draft = services.submission_start(enterprise=a, period=period, user=filer)
    services.submission_save_answers(submission=draft, user=filer, revision=0, answers={"R1": "1"})
    report = run(xlsx([row(a)]), period, nanjing)
    assert report.applied and report.updated == 1
    sub = Submission.objects.get(enterprise=a)
    assert sub.status == SubmissionStatus.SUBMITTED
    assert sub.pledged_at is None and sub.pledged_by is None and sub.submitted_at is not None
    assert sub.answer_vector and sub.revision == draft.revision + 2
    assert set(Answer.objects.filter(submission=sub).values_list("updated_by", flat=True)) == {nanjing.pk}
    event = sub.events.get(action=EventAction.SUBMITTED)
    assert event.actor == nanjing and event.from_status == SubmissionStatus.DRAFT
    assert event.note == f"纸质填报导入（导入人：王科长（{nanjing.username}），文件：纸质填报.xlsx）"
    # The enterprise's open editor cannot overwrite the paper filing.
    with pytest.raises(ValidationError, match="已提交"):
        services.submission_save_answers(submission=sub, user=filer, revision=sub.revision, answers={"R1": "2"})
    # The ordinary services still refuse the authority: only the import may file for it.
    with pytest.raises(PermissionDenied):
        services.submission_submit(submission=sub, user=nanjing, pledge=True)
    with pytest.raises(PermissionDenied):
        services.submission_start(enterprise=ent(), period=period, user=nanjing)


def test_new_paper_filing_and_accept_at_once(period, nanjing, django_capture_on_commit_callbacks):
    a = ent()
    with django_capture_on_commit_callbacks() as callbacks:
        report = run(xlsx([row(a, Y1="是")]), period, nanjing, accept=True)
    assert report.created == 1 and report.accepted == 1
    assert "其中 1 份已同时审核通过" in report.summary()
    sub = Submission.objects.get(enterprise=a)
    assert sub.status == SubmissionStatus.ACCEPTED and sub.decided_by == nanjing
    assert list(sub.events.values_list("action", flat=True)) == ["created", "submitted", "accepted"]
    assert len(callbacks) == 1  # scoring enqueued
    # A key yes/no item answered 是 on paper has no uploaded evidence: flagged, not blocked.
    assert [f["kind"] for f in sub.flags] == ["paper_yes_without_evidence"]


def test_accepted_submission_is_not_overwritten(period, nanjing):
    a = ent()
    sub, _filer = submitted_online(a, period)
    services.submission_accept(submission=sub, user=nanjing)
    report = run(xlsx([row(a, R1=5)]), period, nanjing)
    assert not report.applied
    assert errors_of(report) == [(2, "A（统一社会信用代码）",
                                  "该企业本期次的填报已审核通过，不能用导入覆盖（文件中的答案与已通过的不同）。请从文件中删除这一行。")]
    assert sub.answers.get(indicator__code="R1").value == 3
    # The same answers are simply left alone.
    same = run(xlsx([row(a)]), period, nanjing)
    assert same.errors == [] and same.unchanged == 1
    # And the service itself refuses, whoever calls it.
    with pytest.raises(ValidationError, match="已审核通过"):
        submissions_import_paper(period=period, user=nanjing, source="x",
                                 filings=[PaperFiling(a, {**COMPLETE, "R1": "5"})])


def test_returned_filing_can_be_replaced_by_paper(period, nanjing):
    a = ent()
    sub, _filer = submitted_online(a, period)
    services.submission_return(submission=sub, user=nanjing, reasons={"R1": "偏高"})
    report = run(xlsx([row(a, R1=2)]), period, nanjing)
    assert report.updated == 1
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SUBMITTED
    assert sub.events.last().from_status == SubmissionStatus.RETURNED
    r1 = sub.answers.get(indicator__code="R1")
    assert r1.value == 2 and r1.updated_by == nanjing
    assert sub.answers.get(indicator__code="C1").updated_by != nanjing  # unchanged answers keep their author


# --- errors --------------------------------------------------------------------------------------


def test_bad_cells_are_reported_with_row_and_column(period, nanjing):
    good, bad = ent(), ent()
    rows = [
        row(good),
        row(bad, R1=7, C1="a;zz", K1="120", Y1="也许"),
        ["", "", "", "", 3, "a", 90, "是", None],
        row(good),
    ]
    report = run(xlsx(rows), period, nanjing)
    assert errors_of(report) == [
        (3, "E（R1）", "R1：请选择0–5级中的一级。"),
        (3, "F（C1）", "C1：未知的清单项 zz。"),
        (3, "G（K1）", "K1：数值 120 超出允许范围 0–100 %，请核对单位和数值。"),
        (3, "H（Y1）", "Y1：请选择“是”或“否”。"),
        (4, "A（统一社会信用代码）", "请填写统一社会信用代码。"),
        (5, "A（统一社会信用代码）", f"统一社会信用代码 {good.uscc} 在文件中重复（第 2 行已有），每家企业只能有一行。"),
    ]
    assert report.skipped == 3 and not report.applied
    assert "未导入：3 行有错误" in report.summary()


def test_the_messages_are_those_of_clean_answer(period, nanjing):
    a = ent()
    report = run(xlsx([row(a, K1="abc", C1="无;a")]), period, nanjing)
    messages = {e.column: e.message for e in report.errors}
    assert messages["G（K1）"] == "K1：请填写数字（单位：%），如未统计请勾选“未统计”。"
    assert messages["F（C1）"] == "C1：选择了“以上均无”就不能再勾选其他项。"


def test_missing_answers_and_module_rules(period, nanjing):
    plain, bio = ent(), ent(code="27")
    report = run(xlsx([row(plain, K1=None, B1=3), row(bio)]), period, nanjing)
    assert errors_of(report) == [
        (2, "G（K1）", "K1：未填写。纸质填报须填写该企业适用的全部指标。"),
        (2, "I（B1）", "B1：该企业不适用此指标（仅适用于“生物医药行业模块”），请留空。"),
        (3, "I（B1）", "B1：未填写。纸质填报须填写该企业适用的全部指标。"),
    ]


def test_module_rule_matches_the_services(period):
    from apps.reference.models import KeyIndustry

    enterprises = [ent(), ent(code="27"), ent(code="271")]
    tagged = ent()
    key = KeyIndustry.objects.create(code="biomed", name="生物医药")
    tagged.key_industries.add(key)
    period.framework.modules.get(code="bio").key_industries.add(key)
    enterprises.append(tagged)
    rule = _modules_by_enterprise(period.framework, enterprises)
    for e in enterprises:
        expected = {m.pk for m in services.modules_for(framework=period.framework, enterprise=e)}
        assert rule[e.pk] == expected
    assert [bool(rule[e.pk]) for e in enterprises] == [False, True, True, True]


def test_unknown_enterprise_wrong_name_and_wrong_period(period, nanjing):
    a = ent()
    unknown = make_uscc()
    rows = [
        [unknown, "某公司", "2026", "", 3, "a", 90, "是", None],
        [a.uscc, "另一家公司", "2025", "", 3, "a", 90, "是", None],
    ]
    report = run(xlsx(rows), period, nanjing)
    assert errors_of(report) == [
        (2, "A（统一社会信用代码）", f"统一社会信用代码 {unknown} 不是您管辖范围内已登记的企业。请核对代码；该企业如尚未在平台登记，请先登记，再导入其填报。"),
        (3, "B（企业名称）", f"企业名称与平台登记的名称（{a.name}）不一致，请核对统一社会信用代码是否填错。"),
        (3, "C（期次）", "本行期次为“2025”，与导入时选择的期次“2026”不一致。"),
    ]


def test_enterprise_outside_the_jurisdiction_is_refused(period, nanjing):
    """Refused with the same words as an unregistered code: no existence oracle."""
    mine, theirs = ent(), ent(GUSU, SUZHOU)
    report = run(xlsx([row(mine), row(theirs)]), period, nanjing, mode=ImportMode.VALID_ROWS_ONLY)
    assert errors_of(report) == [
        (3, "A（统一社会信用代码）", f"统一社会信用代码 {theirs.uscc} 不是您管辖范围内已登记的企业。请核对代码；该企业如尚未在平台登记，请先登记，再导入其填报。"),
    ]
    assert report.created == 1
    assert not Submission.objects.filter(enterprise=theirs).exists()
    # The service refuses on its own too.
    with pytest.raises(PermissionDenied, match="不在您的管辖范围内"):
        submissions_import_paper(period=period, user=nanjing, source="x", filings=[PaperFiling(theirs, COMPLETE)])
    assert not Submission.objects.filter(enterprise=theirs).exists()


def test_all_or_nothing_writes_nothing_when_one_row_is_bad(period, nanjing):
    good = [ent() for _ in range(3)]
    bad = ent()
    report = run(xlsx([*(row(e) for e in good), row(bad, R1="x")]), period, nanjing)
    assert report.mode == ImportMode.ALL_OR_NOTHING and not report.applied
    assert [e.line for e in report.errors] == [5]
    assert Submission.objects.count() == 0 and SubmissionEvent.objects.count() == 0


def test_valid_rows_only_writes_the_good_rows(period, nanjing):
    good = [ent() for _ in range(3)]
    bad = ent()
    report = run(xlsx([row(good[0]), row(bad, R1="x"), row(good[1]), row(good[2])]), period, nanjing,
                 mode=ImportMode.VALID_ROWS_ONLY)
    assert report.applied and report.created == 3 and report.skipped == 1
    assert "部分导入" in report.summary()
    assert set(Submission.objects.values_list("enterprise", flat=True)) == {e.pk for e in good}


def test_dry_run_writes_nothing(period, nanjing):
    report = run(xlsx([row(ent())]), period, nanjing, dry_run=True)
    assert report.errors == [] and not report.applied and Submission.objects.count() == 0


def test_a_write_that_fails_midway_leaves_nothing(period, nanjing, monkeypatch):
    from apps.filings import transfer

    a, b = ent(), ent()
    calls = []
    copy_rows = transfer.copy_rows

    def failing(table, columns, rows):
        # the submissions and their answers are copied in; the events' COPY fails
        calls.append(table)
        if table == SubmissionEvent._meta.db_table:
            from django.db import DatabaseError

            raise DatabaseError("boom")
        return copy_rows(table, columns, rows)

    monkeypatch.setattr(transfer, "copy_rows", failing)
    report = run(xlsx([row(a), row(b)]), period, nanjing)
    assert calls == [Submission._meta.db_table, Answer._meta.db_table, SubmissionEvent._meta.db_table]
    assert not report.applied and report.errors[-1].line == 0
    assert "没有写入任何数据" in report.errors[-1].message
    assert Submission.objects.count() == 0 and Answer.objects.count() == 0


@pytest.mark.parametrize(
    "header, expected",
    [
        (["企业名称", "R1", "C1", "K1", "Y1"], "缺少“统一社会信用代码”列"),
        (["统一社会信用代码", "R1", "C1", "K1"], "缺少本期次评估框架的指标列：Y1"),
        (["统一社会信用代码", "R1", "C1", "K1", "Y1", "R1 again"], "“R1”出现了两次（B 列和 F 列）"),
    ],
)
def test_unusable_sheets_are_refused(period, nanjing, header, expected):
    with pytest.raises(ImportFileError, match=expected):
        run(xlsx([[make_uscc()]], header=header), period, nanjing)


def test_old_excel_and_closed_periods_are_refused(period, nanjing):
    with pytest.raises(ImportFileError, match="旧版 Excel"):
        submissions_import(data=b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"0" * 100, filename="a.xls", period=period, user=nanjing)
    period.closed_early = True
    period.save()
    with pytest.raises(ImportFileError, match="不在填报时间内"):
        run(xlsx([row(ent())]), period, nanjing)


def test_only_authorities_and_ministry_may_import(period):
    a = ent()
    for user in (enterprise_user(a), UserFactory(role=Role.EXPERT)):
        with pytest.raises(PermissionDenied):
            run(xlsx([row(a)]), period, user)
    ministry = UserFactory(role=Role.MINISTRY)
    assert run(xlsx([row(a), row(ent(GUSU, SUZHOU))]), period, ministry).created == 2


def test_a_gbk_csv_with_the_same_header_is_read_too(period, nanjing):
    a = ent()
    lines = [",".join(HEAD), ",".join(str(v) if v is not None else "" for v in row(a, C1="a、c"))]
    data = ("\r\n".join(lines) + "\r\n").encode("gb18030")
    report = submissions_import(data=data, filename="纸质.csv", period=period, user=nanjing)
    assert report.errors == [] and report.file_format == "csv" and report.encoding.startswith("GBK")
    assert answers_of(Submission.objects.get(enterprise=a))["C1"] == (["a", "c"], False)


def test_empty_post_shows_the_form_errors(client, period, nanjing):
    client.force_login(nanjing)
    resp = client.post(reverse("filings:transfer"), {})
    assert resp.status_code == 200 and resp.context["form"].errors and not SubmissionImportJob.objects.exists()


def test_unknown_headers_are_ignored_and_listed(period, nanjing):
    report = run(xlsx([[*row(ent()), "纸质表已归档"]], header=[*HEAD, "备注"]), period, nanjing)
    assert report.errors == [] and report.ignored_columns == ["备注"]


# --- commands ------------------------------------------------------------------------------------


def test_import_command(period, nanjing, tmp_path, capsys):
    good, bad = ent(), ent()
    path_ = tmp_path / "paper.xlsx"
    path_.write_bytes(xlsx([row(good), row(bad, Y1="?")]))
    with pytest.raises(CommandError) as exc:
        call_command("import_submissions", str(path_), "--period", "2026", "--as-user", nanjing.username)
    assert exc.value.returncode == 2
    out = capsys.readouterr().out
    assert "第 3 行 [H（Y1）] Y1：请选择“是”或“否”。" in out and Submission.objects.count() == 0
    with pytest.raises(CommandError):
        call_command("import_submissions", str(path_), "--period", "2026", "--as-user", nanjing.username,
                     "--mode", "valid_rows_only")
    assert Submission.objects.count() == 1
    path_.write_bytes(xlsx([row(bad)]))
    call_command("import_submissions", str(path_), "--period", "2026", "--as-user", nanjing.username, "--accept")
    assert Submission.objects.get(enterprise=bad).status == SubmissionStatus.ACCEPTED
    with pytest.raises(CommandError, match="不存在"):
        call_command("import_submissions", str(path_), "--period", "1999", "--as-user", nanjing.username)
    with pytest.raises(CommandError) as exc:
        call_command("import_submissions", str(path_), "--period", "2026", "--as-user", enterprise_user(good).username)
    assert exc.value.returncode == 1


def test_export_command(period, nanjing, tmp_path):
    mine, theirs = ent(), ent(GUSU, SUZHOU)
    submitted_online(mine, period)
    submitted_online(theirs, period)
    out = tmp_path / "all.xlsx"
    call_command("export_submissions", str(out), "--period", "2026")
    assert len(read(out.read_bytes())) == 3
    call_command("export_submissions", str(out), "--period", "2026", "--as-user", nanjing.username)
    assert [r[0] for r in read(out.read_bytes())[1:]] == [mine.uscc]


# --- the page ------------------------------------------------------------------------------------


def test_page_downloads_and_upload(client, period, nanjing, monkeypatch, django_capture_on_commit_callbacks):
    mine, theirs = ent(), ent(GUSU, SUZHOU)
    submitted_online(mine, period)
    submitted_online(theirs, period)
    client.force_login(nanjing)
    page = client.get(reverse("filings:transfer"))
    assert page.status_code == 200
    template_url = reverse("filings:transfer-template", args=[period.code])
    export_url = reverse("filings:transfer-export", args=[period.code])
    assert template_url in page.text and export_url in page.text
    template = client.get(template_url)
    assert template.status_code == 200 and template["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="submissions-template-2026.xlsx"' in template["Content-Disposition"]
    export = client.get(export_url)
    assert [r[0] for r in read(export.content)[1:]] == [mine.uscc]

    paper, bad = ent(), ent()
    upload = SimpleUploadedFile("paper.xlsx", xlsx([row(paper), row(bad, R1=9)]))
    delayed = []
    monkeypatch.setattr(run_submission_import_job, "delay", lambda job_id: delayed.append(job_id))
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(reverse("filings:transfer"), {"period": "2026", "file": upload, "mode": "valid_rows_only"})
    job = SubmissionImportJob.objects.get()
    assert resp.status_code == 302 and resp.url == reverse("filings:transfer-job", args=[job.pk])
    assert delayed == [job.pk] and job.status == "queued" and not Submission.objects.filter(enterprise=paper).exists()
    assert run_submission_import_job(job.pk) == "succeeded"
    resp = client.get(resp.url)
    assert "部分导入" in resp.text and "R1：请选择0–5级中的一级。" in resp.text and "E（R1）" in resp.text
    errors = client.get(reverse("filings:transfer-job-errors", args=[job.pk]))
    assert errors.content.startswith(codecs.BOM_UTF8) and "R1：请选择0–5级中的一级。" in errors.content.decode("utf-8-sig")
    assert Submission.objects.get(enterprise=paper).status == SubmissionStatus.SUBMITTED
    assert f'href="{reverse("filings:transfer-job", args=[job.pk])}"' in client.get(reverse("filings:transfer")).text
    upload = SimpleUploadedFile("paper.csv", b"PK\x03\x04 not really")
    resp = client.post(reverse("filings:transfer"), {"period": "2026", "file": upload, "mode": "all_or_nothing"})
    assert "内容是 Excel 工作簿或压缩文件" in resp.text


def test_page_is_for_authorities_only(client, period):
    a = ent()
    client.force_login(enterprise_user(a))
    assert client.get(reverse("filings:transfer")).status_code == 403
    assert client.get(reverse("filings:transfer-export", args=[period.code])).status_code == 403
    assert client.get(reverse("filings:transfer-template", args=[period.code])).status_code == 403
    client.logout()
    assert client.get(reverse("filings:transfer")).status_code == 302


def test_import_job_counts_rows_refuses_others_and_is_idempotent(client, period, nanjing):
    from apps.filings.transfer_jobs import (
        submission_import_job_create,
        submission_import_job_progress,
        submission_import_job_run,
    )

    a, b = ent(), ent()
    upload = SimpleUploadedFile("纸质.xlsx", xlsx([row(a), row(b)]))
    job = submission_import_job_create(
        uploaded_file=upload, period=period, user=nanjing, mode=ImportMode.ALL_OR_NOTHING, accept=True, language="zh-hans"
    )
    job = submission_import_job_run(job_id=job.pk)
    assert (job.status, job.created_count, job.accepted_count, job.applied) == ("succeeded", 2, 2, True)
    assert submission_import_job_progress(job) == {"checked": 2, "written": 2}
    finished = job.finished_at
    assert submission_import_job_run(job_id=job.pk).finished_at == finished  # a second delivery does nothing
    assert Submission.objects.filter(status=SubmissionStatus.ACCEPTED).count() == 2

    # Another authority's job is not found; the job page's counter shows while it runs.
    client.force_login(authority_user(prefecture(SUZHOU)))
    assert client.get(reverse("filings:transfer-job", args=[job.pk])).status_code == 404
    assert client.get(reverse("filings:transfer-job-errors", args=[job.pk])).status_code == 404
    client.force_login(nanjing)
    SubmissionImportJob.objects.filter(pk=job.pk).update(status="running", finished_at=None)
    page = client.get(reverse("filings:transfer-job", args=[job.pk]), headers={"HX-Request": "true"}).text
    assert "已检查 2 行，已写入 2 行" in page and 'hx-trigger="every 2s"' in page


def test_import_job_of_a_bad_file_fails_with_the_message(period, nanjing):
    from apps.filings.transfer_jobs import submission_import_job_create, submission_import_job_run

    upload = SimpleUploadedFile("纸质.xlsx", b"PK\x03\x04 broken zip")
    job = submission_import_job_create(
        uploaded_file=upload, period=period, user=nanjing, mode=ImportMode.ALL_OR_NOTHING, accept=False, language="zh-hans"
    )
    job = submission_import_job_run(job_id=job.pk)
    assert job.status == "failed" and "无法打开这个 Excel 文件" in job.message


def test_import_job_of_a_lost_file_or_an_unexpected_error_ends_failed_with_the_reason(period, nanjing, monkeypatch):
    """The paper-filing job runs as the enterprise job does (apps.core.jobs.run_file_import):
    a file gone from storage, or an error nobody foresaw, fails the job with a message the
    clerk can act on and writes nothing; the job never stays "running"."""
    from apps.filings import transfer_jobs

    def job():
        return transfer_jobs.submission_import_job_create(
            uploaded_file=SimpleUploadedFile("纸质.xlsx", xlsx([row(ent())])), period=period, user=nanjing,
            mode=ImportMode.ALL_OR_NOTHING, accept=True, language="zh-hans",
        )

    lost = job()
    lost.file.storage.delete(lost.file.name)
    lost = transfer_jobs.submission_import_job_run(job_id=lost.pk)
    assert lost.status == "failed" and "无法读取上传的文件" in lost.message and lost.finished_at is not None

    def crash(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(transfer_jobs, "submissions_import", crash)
    crashed = job()
    with pytest.raises(RuntimeError):
        transfer_jobs.submission_import_job_run(job_id=crashed.pk)
    crashed.refresh_from_db()
    assert crashed.status == "failed" and "意外错误" in crashed.message
    assert not Submission.objects.exists()
