"""Hand-made published runs for policy tests: each cell's values are written by the test,
so every expected progress figure can be worked out by hand."""

import datetime

from apps.filings.models import Period
from apps.indices.models import IndexCell, IndexRun, RunStatus
from apps.indices.services import index_run_publish
from apps.policies.models import Instrument, Measure, Policy, PolicyLevel
from tests.factories import industry, key_industry, prefecture, province
from tests.filings.builders import published_framework


def periods(years=(2024, 2025, 2026)) -> dict[int, Period]:
    framework = published_framework()
    return {
        y: Period.objects.get_or_create(
            code=str(y), defaults=dict(name=f"{y}年度", framework=framework, opens_on=datetime.date(y, 1, 1),
                                       closes_on=datetime.date(y, 12, 31)))[0]
        for y in years
    }


def publish_cells(period: Period, cells: list[dict]) -> IndexRun:
    """A succeeded run of ``period`` with exactly these cells, published."""
    run = IndexRun.objects.create(period=period, framework=period.framework, code_version="test",
                                  status=RunStatus.SUCCEEDED, parameters={"min_cell_size": 5})
    IndexCell.objects.bulk_create([
        IndexCell(run=run, **{"parent_code": "CN", "registered": c.get("n", 0) * 2, **c}) for c in cells
    ])
    return index_run_publish(run=run, user=None)


def reference():
    """The regions, division and key industry the targets name."""
    province()
    prefecture(("320100", "南京市"))
    prefecture(("320500", "苏州市"))
    industry("39")
    key_industry("biomedicine", "生物医药")


def policy(title="推进制造业质量管理数字化", *, level=PolicyLevel.NATIONAL, region=None, is_public=True, doc="工信厅科〔2021〕59号",
           body="工业和信息化部办公厅", **kw) -> Policy:
    return Policy.objects.create(title=title, doc_number=doc, issuing_body=body, level=level, region=region,
                                 issued_on=kw.pop("issued_on", datetime.date(2024, 3, 1)),
                                 instrument=kw.pop("instrument", Instrument.SERVICE), is_public=is_public, **kw)


def measure(pol: Policy, title="质量数字化诊断服务") -> Measure:
    return Measure.objects.create(policy=pol, title=title)
