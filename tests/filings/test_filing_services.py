"""Filing, review and scoring through the services and the pages."""

import io
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse

from apps.filings import services
from apps.filings.models import EventAction, Period, Submission, SubmissionStatus
from apps.filings.packing import submission_score
from tests.factories import (
    GUSU,
    NANJING,
    SUZHOU,
    XUANWU,
    EnterpriseFactory,
    authority_user,
    county,
    enterprise_user,
    industry,
    prefecture,
)
from tests.filings.builders import COMPLETE, EXPECTED_COMPOSITE, EXPECTED_LEVEL

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def filer():
    return enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39")))


def start(filer, period):
    return services.submission_start(enterprise=filer.enterprise, period=period, user=filer)


def fill(sub, filer, answers=COMPLETE):
    sub, errors = services.submission_save_answers(submission=sub, user=filer, answers=answers, revision=sub.revision)
    assert errors == {}
    return sub


def test_start_is_one_submission_per_enterprise_and_period(filer, period):
    first = start(filer, period)
    second = start(filer, period)
    assert first.pk == second.pk
    assert Submission.objects.count() == 1
    assert first.framework == period.framework
    assert list(first.events.values_list("action", flat=True)) == [EventAction.CREATED]


def test_only_the_enterprise_itself_may_start_or_edit(filer, period):
    other = enterprise_user(EnterpriseFactory(region=county(XUANWU)))
    with pytest.raises(PermissionDenied):
        services.submission_start(enterprise=filer.enterprise, period=period, user=other)
    sub = start(filer, period)
    with pytest.raises(PermissionDenied):
        services.submission_save_answers(submission=sub, user=other, answers={"R1": "2"}, revision=sub.revision)


def test_answers_are_validated_per_kind(filer, period):
    sub = start(filer, period)
    sub, errors = services.submission_save_answers(
        submission=sub, user=filer, revision=sub.revision,
        answers={"R1": "7", "C1": ["a", "zz"], "K1": "120", "Y1": "maybe", "B1": "3"},
    )
    assert "0–5级" in errors["R1"]
    assert "未知的清单项" in errors["C1"]
    assert "超出允许范围 0–100 %" in errors["K1"]
    assert "“是”或“否”" in errors["Y1"]
    assert "不是本次填报的指标" in errors["B1"]  # the bio module does not apply to industry 39
    assert not sub.answers.exists()
    assert sub.revision == 0


def test_draft_conflict_second_save_is_told(filer, period):
    """Two tabs loaded revision 0; the first save wins, the second is refused, not merged."""
    sub = start(filer, period)
    tab_a = tab_b = sub.revision
    sub, _ = services.submission_save_answers(submission=sub, user=filer, answers={"R1": "2"}, revision=tab_a)
    with pytest.raises(services.DraftConflict) as conflict:
        services.submission_save_answers(submission=sub, user=filer, answers={"R1": "5"}, revision=tab_b)
    assert conflict.value.current_revision == 1
    assert sub.answers.get().value == 2


def test_missing_answers_block_submit_and_are_listed(filer, period):
    sub = fill(start(filer, period), filer, {"R1": "3"})
    assert [i.code for i in services.missing_answers(submission=sub)] == ["C1", "K1", "Y1"]
    with pytest.raises(ValidationError) as exc:
        services.submission_submit(submission=sub, user=filer, pledge=True)
    assert exc.value.messages == ["C1 尚未填写", "K1 尚未填写", "Y1 尚未填写"]


def test_kpi_not_measured_counts_as_answered_and_scores_zero(filer, period):
    sub = fill(start(filer, period), filer, {**COMPLETE, "K1": "not_measured"})
    assert services.missing_answers(submission=sub) == []


def test_pledge_is_required(filer, period):
    sub = fill(start(filer, period), filer)
    with pytest.raises(ValidationError, match="真实性承诺"):
        services.submission_submit(submission=sub, user=filer, pledge=False)


def test_key_yes_needs_evidence(filer, period):
    sub = fill(start(filer, period), filer, {**COMPLETE, "Y1": "yes"})
    with pytest.raises(ValidationError, match="Y1：选择“是”须上传证明材料"):
        services.submission_submit(submission=sub, user=filer, pledge=True)
    services.evidence_add(submission=sub, user=filer, indicator=sub.framework.indicators.get(code="Y1"),
                          uploaded_file=SimpleUploadedFile("证书.pdf", PDF))
    assert services.submission_submit(submission=sub, user=filer, pledge=True).submission.status == SubmissionStatus.SUBMITTED


def test_double_submit_submits_once(filer, period):
    sub = fill(start(filer, period), filer)
    first = services.submission_submit(submission=sub, user=filer, pledge=True)
    second = services.submission_submit(submission=sub, user=filer, pledge=True)
    assert not first.already_submitted and second.already_submitted
    assert sub.events.filter(action=EventAction.SUBMITTED).count() == 1


