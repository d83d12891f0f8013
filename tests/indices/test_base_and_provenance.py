"""A fixed base period (issue 8, finding 5) and the provenance of a run (finding 7)."""

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.models import Role
from apps.indices.models import IndexBase, IndexCell
from apps.indices.services import current_base, index_base_choose, index_run_publish
from tests.factories import UserFactory
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run

pytestmark = pytest.mark.django_db


def nation(run):
    return IndexCell.objects.get(run=run, kind="nation")


def test_the_base_is_fixed_once_and_rerunning_an_earlier_period_keeps_it():
    p2025, p2026 = build()
    staff = UserFactory(role=Role.MINISTRY)
    r2025 = index_run_publish(run=inline_run(p2025), user=staff)
    base = current_base()
    assert base.period == p2025 and base.chosen_by == staff  # recorded at the first publication
    assert nation(r2025).dev_index == 100.0  # exactly, not 99.99999999999999
    r2026 = index_run_publish(run=inline_run(p2026), user=staff)
    assert nation(r2026).dev_index == pytest.approx(100 * nation(r2026).mean / nation(r2025).mean)
    assert r2026.base_run == r2025
    # the finding: re-running 2025 after 2026 was published rebased 2025 on 2026 (89.26)
    again = inline_run(p2025)
    assert nation(again).dev_index == 100.0
    assert again.base_run is None and again.provenance["base_period"] == "2025"
    for before, after in zip(IndexCell.objects.filter(run=r2025).order_by("kind", "code"),
                             IndexCell.objects.filter(run=again).order_by("kind", "code"), strict=True):
        assert (before.kind, before.code, before.dev_index) == (after.kind, after.code, after.dev_index)


def test_staff_choose_another_base_and_runs_of_the_old_base_must_be_recomputed():
    p2025, p2026 = build()
    staff = UserFactory(role=Role.MINISTRY)
    index_run_publish(run=inline_run(p2025), user=staff)
    computed_on_2025 = inline_run(p2026)
    with pytest.raises(ValidationError, match="已发布"):
        index_base_choose(period=p2026, user=staff)  # no published run of 2026 yet
    index_run_publish(run=computed_on_2025, user=staff)
    index_base_choose(period=p2026, user=staff, note="新框架启用")
    assert current_base().period == p2026 and IndexBase.objects.count() == 2  # the old choice stays recorded
    rerun = inline_run(p2026)
    assert nation(rerun).dev_index == 100.0
    stale_base = inline_run(p2025)
    assert stale_base.provenance["base_period"] == "2026"
    assert nation(stale_base).dev_index == pytest.approx(100 * nation(stale_base).mean / nation(computed_on_2025).mean)
    # a run computed against a base that is no longer current is not published
    old = inline_run(p2025)
    IndexBase.objects.filter(active=True).update(active=False)
    IndexBase.objects.create(period=p2025, chosen_by=staff)
    with pytest.raises(ValidationError, match="基期"):
        index_run_publish(run=old, user=staff)


def test_a_run_records_what_produced_it_and_the_admin_shows_it(client):
    p2025, p2026 = build(n=20)
    r2025 = index_run_publish(run=inline_run(p2025), user=None)
    run = inline_run(p2026)
    prov = run.provenance
    assert len(run.code_version) == 40 and all(c in "0123456789abcdef" for c in run.code_version)  # git commit
    assert prov["code_version"] == run.code_version
    assert prov["libraries"]["numpy"] == np.__version__ and prov["libraries"]["pandas"] and prov["libraries"]["scipy"]
    assert prov["framework"] == f"{run.framework.code} {run.framework.version}"
    assert prov["register"]["enterprises"] == 20 and len(prov["register"]["sha256"]) == 16
    assert run.previous_run == r2025 and run.base_run == r2025 and prov["base_period"] == "2025"
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    html = client.get(reverse("admin:indices_indexrun_change", args=[run.pk])).content.decode()
    assert run.code_version in html and np.__version__ in html and r2025.label in html  # named in plain words


def test_outside_git_the_release_tag_is_recorded(settings, tmp_path):
    from apps.indices import services

    services.code_version.cache_clear()
    settings.BASE_DIR, settings.PORTAL_CODE_VERSION = tmp_path, "v2026.11"
    try:
        assert services.code_version() == "v2026.11"
    finally:
        services.code_version.cache_clear()


def test_the_protection_audit_is_recorded_on_the_run():
    _, p2026 = build(small_county=True)
    run = inline_run(p2026)
    protection = run.audit["protection"]
    assert protection["p"] == 0.10 and protection["checked"] >= 1  # 建邺区 (3 filings) at least
    assert protection["checked"] + protection["not_checked"] == IndexCell.objects.filter(
        run=run, suppression_reason__in=["small_n", "dominance", "stability"], n__gt=0).count()
    assert isinstance(protection["unprotected"], list)
