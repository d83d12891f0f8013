"""Shared test infrastructure: a real browser, a real Celery worker, screenshots.

Fixtures
--------
``browser`` (session)
    Debian's ``/usr/bin/chromium`` driven by Playwright's sync API. Playwright never downloads
    a browser here. Without chromium the browser tests are *skipped* locally (run
    ``scripts/install_browser.sh``) but *fail* when the ``CI`` environment variable is set.
``page`` (function)
    A fresh browser context per test (locale ``zh-CN``, time zone Asia/Shanghai, viewport
    1280x900) and a page in it. When the test fails, a full-page screenshot is saved to
    ``screenshots/FAILED-<test>.png``.
``screenshot`` (function)
    ``screenshot(page, name)`` saves a full-page PNG to ``screenshots/<name>.png`` at the
    repository root (git-ignored) and returns its path.
``platform_fonts`` (function)
    ``platform_fonts(page, selector)`` returns the family names of the fonts chromium actually
    used to draw the text of the first element matching ``selector`` (DevTools protocol
    ``CSS.getPlatformFontsForNode``), e.g. ``["Noto Sans CJK SC"]``. Unlike
    ``document.fonts.check()``, which answers true even for a font that is not installed,
    this shows what rendered. Note: without a ``lang="zh-..."`` attribute on the page,
    fontconfig draws Chinese with the *Japanese* variant (Noto Sans CJK JP).
``live_server`` (session, from pytest-django)
    A real HTTP server on the test database, for browser tests::

        @pytest.mark.browser
        def test_home(page, live_server, transactional_db):
            page.goto(live_server.url + "/")

    Request ``transactional_db`` (or ``django_db(transaction=True)``) when the server must
    see rows the test creates: the server runs in another thread on its own connection.
    Static files (``/static/...``, including ``vendor/``) are served by the live server from
    the finders, no ``collectstatic`` needed.
``rows_kept_for_the_module(django_db_blocker, build, name)`` (tests/kept_rows.py)
    Rows that many tests of a module read (a population with published index runs) are
    written once per module and process, in a transaction rolled back after the module;
    each test runs in a savepoint inside it and gets its own deep copy of what ``build``
    returned. See its docstring for the two rules a module that uses it must keep.
``celery_worker`` (function; the process itself lives for the whole session)
    A real ``celery worker`` subprocess (solo pool) consuming the test queue, on the *same*
    test database pytest-django created and the same broker as the test process. It also
    switches the test to ``transactional_db``: the worker only sees committed rows. On a test
    failure the worker's log for that test is appended to the report. Mark such tests
    ``@pytest.mark.worker``.

Isolation (done at import time of this file)
--------------------------------------------
pytest-django imports the settings and calls ``django.setup()`` *before* this conftest is
imported, so setting environment variables here cannot influence ``portal.settings``. Instead
the few settings derived from ``PORTAL_VAR_DIR`` are re-pointed in the test process: unless the
caller set ``PORTAL_VAR_DIR`` explicitly, each test process gets a temporary var directory
(media, static root, filesystem-broker folders), removed at exit. Under pytest-xdist each
process also gets its own Celery queue (``portal-gw0``...) so that workers of parallel test
processes never take each other's tasks on a shared Redis.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = REPO_ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these chromium keeps trying to reach Google's services on a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORKER_READY_TIMEOUT = 90  # seconds; a cold start on a busy 2-core machine takes several
WORKER_STOP_TIMEOUT = 15
WORKER_IDLE_TIMEOUT = 60  # seconds a test's left-over tasks may take before its tables are emptied

IN_CI = bool(os.environ.get("CI"))

# Playwright's sync API runs an event loop in the test thread; Django would then refuse ORM
# calls from that thread (SynchronousOnlyOperation) although they are perfectly synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


# --- isolation of the test process ------------------------------------------------------------

_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", ... inside an xdist process


def _choose_var_dir() -> Path:
    given = os.environ.get("PORTAL_VAR_DIR")
    if given:
        # Chosen by the caller (Makefile, CI), or made by the xdist controller process and
        # inherited by this xdist worker process: keep it.
        base = Path(given)
    else:
        base = Path(tempfile.mkdtemp(prefix="portal-tests-"))
        os.environ["PORTAL_TESTS_TMP_VAR_DIR"] = str(base)  # tells xdist workers it is ours
        atexit.register(shutil.rmtree, base, ignore_errors=True)
    var_dir = base / _XDIST_WORKER if _XDIST_WORKER else base
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PORTAL_VAR_DIR"] = str(var_dir)  # inherited by the worker subprocess
    return var_dir


def _point_settings_at(var_dir: Path) -> None:
    """Move the settings that portal/settings/base.py derives from VAR_DIR under ``var_dir``.

    Paths are re-based rather than re-spelled, so folders added to base.py later follow along.
    """
    old = Path(settings.VAR_DIR)

    def rebase(value):
        path = Path(value)
        return var_dir / path.relative_to(old) if path.is_relative_to(old) else path

    settings.VAR_DIR = var_dir
    settings.MEDIA_ROOT = rebase(settings.MEDIA_ROOT)
    settings.STATIC_ROOT = rebase(settings.STATIC_ROOT)
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}))
    for key, value in options.items():
        if key.endswith("_folder") or key.startswith("data_folder"):  # the filesystem transport's
            options[key] = str(rebase(value))
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    if _XDIST_WORKER:
        queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-{_XDIST_WORKER}"
        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        os.environ["CELERY_QUEUE"] = queue  # read by the worker subprocess's settings


def _isolate_test_process() -> None:
    from portal.celery import app

    # The Celery app reads CELERY_* from the Django settings on first use; that must not have
    # happened yet, or the overrides below would not reach it.
    assert not app.configured, "Celery app configured before tests/conftest.py was imported"
    var_dir = _choose_var_dir()
    if Path(settings.VAR_DIR) != var_dir or _XDIST_WORKER:
        _point_settings_at(var_dir)
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one


_isolate_test_process()


# --- reports available to fixtures ----------------------------------------------------------

_reports_key = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    if report.when == "call" and report.failed and "celery_worker" in getattr(item, "funcargs", {}):
        worker = item.funcargs["celery_worker"]
        report.sections.append(("celery worker log (this test)", worker.log(since=worker.test_started_at)))
    return report


def _test_failed(item) -> bool:
    reports = item.stash.get(_reports_key, {})
    return any(r.failed for r in reports.values())


# --- browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run scripts/install_browser.sh"
        if IN_CI:
            pytest.fail(message + " (browser tests are never skipped in CI)", pytrace=False)
        pytest.skip(message)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    try:
        yield page
    finally:
        if _test_failed(request.node):
            try:
                path = _save_screenshot(page, "FAILED-" + request.node.name)
                print(f"failure screenshot: {path}")
            except Exception as exc:  # a crashed page must not hide the real failure
                print(f"could not save the failure screenshot: {exc}")
        context.close()


def _save_screenshot(page, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", name).strip("_") or "screenshot"
    path = SCREENSHOT_DIR / (safe if safe.endswith(".png") else safe + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def platform_fonts():
    """``platform_fonts(page, selector)``: families chromium used for that element's text."""

    def fonts(page, selector: str) -> list[str]:
        cdp = page.context.new_cdp_session(page)
        try:
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument")["root"]["nodeId"]
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
            assert node, f"no element matches {selector!r}"
            return [f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]
        finally:
            cdp.detach()

    return fonts


