"""A small population with accepted filings in two periods, for index-run tests.

Filings are written directly with packed answers (what the index engine reads), the way
seed_demo does, rather than through the filing pages.
"""

import datetime

import numpy as np

from apps.filings.models import Period, Submission, SubmissionStatus
from apps.filings.packing import compiled_for
from apps.filings.synthetic import synthetic_answers
from apps.frameworks import scoring
from tests.factories import EnterpriseFactory, county, industry
from tests.filings.builders import published_framework

COUNTIES = [
    (("320102", "玄武区"), ("320100", "南京市")),
    (("320104", "秦淮区"), ("320100", "南京市")),
    (("320508", "姑苏区"), ("320500", "苏州市")),
    (("330106", "西湖区"), ("330100", "杭州市")),
    (("330108", "滨江区"), ("330100", "杭州市")),
]


def build(n: int = 60, seed: int = 3, periods=("2025", "2026"), small_county: bool = False, framework=None):
    """``n`` enterprises over five counties; with ``small_county`` three more in 建邺区,
    a county too small to publish. ``framework``: a published framework (default: the test
    framework of tests.filings.builders)."""
    framework = framework or published_framework()
    rng = np.random.default_rng(seed)
    regions = [county(c, p) for c, p in COUNTIES]
    divisions = [industry("39"), industry("36", "汽车制造业")]
    enterprises = [
        EnterpriseFactory(region=regions[i % len(regions)], industry=divisions[(i // 2) % 2], name=f"指数测试企业{i:03d}")
        for i in range(n)
    ]
    if small_county:
        jianye = county(("320105", "建邺区"), ("320100", "南京市"))
        enterprises = [EnterpriseFactory(region=jianye, industry=divisions[0], name=f"建邺企业{i}") for i in (1, 2, 3)] + enterprises
    compiled = compiled_for(framework)
    made = []
    for p, code in enumerate(periods):
        year = int(code)
        period = Period.objects.create(code=code, name=f"{code}年度", framework=framework,
                                       opens_on=datetime.date(year, 1, 1), closes_on=datetime.date(year, 12, 31))
        # one enterprise in ten skips a period, so the sample changes between periods
        present = [e for i, e in enumerate(enterprises) if (i + p) % 10 != 0]
        A = synthetic_answers(compiled, rng.uniform(0.5, 4.5, len(present)) + 0.3 * p, rng)
        A[:, compiled.module_index >= 0] = np.nan
        for e, row in zip(present, A, strict=True):
            Submission.objects.create(
                enterprise=e, period=period, framework=framework, status=SubmissionStatus.ACCEPTED,
                province_code=e.province_code, prefecture_code=e.prefecture_code, county_code=e.county_code,
                division_code=e.division_code, industry_code=e.industry_id, size_class=e.size_class,
                answer_vector=scoring.pack_answers(row),
            )
        made.append(period)
    return made
