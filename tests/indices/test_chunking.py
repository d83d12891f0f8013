"""Chunks of an index run at scale (issue 13): a province holding most filings is split by
prefecture and county so that chunks stay even, with the same cells as an unsplit run; and
the fan-out over 1, 2 and 4 real Celery worker processes gives the same cells."""

import datetime
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from apps.filings.models import Period, Submission, SubmissionStatus
from apps.filings.packing import compiled_for, submission_score
from apps.frameworks import scoring
from apps.indices import pipeline
from apps.indices.models import IndexCell, IndexRun, RunChunk, RunScore, RunStatus
from apps.indices.services import index_run_start
from apps.indices.tasks import start_index_run
from tests.factories import EnterpriseFactory, county, industry, key_industry
from tests.filings.builders import published_framework

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]
CELL_FIELDS = [f.name for f in IndexCell._meta.concrete_fields if f.name not in ("id", "run")]

# 江苏 holds 85 % of the filings, over three prefectures and five counties; 浙江 the rest.
SKEWED = [
    ((("320102", "玄武区"), ("320100", "南京市")), 30),
    ((("320104", "秦淮区"), ("320100", "南京市")), 25),
    ((("320508", "姑苏区"), ("320500", "苏州市")), 20),
    ((("320505", "虎丘区"), ("320500", "苏州市")), 10),
    ((("320205", "锡山区"), ("320200", "无锡市")), 17),
    ((("330106", "西湖区"), ("330100", "杭州市")), 10),
    ((("330108", "滨江区"), ("330100", "杭州市")), 8),
]


def skewed_population(seed: int = 5) -> Period:
    """120 enterprises filing in one period, most of them in one province; a third in
    division 27 (the framework's module applies to them), some tagged with a key industry."""
    framework = published_framework()
    compiled = compiled_for(framework)
    rng = np.random.default_rng(seed)
    divisions = [industry("39"), industry("36", "汽车制造业"), industry("27", "医药制造业")]
    electronics = key_industry()
    enterprises = []
    for (code_name, prefecture), n in SKEWED:
        region = county(code_name, prefecture)
        for _ in range(n):
            i = len(enterprises)
            e = EnterpriseFactory(region=region, industry=divisions[i % 3], name=f"分块测试企业{i:03d}")
            if i % 4 == 0:
                e.key_industries.add(electronics)
            enterprises.append(e)
    period = Period.objects.create(code="2026", name="2026年度", framework=framework,
                                   opens_on=datetime.date(2026, 1, 1), closes_on=datetime.date(2026, 12, 31))
    A = synthetic_answers(compiled, rng, len(enterprises))
    membership = scoring.module_membership(compiled, [e.industry_id for e in enterprises])
    A[~membership[:, np.maximum(compiled.module_index, 0)] & (compiled.module_index >= 0)] = np.nan
    for e, row in zip(enterprises, A, strict=True):
        Submission.objects.create(
            enterprise=e, period=period, framework=framework, status=SubmissionStatus.ACCEPTED,
            province_code=e.province_code, prefecture_code=e.prefecture_code, county_code=e.county_code,
            division_code=e.division_code, size_class=e.size_class, answer_vector=scoring.pack_answers(row),
        )
    return period


def synthetic_answers(compiled, rng, n):
    from apps.filings.synthetic import synthetic_answers as make

    return make(compiled, rng.uniform(0.5, 4.5, n), rng)


def cells_of(run):
    return {(c["kind"], c["code"]): c for c in IndexCell.objects.filter(run=run).values(*CELL_FIELDS)}


def inline_run(period, chunks, settings):
    settings.INDEX_RUN_CHUNKS = chunks
    run = index_run_start(period=period, user=None, enqueue=False)
    return pipeline.run_inline(run_id=run.pk)


def test_plan_splits_a_province_holding_more_than_its_share():
    # 广东: 8 prefectures × 3 counties × 1,000 filings
    counts = [("440000", f"44{p:02d}00", f"44{p:02d}0{c}", 1000) for p in range(1, 9) for c in range(1, 4)]
    counts += [("320000", "320100", "320102", 3000), ("330000", "330100", "330106", 1000)]
    total = sum(n for *_, n in counts)  # 广东 24,000 of 28,000
    chunks = pipeline.plan_chunks(counts, 8)
    assert len(chunks) == 8 and sum(n for _, n in chunks) == total
    assert max(n for _, n in chunks) <= total / 8 + 3000  # at most one piece over the even share
    assert not any("440000" in codes for codes, _ in chunks)  # 广东 went out in prefectures
    pieces = [code for codes, _ in chunks for code in codes]
    assert "440000/440100" in pieces and len(pieces) == len(set(pieces)) == 10
    # unsplit: one chunk holds everything; with a province under 1/k nothing is split
    assert pipeline.plan_chunks(counts, 1) == [(["440000", "320000", "330000"], total)]


