"""Tests of the test infrastructure itself (tests/conftest.py), the vendored files and the
worker/broker/database wiring."""

import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from apps.core.tasks import record_heartbeat

VENDOR_DIR = Path(settings.BASE_DIR) / "portal" / "static" / "vendor"


def _vendored():
    """(spec, relative path, sha256) for every line of VERSIONS.txt."""
    rows = []
    for line in (VENDOR_DIR / "VERSIONS.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            spec, rel, digest = line.split()
            rows.append((spec, rel, digest))
    return rows


def test_versions_file_lists_the_pinned_packages():
    specs = {spec for spec, _, _ in _vendored()}
    assert specs == {"echarts@6.1.0", "htmx.org@2.0.11", "axe-core@4.14.1"}
    paths = {rel for _, rel, _ in _vendored()}
    assert {"echarts/echarts.min.js", "htmx/htmx.min.js", "echarts/LICENSE", "htmx/LICENSE",
            "axe-core/axe.min.js", "axe-core/LICENSE"} <= paths


@pytest.mark.parametrize(("spec", "rel", "digest"), _vendored(), ids=[rel for _, rel, _ in _vendored()])
def test_vendored_file_matches_recorded_sha256(spec, rel, digest):
    path = VENDOR_DIR / rel
    assert path.is_file(), f"{rel} ({spec}) is missing: run scripts/vendor_static.sh"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{rel} differs from {spec}"


def test_test_process_uses_its_own_var_dir():
    """Media and the filesystem broker of the tests must not be the developer's var/."""
    var_dir = Path(settings.VAR_DIR)
    assert Path(settings.MEDIA_ROOT).is_relative_to(var_dir)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for key, folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items():
            if "folder" in key:
                assert Path(folder).is_relative_to(var_dir), key
    own_tmp = os.environ.get("PORTAL_TESTS_TMP_VAR_DIR")  # unset when the caller chose PORTAL_VAR_DIR
    if own_tmp:
        assert var_dir.is_relative_to(own_tmp)


@pytest.mark.worker
def test_heartbeat_task_runs_in_a_real_worker(celery_worker):
    token = uuid.uuid4().hex
    record_heartbeat.delay(token)
    deadline = time.monotonic() + 30
    while not Group.objects.filter(name=f"heartbeat-{token}").exists():
        assert time.monotonic() < deadline, f"no heartbeat row after 30 s; worker log:\n{celery_worker.log()}"
        time.sleep(0.2)
    assert "Task apps.core.tasks.record_heartbeat[" in celery_worker.log(since=celery_worker.test_started_at)


@pytest.mark.worker
def test_a_task_sent_by_a_test_without_the_worker_is_parked_not_run(celery_worker, parked_queue):
    """A test that did not ask for the worker must not have its task run by the session's worker
    (which would write while the test's database is being truncated: tests/conftest.py). The
    worker is running here; the parked test body runs as a nested test of the same fixture."""
    from apps.core.workbenches import queue_length
    from portal.celery import app

    assert app.conf.task_default_queue == celery_worker.queue  # this test asked: tasks go to it
    parked = parked_queue
    before = queue_length(parked)
    app.conf.task_default_queue = parked  # what the autouse fixture does for a test without it
    try:
        token = uuid.uuid4().hex
        record_heartbeat.delay(token)
    finally:
        app.conf.task_default_queue = celery_worker.queue
    assert queue_length(parked) == before + 1
    time.sleep(1.0)  # the worker had time to take it, were it on its queue
    assert not Group.objects.filter(name=f"heartbeat-{token}").exists()


def test_a_test_without_the_worker_sends_to_the_parked_queue(parked_queue):
    from portal.celery import app

    assert parked_queue != settings.CELERY_TASK_DEFAULT_QUEUE
    assert app.conf.task_default_queue == parked_queue


@pytest.mark.browser
def test_chinese_text_renders_with_noto_cjk_sc(page, screenshot, platform_fonts):
    page.set_content(
        """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
        <body style="font: 24px sans-serif; padding: 24px">
        <h1 id="title">制造业质量管理数字化监测平台</h1>
        <p id="text">区域质量数字化水平指数：企业自评、专家评审与数据看板。</p>
        </body></html>"""
    )
    page.evaluate("document.fonts.ready")
    # document.fonts.check('16px "Noto Sans CJK SC"') is true even for fonts that are not
    # installed, so ask chromium which platform font actually drew the glyphs.
    assert platform_fonts(page, "#title") == ["Noto Sans CJK SC"]
    assert platform_fonts(page, "#text") == ["Noto Sans CJK SC"]
    path = screenshot(page, "infrastructure-cjk-fonts")
    assert path.is_file() and path.stat().st_size > 5_000


@pytest.mark.browser
def test_vendored_scripts_load_from_the_live_server(page, live_server):
    static = live_server.url + settings.STATIC_URL + "vendor/"
    page.set_content(
        f"""<!doctype html><html><body>
        <script src="{static}echarts/echarts.min.js"></script>
        <script src="{static}htmx/htmx.min.js"></script>
        </body></html>"""
    )
    assert page.evaluate("window.echarts && echarts.version") == "6.1.0"
    assert page.evaluate("window.htmx && htmx.version") == "2.0.11"