def test_double_click_on_the_page_submits_once(client, filer, period):
    sub = fill(start(filer, period), filer)
    client.force_login(filer)
    url = reverse("filings:check", args=[sub.pk])
    assert client.post(url, {"pledge": "on"}).status_code == 302
    assert client.post(url, {"pledge": "on"}).status_code == 302
    assert sub.events.filter(action=EventAction.SUBMITTED).count() == 1


def test_submitted_filing_is_read_only_for_the_enterprise(client, filer, period):
    sub = fill(start(filer, period), filer)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    sub.refresh_from_db()
    with pytest.raises(ValidationError, match="已提交"):
        services.submission_save_answers(submission=sub, user=filer, answers={"R1": "5"}, revision=sub.revision)
    client.force_login(filer)
    step = client.get(reverse("filings:step", args=[sub.pk, "D1"]))
    assert step.status_code == 302 and step.url == reverse("filings:detail", args=[sub.pk])


def test_submit_packs_answers_in_compiled_order(filer, period):
    from apps.filings.packing import compiled_for
    from apps.frameworks import scoring

    sub = fill(start(filer, period), filer)
    sub = services.submission_submit(submission=sub, user=filer, pledge=True).submission
    compiled = compiled_for(sub.framework)
    row = scoring.unpack_answers(sub.answer_vector, compiled)
    values = dict(zip(compiled.indicator_codes, row, strict=True))
    assert values["R1"] == 3 and values["C1"] == 0b101 and values["K1"] == 95 and values["Y1"] == 0
    assert values["B1"] != values["B1"]  # NaN: the module does not apply


def test_return_and_resubmit_cycle_records_every_transition(client, filer, period):
    officer = authority_user(prefecture(NANJING), first_name="审核员")
    sub = fill(start(filer, period), filer)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    services.submission_return(submission=sub, user=officer, reasons={"K1": "合格率与上报统计数据不符，请核对。", "R1": ""},
                               note="请修改后重新提交")
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.RETURNED
    # the enterprise sees the reason on the step page
    client.force_login(filer)
    page = client.get(reverse("filings:step", args=[sub.pk, "D2"]))
    assert "合格率与上报统计数据不符" in page.text
    sub, _ = services.submission_save_answers(submission=sub, user=filer, answers={"K1": "92"}, revision=sub.revision)
    result = services.submission_submit(submission=sub, user=filer, pledge=True)
    assert result.submission.status == SubmissionStatus.SUBMITTED
    services.submission_accept(submission=sub, user=officer)
    events = list(sub.events.order_by("at", "pk").values_list("action", "from_status", "to_status", "actor__username"))
    assert [e[0] for e in events] == ["created", "submitted", "returned", "submitted", "accepted"]
    assert events[2][1:3] == ("submitted", "returned")
    returned = sub.events.get(action="returned")
    assert returned.note == "请修改后重新提交"
    assert [(r.indicator.code, r.reason) for r in returned.reasons.all()] == [("K1", "合格率与上报统计数据不符，请核对。")]
    history = client.get(reverse("filings:detail", args=[sub.pk]))
    assert "合格率与上报统计数据不符" in history.text and "重新提交" in history.text


def test_return_needs_a_reason_and_a_submitted_filing(filer, period):
    officer = authority_user(prefecture(NANJING))
    sub = fill(start(filer, period), filer)
    with pytest.raises(ValidationError, match="只有待审核"):
        services.submission_return(submission=sub, user=officer, reasons={"K1": "x"})
    services.submission_submit(submission=sub, user=filer, pledge=True)
    with pytest.raises(ValidationError, match="至少填写一条"):
        services.submission_return(submission=sub, user=officer, reasons={"K1": "  "})


def test_authority_outside_jurisdiction_is_refused(client, filer, period):
    stranger = authority_user(prefecture(SUZHOU))
    county(GUSU, SUZHOU)
    sub = fill(start(filer, period), filer)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    with pytest.raises(PermissionDenied):
        services.submission_accept(submission=sub, user=stranger)
    client.force_login(stranger)
    assert client.get(reverse("filings:detail", args=[sub.pk])).status_code == 404
    assert client.post(reverse("filings:accept", args=[sub.pk])).status_code == 404
    assert client.post(reverse("filings:return", args=[sub.pk]), {"reason-K1": "x"}).status_code == 404
    assert client.get(reverse("filings:report", args=[sub.pk])).status_code == 404
    assert sub.pk not in [s.pk for s in client.get(reverse("filings:queue")).context["page"]]
    sub.refresh_from_db()
    assert sub.status == SubmissionStatus.SUBMITTED