@pytest.fixture
def screenshot():
    """``screenshot(page, name)``: save a full-page PNG under screenshots/ and return its path."""
    return _save_screenshot


# --- Celery worker ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request):
    """Give SQLite a file test database when a selected test needs the worker.

    Django's default SQLite test database lives in memory, invisible to another process. Only
    when some collected test uses ``celery_worker`` is it moved to a file in the test var
    directory; other runs keep the faster in-memory database. PostgreSQL needs nothing.
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        return
    if not any("celery_worker" in getattr(item, "fixturenames", ()) for item in request.session.items):
        return
    test = db.setdefault("TEST", {})
    if not test.get("NAME") or test["NAME"] == ":memory:" or "mode=memory" in str(test["NAME"]):
        test["NAME"] = str(Path(settings.VAR_DIR) / "test-db.sqlite3")


def _database_url(settings_dict: dict) -> str:
    """A DATABASE_URL (django-environ syntax) for the database described by ``settings_dict``."""
    engine, name = settings_dict["ENGINE"], str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail(
                "celery_worker needs a file SQLite test database; request the fixture as an argument "
                "of the test (not through getfixturevalue) so that conftest can arrange one",
                pytrace=False,
            )
        return "sqlite:///" + str(Path(name).resolve())
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or ""
        port = settings_dict.get("PORT") or ""
        netloc = f"{auth}{host}" + (f":{port}" if port else "")
        options = {k: v for k, v in (settings_dict.get("OPTIONS") or {}).items() if isinstance(v, (str, int))}
        return f"postgres://{netloc}/{quote(name, safe='')}" + (f"?{urlencode(options)}" if options else "")
    pytest.fail(f"celery_worker does not know how to hand {engine} to the worker", pytrace=False)


class CeleryWorker:
    """A ``celery worker`` subprocess and its log file."""

    def __init__(self, process: subprocess.Popen, log_path: Path, queue: str, broker: str, database_url: str):
        self.process = process
        self.log_path = log_path
        self.queue = queue
        self.broker = broker
        self.database_url = database_url
        self.startup_seconds: float | None = None
        self.hostname = ""  # the worker's node name, for remote-control pings (wait_idle)
        self.test_started_at = 0  # log offset at the start of the current test

    def log(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return "(no log)"

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a crashed machine would: no warm shutdown."""
        self.process.kill()
        self.process.wait(10)

    def restart(self) -> None:
        """Start a fresh worker process with the same command and environment."""
        self.stop()
        since = self.log_size()
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.command, cwd=REPO_ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.wait_ready(since=since)

    def wait_ready(self, since: int = 0) -> None:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while " ready." not in self.log(since):
            if not self.alive():
                pytest.fail(f"celery worker exited with code {self.process.returncode} before it was ready:\n{self.log()}",
                            pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"celery worker not ready after {WORKER_READY_TIMEOUT} s:\n{self.log()}", pytrace=False)
            time.sleep(0.1)

    def wait_idle(self, timeout: float = WORKER_IDLE_TIMEOUT) -> bool:
        """Wait until the worker has no task running and its queue is empty; False on timeout.

        Called before pytest-django truncates the test's tables: a task the test left behind
        (a notification sent on commit, a follow-up task) must not write while the tables are
        truncated — PostgreSQL would break the deadlock by failing the flush, and the next test
        would start on the rows left behind. A solo-pool worker answers a ping only between
        tasks, so an answered ping after the queue emptied means the last task has finished."""
        from apps.core.workbenches import queue_length
        from portal.celery import app

        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            waiting = queue_length(self.queue)
            answered = app.control.ping(destination=[self.hostname], timeout=min(5.0, timeout), limit=1)
            if answered and waiting == 0 and queue_length(self.queue) == 0:
                return True
            time.sleep(0.05)
        return not self.alive()

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
            try:
                self.process.wait(WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, tmp_path_factory):
    from django.db import connection

    database_url = _database_url(connection.settings_dict)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    broker = settings.CELERY_BROKER_URL
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": queue,
        "PORTAL_VAR_DIR": str(settings.VAR_DIR),  # filesystem broker: the same queue folder
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    hostname = f"pytest-{os.getpid()}@{socket.gethostname()}"
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker",
        "--pool=solo", "--concurrency=1", "--loglevel=INFO", "-Q", queue,
        "--hostname", hostname,
        "--purge",  # drop messages left in the queue by earlier runs before consuming
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    worker = CeleryWorker(process, log_path, queue, broker, database_url)
    worker.command, worker.env, worker.hostname = command, env, hostname
    try:
        worker.wait_ready()
        worker.startup_seconds = time.monotonic() - started
        print(f"celery worker ready in {worker.startup_seconds:.1f} s (queue {queue}, broker {broker.split('://')[0]})")
        yield worker
    finally:
        worker.stop()


