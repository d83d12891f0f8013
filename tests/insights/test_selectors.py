"""Who sees which values of a published run (apps.indices.readers)."""

import pytest

from apps.accounts.models import Role
from apps.indices.readers import PUBLIC, Reader, cells_for, published_run
from apps.indices.services import index_run_publish
from tests.factories import UserFactory, authority_user, prefecture, province
from tests.indices.population import build
from tests.indices.test_index_runs import inline_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    _, p2026 = build(small_county=True)
    return index_run_publish(run=inline_run(p2026), user=None)


def test_only_published_runs_are_read(run):
    assert published_run(run.period) == run


def test_public_never_gets_a_suppressed_value(run):
    counties = cells_for(PUBLIC, run, "county")
    hidden = [c for c in counties if c["hidden"]]
    assert hidden, "the test population should have small counties"
    for c in hidden:
        assert c["mean"] is None and c["n"] is None and c["median"] is None and c["reason_label"]
    shown = [c for c in counties if not c["suppressed"]]
    assert all(c["mean"] is not None for c in shown if c["n"])


def test_authority_sees_its_own_suppressed_cells_but_not_others(run):
    nanjing = Reader.of(authority_user(prefecture(("320100", "南京市"))))
    counties = {c["code"]: c for c in cells_for(nanjing, run, "county")}
    from apps.indices.models import IndexCell

    for code, cell in counties.items():
        raw = IndexCell.objects.get(run=run, kind="county", code=code)
        if code.startswith("3201"):
            assert cell["mean"] == raw.mean and cell["confidential"] == raw.suppressed
        elif raw.suppressed:
            assert cell["mean"] is None and cell["hidden"]


def test_province_authority_does_not_see_industry_only_cells_unsuppressed(run):
    jiangsu = Reader.of(authority_user(province()))
    ministry = Reader.of(UserFactory(role=Role.MINISTRY))
    from apps.indices.models import IndexCell

    for cell in IndexCell.objects.filter(run=run, kind="division", suppressed=True):
        assert cells_for(jiangsu, run, "division", codes=(cell.code,))[0]["mean"] is None
        assert cells_for(ministry, run, "division", codes=(cell.code,))[0]["mean"] == cell.mean


def test_enterprise_user_reads_like_the_public(run):
    from tests.factories import enterprise_user

    reader = Reader.of(enterprise_user())
    assert reader == PUBLIC or not reader.everything
    assert [c["mean"] for c in cells_for(reader, run, "county")] == [c["mean"] for c in cells_for(PUBLIC, run, "county")]
