"""Policy records: 文号 unique per issuer, supersession chain both ways, change history."""

import datetime
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.policies.models import PolicyStatus, TargetProgress
from apps.policies.services import policy_supersede, target_create
from tests.factories import UserFactory
from tests.policies.builders import measure, periods, policy, publish_cells, reference

pytestmark = pytest.mark.django_db


def test_doc_number_is_unique_per_issuing_body():
    policy(doc="苏工信〔2024〕12号", body="江苏省工业和信息化厅")
    policy(doc="苏工信〔2024〕12号", body="浙江省经济和信息化厅")  # another issuer may use the same number
    with pytest.raises(IntegrityError), transaction.atomic():
        policy(doc="苏工信〔2024〕12号", body="江苏省工业和信息化厅")
    policy(doc="", body="江苏省工业和信息化厅")
    policy(doc="", body="江苏省工业和信息化厅")  # no number: no constraint


def test_supersession_chain_is_navigable_both_ways():
    staff = UserFactory()
    a = policy("2022 版", doc="A-1", issued_on=datetime.date(2022, 1, 1))
    b = policy("2024 版", doc="A-2", issued_on=datetime.date(2024, 1, 1))
    c = policy("2026 版", doc="A-3", issued_on=datetime.date(2026, 1, 1))
    policy_supersede(old=a, new=b, user=staff)
    policy_supersede(old=b, new=c, user=staff)
    for p in (a, b, c):
        p.refresh_from_db()
        assert [x.doc_number for x in p.supersession_chain()] == ["A-1", "A-2", "A-3"]
    assert a.status == PolicyStatus.SUPERSEDED and a.superseded_by == b and list(b.supersedes.all()) == [a]
    assert c.status == PolicyStatus.IN_FORCE
    with pytest.raises(ValidationError, match="循环"):
        policy_supersede(old=c, new=a, user=staff)
    # who did it, and when, is in the history
    last = a.history.first()
    assert last.history_user == staff and last.status == PolicyStatus.SUPERSEDED


def test_every_change_of_a_target_is_kept_in_history():
    reference()
    ps = periods((2025,))
    t = target_create(measure=measure(policy()), metric="mean", cell_kind="nation", cell_code="CN",
                      baseline_period=ps[2025], target_year=2027, value=60)
    t.value = 62
    t.save()
    assert [h.value for h in t.history.order_by("history_date")] == [60, 62]


@pytest.mark.worker
def test_publishing_a_run_recomputes_progress_on_a_real_worker(celery_worker):
    reference()
    ps = periods((2025, 2026))
    publish_cells(ps[2025], [dict(kind="nation", code="CN", parent_code="", n=100, mean=50.0)])
    t = target_create(measure=measure(policy()), metric="mean", cell_kind="nation", cell_code="CN",
                      baseline_period=ps[2025], target_year=2027, value=60)
    publish_cells(ps[2026], [dict(kind="nation", code="CN", parent_code="", n=100, mean=56.0)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = dict(TargetProgress.objects.filter(target=t, view="full").values_list("period_year", "actual"))
        if found.get(2026.0) == 56.0:
            break
        time.sleep(0.3)
    assert found == {2025.0: 50.0, 2026.0: 56.0}
    latest = TargetProgress.objects.get(target=t, view="full", period_year=2026.0)
    assert latest.expected == pytest.approx(55.0) and latest.status == "on_track"


def test_demo_policies_show_on_and_off_track_targets_and_load_once():
    from django.core.management import call_command

    from apps.policies.models import Policy, ProgressStatus, SupportRecord
    from apps.policies.selectors import dashboard_tracks

    call_command("load_reference", verbosity=0)
    call_command("load_framework", "fixtures/frameworks/qmd-2026.1.json", "--publish")
    call_command("load_demo", "--enterprises", "120")
    assert Policy.objects.filter(level="national").count() == 1
    assert Policy.objects.filter(level="provincial", status="in_force").count() == 2
    assert SupportRecord.objects.exists()
    ministry = UserFactory()
    statuses = {t.status for t in dashboard_tracks(ministry)}
    assert ProgressStatus.OFF_TRACK in statuses and statuses & {ProgressStatus.ON_TRACK, ProgressStatus.ACHIEVED}
    from apps.accounts.models import User

    jiangsu = {t.target.cell_code for t in dashboard_tracks(User.objects.get(username="jiangsu"))}
    assert jiangsu and all(code.startswith("32") for code in jiangsu)
    counts = Policy.objects.count(), SupportRecord.objects.count()
    call_command("load_demo", "--enterprises", "120")
    assert (Policy.objects.count(), SupportRecord.objects.count()) == counts


def test_attachment_is_checked_by_its_bytes():
    from django.core.files.uploadedfile import SimpleUploadedFile

    p = policy()
    p.attachment = SimpleUploadedFile("方案.pdf", b"MZ\x90\x00 an executable renamed")
    with pytest.raises(ValidationError) as info:
        p.full_clean()
    assert "attachment" in info.value.message_dict
    p.attachment = SimpleUploadedFile("方案.pdf", b"%PDF-1.7\n...")
    p.full_clean()


def test_policy_history_page_shows_who_changed_what(client):
    from django.urls import reverse

    from apps.accounts.models import Role
    from tests.factories import authority_user, prefecture

    reference()
    ps = periods((2025,))
    staff = UserFactory(role=Role.MINISTRY, first_name="李四")
    p = policy()
    t = target_create(measure=measure(p), metric="mean", cell_kind="nation", cell_code="CN",
                      baseline_period=ps[2025], target_year=2027, value=60)
    t.value, t._history_user = 65, staff
    t.save()
    client.force_login(staff)
    page = client.get(reverse("policies:history", args=[p.pk])).content.decode()
    assert "李四" in page and "目标值" in page
    assert "60.0 → 65" in page or "60 → 65" in page
    client.logout()
    assert client.get(reverse("policies:history", args=[p.pk])).status_code == 302
    client.force_login(UserFactory(role=Role.EXPERT))
    assert client.get(reverse("policies:history", args=[p.pk])).status_code == 403
    client.force_login(authority_user(prefecture(("320100", "南京市"))))
    assert client.get(reverse("policies:history", args=[p.pk])).status_code == 200  # a public policy