# --- rows kept for a module (tests/kept_rows.py) ---------------------------------------------


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    return bool(
        (marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
        or "transactional_db" in names or "live_server" in names or "celery_worker" in names
    )


@pytest.fixture(autouse=True)
def _tests_beside_kept_rows(request):
    """Fail a test that would run inside a module's kept rows without knowing it
    (rows_kept_for_the_module's two rules)."""
    from tests.kept_rows import kept_now

    for name in kept_now:
        if name not in request.fixturenames:
            pytest.fail(f"{request.node.nodeid} runs while the rows of {name} are kept for its module: "
                        f"ask for {name} (or a fixture built on it), or move the test to another module")
        if _is_transactional(request):
            pytest.fail(f"{request.node.nodeid} is transactional but runs inside the kept rows of {name}: "
                        "move it to another module")
    yield


PARKED_QUEUE_SUFFIX = "-parked"


@pytest.fixture(autouse=True)
def _tasks_reach_the_worker_only_when_asked(request):
    """Tasks sent by a test that did not ask for ``celery_worker`` go to a queue nobody consumes.

    The worker process lives for the whole session once a test has started it. Without this, a
    later test that does not use it (say, one whose service sends a notification on commit)
    would hand its task to that worker, which then writes to the test database while
    pytest-django truncates it at the end of the test: PostgreSQL resolves the deadlock by
    failing the flush, and the next test starts on the rows left behind. Such a test cannot
    rely on its task running anyway; parked, it never does. The parked queue is purged at the
    end of the session.
    """
    if "celery_worker" in request.fixturenames:
        yield
        return
    from portal.celery import app

    queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue + PARKED_QUEUE_SUFFIX
    try:
        yield
    finally:
        app.conf.task_default_queue = queue


@pytest.fixture
def parked_queue() -> str:
    """The queue a test's tasks go to when the test did not ask for ``celery_worker``."""
    from portal.celery import app

    return app.conf.task_default_queue.removesuffix(PARKED_QUEUE_SUFFIX) + PARKED_QUEUE_SUFFIX


@pytest.fixture(scope="session", autouse=True)
def _purge_parked_tasks():
    yield
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel.queue_purge(app.conf.task_default_queue + PARKED_QUEUE_SUFFIX)
    except Exception:  # noqa: BLE001 - no broker (a unit run without one) or no such queue: nothing parked
        pass


@pytest.fixture
def celery_worker(_celery_worker_process, transactional_db):
    """The session's running Celery worker (see the module docstring)."""
    worker = _celery_worker_process
    if not worker.alive():
        pytest.fail(f"celery worker died (exit code {worker.process.returncode}):\n{worker.log()}", pytrace=False)
    worker.test_started_at = worker.log_size()
    yield worker
    # before transactional_db's flush (it was set up first, so it is torn down after this)
    if not worker.wait_idle():
        pytest.fail(f"celery worker still busy {WORKER_IDLE_TIMEOUT} s after the test:\n"
                    f"{worker.log(since=worker.test_started_at)}", pytrace=False)


# --- language ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language (zh-hans). A request made in English leaves
    English active in the test thread afterwards; without this, a later test in the same
    process (which pytest-xdist's order decides) would read English messages."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def fresh_caches():
    """Empty the django cache and the per-process memo of run-versioned values before and
    after a test: run ids repeat between tests on SQLite (rolled-back sequences), so cached
    cells of one test must not leak into the next."""
    from django.core.cache import cache

    from apps.indices.readers import public_memo

    cache.clear()
    public_memo.clear()
    yield
    cache.clear()
    public_memo.clear()