def test_enterprise_cannot_review(client, filer, period):
    sub = fill(start(filer, period), filer)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    with pytest.raises(PermissionDenied):
        services.submission_accept(submission=sub, user=filer)
    client.force_login(filer)
    assert client.post(reverse("filings:accept", args=[sub.pk])).status_code == 403
    assert client.get(reverse("filings:queue")).status_code == 403


def test_accept_scores_the_filing_reproducibly(filer, period, django_capture_on_commit_callbacks):
    officer = authority_user(prefecture(NANJING))
    sub = fill(start(filer, period), filer)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    with django_capture_on_commit_callbacks() as callbacks:
        services.submission_accept(submission=sub, user=officer)
    assert len(callbacks) == 2  # the notice e-mail and score_submission.delay, on commit (not run here)
    score = submission_score(submission_id=sub.pk)
    assert score.composite == pytest.approx(EXPECTED_COMPOSITE)
    assert score.level == EXPECTED_LEVEL
    assert score.dimension_scores == pytest.approx({"D1": 67.5, "D2": 45.0})
    assert score.scoring_code_version == "1" and score.framework == period.framework
    again = submission_score(submission_id=sub.pk)
    assert (again.composite, again.level, again.indicator_scores) == (score.composite, score.level, score.indicator_scores)
    assert sub.events.filter(action=EventAction.SCORED).count() == 1


def test_bulk_accept_skips_flagged_filings(filer, period):
    officer = authority_user(prefecture(NANJING))
    clean = fill(start(filer, period), filer)
    services.submission_submit(submission=clean, user=filer, pledge=True)
    other = enterprise_user(EnterpriseFactory(region=county(XUANWU)))
    flagged = services.submission_start(enterprise=other.enterprise, period=period, user=other)
    flagged, _ = services.submission_save_answers(submission=flagged, user=other, revision=0, answers={**COMPLETE, "R1": "5"})
    flagged = services.submission_submit(submission=flagged, user=other, pledge=True).submission
    assert [f["kind"] for f in flagged.flags] == ["rubric_high_without_evidence"]
    accepted, skipped = services.submission_bulk_accept(submission_ids=[clean.pk, flagged.pk], user=officer)
    assert (accepted, skipped) == (1, 1)
    clean.refresh_from_db()
    flagged.refresh_from_db()
    assert clean.status == SubmissionStatus.ACCEPTED and flagged.status == SubmissionStatus.SUBMITTED


def test_kpi_outlier_is_flagged_against_accepted_peers(period):
    officer = authority_user(prefecture(NANJING))
    values = [93, 94, 95, 95, 96, 96, 97, 97, 98, 94, 95]
    for v in values:
        u = enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39")))
        s = services.submission_start(enterprise=u.enterprise, period=period, user=u)
        s, _ = services.submission_save_answers(submission=s, user=u, revision=0, answers={**COMPLETE, "K1": str(v)})
        services.submission_submit(submission=s, user=u, pledge=True)
        services.submission_accept(submission=s, user=officer)
    odd = enterprise_user(EnterpriseFactory(region=county(XUANWU), industry=industry("39")))
    s = services.submission_start(enterprise=odd.enterprise, period=period, user=odd)
    s, _ = services.submission_save_answers(submission=s, user=odd, revision=0, answers={**COMPLETE, "K1": "20"})
    s = services.submission_submit(submission=s, user=odd, pledge=True).submission
    assert [f["indicator"] for f in s.flags if f["kind"] == "kpi_outlier"] == ["K1"]
    # a batch (paper import) reads the peers once through a cache: same flags
    cache = {}
    assert services.submission_flags(submission=s, peer_cache=cache) == s.flags
    assert list(cache) == [(period.pk, "39")]


# --- evidence -----------------------------------------------------------------------------------


def _docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("证书.pdf", PDF, "application/pdf"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 40, "image/jpeg"),
        ("报告.docx", _docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("scan", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"),  # no extension: bytes decide
    ],
)
def test_evidence_types_are_decided_by_bytes(filer, period, name, content, expected):
    sub = start(filer, period)
    ev = services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile(name, content))
    assert ev.content_type == expected
    assert ev.size == len(content) and len(ev.sha256) == 64
    assert "evidence/" in ev.file.name and name not in ev.file.name  # stored under a neutral name


@pytest.mark.parametrize(
    "name, content",
    [
        ("安装包.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 60),  # a Windows executable renamed .pdf
        ("run.docx", b"\x7fELF\x02\x01\x01" + b"\0" * 60),
        ("archive.xlsx", b"PK\x03\x04" + b"\0" * 60),  # a zip that is not an Office document
        ("page.pdf", b"<html><script>alert(1)</script></html>"),
    ],
)
def test_renamed_executables_and_other_files_are_refused(filer, period, name, content):
    sub = start(filer, period)
    with pytest.raises(ValidationError, match="不是允许的类型"):
        services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile(name, content))
    assert not sub.evidence.exists()