def test_plan_goes_down_to_counties_when_a_prefecture_is_too_large():
    counts = [("440000", "440300", "440303", 500), ("440000", "440300", "440304", 400),
              ("440000", "440300", "440305", 300), ("440000", "440100", "440103", 100), ("320000", "320100", "320102", 100)]
    chunks = pipeline.plan_chunks(counts, 4)
    pieces = {code for codes, _ in chunks for code in codes}
    assert {"440000/440300/440303", "440000/440300/440304", "440000/440300/440305", "440000/440100", "320000"} == pieces
    assert max(n for _, n in chunks) == 500  # the largest county: it cannot be split further


def test_skewed_population_chunks_are_bounded_and_cells_equal_an_unsplit_run(settings):
    period = skewed_population()
    unsplit = inline_run(period, 1, settings)
    assert unsplit.status == RunStatus.SUCCEEDED and unsplit.chunks_total == 1
    split = inline_run(period, 4, settings)
    assert split.status == RunStatus.SUCCEEDED
    sizes = sorted(RunChunk.objects.filter(run=split).values_list("expected_rows", flat=True))
    total = Submission.objects.filter(period=period, status=SubmissionStatus.ACCEPTED).count()
    assert sum(sizes) == total == 120 and len(sizes) == 4
    # 江苏 alone is 102 of 120 filings; split, no chunk holds more than its share plus one county
    assert max(sizes) <= total / 4 + 30, sizes
    codes = [c for cs in RunChunk.objects.filter(run=split).values_list("province_codes", flat=True) for c in cs]
    assert "320000" not in codes and "330000" in codes
    assert set(RunScore.objects.filter(run=split).values_list("chunk", flat=True)) == {0, 1, 2, 3}
    assert cells_of(split) == cells_of(unsplit)
    # module membership read column-wise agrees with scoring one filing at a time
    by_enterprise = dict(RunScore.objects.filter(run=split).values_list("enterprise_id", "composite"))
    for sub in Submission.objects.filter(period=period, enterprise__industry_id="27")[:8]:
        assert submission_score(submission_id=sub.pk).composite == pytest.approx(by_enterprise[sub.enterprise_id], abs=1e-4)
    key_cell = cells_of(split)[("key_industry", "electronics")]
    assert key_cell["n"] == 30 and key_cell["registered"] == 30


# --- fan-out over real worker processes -------------------------------------------------------------


def _start_workers(base, processes: int, queue: str, log_path):
    """A prefork worker with ``processes`` child processes on its own queue (its env routes
    the tasks it sends — chunks, join — to that queue too)."""
    env = {**base.env, "CELERY_QUEUE": queue}
    command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=prefork",
               f"--concurrency={processes}", "-O", "fair", "--loglevel=INFO", "-Q", queue,
               "--hostname", f"fanout-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]
    log = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while b" ready." not in log_path.read_bytes():
        assert process.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
        time.sleep(0.2)
    return process, log


@pytest.mark.worker
@pytest.mark.parametrize("processes", [1, 2, 4])
def test_fan_out_over_worker_processes_gives_the_same_cells(celery_worker, settings, processes, tmp_path):
    period = skewed_population()
    reference = cells_of(inline_run(period, 8, settings))
    queue = f"fanout-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    process, log = _start_workers(celery_worker, processes, queue, log_path)
    try:
        # each chunk waits a second, so that idle processes take the next chunk meanwhile
        run = index_run_start(period=period, user=None, enqueue=False, parameters={"drill_chunk_delay_seconds": 1})
        start_index_run.apply_async(args=[run.pk], queue=queue)
        deadline = time.monotonic() + 180
        while run.status not in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
            run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error_log + log_path.read_text(errors="replace")
        assert run.chunks_total >= 4 and run.chunks_done == run.chunks_total
        assert cells_of(run) == reference
        # which pool processes scored chunks (celery logs the process name with each task)
        text = log_path.read_text(errors="replace")
        takers = set(re.findall(r"/(ForkPoolWorker-\d+)\] Task [\w.]*score_run_chunk\[", text))
        assert len(takers) == processes, text
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert IndexRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).exists()