def test_evidence_size_limit(filer, period, settings):
    settings.EVIDENCE_MAX_BYTES = 100
    sub = start(filer, period)
    with pytest.raises(ValidationError, match="文件过大"):
        services.evidence_add(submission=sub, user=filer, indicator=None,
                              uploaded_file=SimpleUploadedFile("big.pdf", PDF + b"0" * 200))


def test_evidence_is_served_only_to_those_allowed(client, filer, period):
    sub = start(filer, period)
    ev = services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile("证书.pdf", PDF))
    url = reverse("filings:evidence", args=[ev.pk])
    client.force_login(filer)
    resp = client.get(url)
    assert resp.status_code == 200 and b"".join(resp.streaming_content) == PDF
    assert resp["X-Content-Type-Options"] == "nosniff"
    client.force_login(authority_user(prefecture(NANJING)))
    assert client.get(url).status_code == 200
    client.force_login(authority_user(prefecture(SUZHOU)))
    assert client.get(url).status_code == 404
    client.force_login(enterprise_user(EnterpriseFactory(region=county(XUANWU))))
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
    assert not str(ev.file.path).startswith(str(__import__("django.conf").conf.settings.STATIC_ROOT))


def test_evidence_can_be_removed_from_a_draft_only(client, filer, period, django_capture_on_commit_callbacks):
    sub = start(filer, period)
    ev = services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile("a.pdf", PDF))
    path = ev.file.path
    other = enterprise_user(EnterpriseFactory(region=county(XUANWU)))
    client.force_login(other)
    assert client.post(reverse("filings:evidence-delete", args=[sub.pk, ev.pk])).status_code == 404
    client.force_login(filer)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(reverse("filings:evidence-delete", args=[sub.pk, ev.pk]))
    assert resp.status_code == 302 and not sub.evidence.exists()
    import os

    assert not os.path.exists(path)  # the stored file goes once the row is gone
    ev = services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile("b.pdf", PDF))
    fill(sub, filer)
    services.submission_submit(submission=sub, user=filer, pledge=True)
    with pytest.raises(ValidationError, match="不能再删除材料"):
        services.evidence_remove(evidence=ev, user=filer)


def test_filing_cannot_start_outside_the_period_or_on_an_unpublished_framework(client, filer, period):
    import datetime

    from apps.filings.models import Period
    from apps.frameworks.models import FrameworkStatus

    closed = Period.objects.create(code="2020", name="2020年度", framework=period.framework,
                                   opens_on=datetime.date(2020, 1, 1), closes_on=datetime.date(2020, 12, 31))
    with pytest.raises(ValidationError, match="不在填报时间内"):
        services.submission_start(enterprise=filer.enterprise, period=closed, user=filer)
    client.force_login(filer)
    resp = client.post(reverse("filings:start", args=["2020"]), follow=True)
    assert "不在填报时间内" in resp.text and not Submission.objects.exists()
    period.framework.status = FrameworkStatus.DRAFT
    period.framework.save()
    with pytest.raises(ValidationError, match="尚未发布"):
        services.submission_start(enterprise=filer.enterprise, period=period, user=filer)


def test_a_worker_process_compiles_the_frameworks_in_use_when_it_starts(period):
    """portal.celery connects warm_compiled_frameworks to worker_process_init: the
    published framework of a period is compiled into the process's cache before any index
    run chunk asks for it, and asking again returns that same compiled form."""
    from apps.filings import packing

    packing._compiled_published.cache_clear()
    assert packing.warm_compiled_frameworks() == 1
    assert packing._compiled_published.cache_info().currsize == 1
    warmed = packing._compiled_published(period.framework.pk, period.framework.published_at)
    assert packing.compiled_for(period.framework) is warmed
    assert packing._compiled_published.cache_info().misses == 1  # compiled once, at the warm-up


@pytest.mark.skipif(connection.vendor != "postgresql", reason="renames a table inside the test's transaction")
def test_a_worker_starting_before_the_database_is_migrated_warms_nothing(period):
    """A worker may start before `migrate` has created the tables (a first deployment): the
    warm-up then compiles nothing and the process starts."""
    from apps.filings import packing

    packing._compiled_published.cache_clear()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {Period._meta.db_table} RENAME TO not_migrated_yet")
        with transaction.atomic():
            assert packing.warm_compiled_frameworks() == 0
            transaction.set_rollback(True)  # the failed query aborted this savepoint
        transaction.set_rollback(True)
    assert packing._compiled_published.cache_info().currsize == 0
    assert packing.warm_compiled_frameworks() == 1  # the table is back


def test_the_celery_app_warms_each_worker_process():
    from celery.signals import worker_process_init

    from portal import celery

    assert celery._warm_worker_process in [ref() for _, ref in worker_process_init.receivers]
