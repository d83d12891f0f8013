"""Load benchmark of the public pages and the open-data API: `make load-bench`.

Serves the portal with gunicorn (production settings, loopback only) on the database that
bench/run.py built (portal_bench: 200,000 enterprises, two published periods) with a Redis
cache shared by the workers, then drives each target with `wrk`, 20 connections for 20 s:

  floor       /healthz: a request that does almost nothing (one SELECT 1)
  public API  /api/v1/public/periods/<latest>/cells/?kind=province (the province ranking)
  public page /open/provinces/ (ranked table and bar chart)
  authority   /insights/rankings/ with a logged-in session of an authority user created here
              (skipped when that page does not answer 200)

For each target it reports the first request on an empty cache (cold), then, after a short
warm-up, one client alone for 5 s (the time of a request with nothing queued), then the
20 clients: wrk's latency percentiles and the server time of every request from gunicorn's
access log (%(D)s), with ratios to the floor measured in the same run. Every
request carries its own X-Forwarded-For address (NUM_PROXIES=1), as many clients behind the
reverse proxy would, so the API throttle runs at its real rate (a cache read and write per
request) without refusing the load. Results go to bench/results/load-<timestamp>.json and
a section appended to docs/PERFORMANCE.md.

Needs: wrk (apt-get install -y wrk), PostgreSQL with portal_bench (make bench), Redis.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
VAR_DIR = ROOT / "var" / "load-bench"
RESULTS = ROOT / "bench" / "results"

LUA = r"""
-- One fresh client address per request (X-Forwarded-For, read with NUM_PROXIES=1).
request = function()
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["X-Forwarded-For"] = "10." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format(nil, nil, headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""

AUTHORITY_SETUP = r"""
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from apps.accounts.models import Role, User
from apps.reference.models import Region
region = Region.objects.filter(level="province", code="320000").first() or Region.objects.filter(level="province").first()
user, _ = User.objects.get_or_create(username="load-bench-authority", defaults={"role": Role.AUTHORITY, "region": region})
user.role, user.region = Role.AUTHORITY, region
user.set_unusable_password()
user.save()
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print("JSON:" + json.dumps({"session": session.session_key, "region": region.code, "region_name": region.name}))
"""

LATEST_PERIOD = r"""
import json
from apps.indices.readers import published_runs
runs = published_runs()
print("JSON:" + json.dumps({"periods": [r.period.code for r in runs], "runs": [r.pk for r in runs],
                            "cells": [r.cells for r in runs], "filings": [r.submissions for r in runs]}))
"""


def server_env(args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "load-bench-" + secrets.token_hex(16),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": args.database_url,
        "CACHE_URL": args.cache_url,
        "SECURE_SSL_REDIRECT": "false",
        "PORTAL_VAR_DIR": str(VAR_DIR),
        "NUM_PROXIES": "1",
        "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    return env


def shell(env: dict, code: str) -> dict:
    out = subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, text=True,
                         capture_output=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("JSON:"))
    return json.loads(line[5:])


def get(url: str, headers: dict | None = None) -> tuple[int, float]:
    request = urllib.request.Request(url, headers=headers or {})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, (time.perf_counter() - start) * 1000


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with code {process.returncode}")
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"gunicorn not ready after {timeout} s")


def wrk(url: str, script: Path, seconds: int, connections: int, threads: int, headers: dict) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command + [url], check=True, text=True, capture_output=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("JSON:"))
    result = json.loads(line[5:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def server_times(log: Path, offset: int) -> dict:
    """Server time (ms) and status counts of the access-log lines written after ``offset``."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8", "replace").splitlines()
    times, statuses = [], {}
    for line in lines:
        parts = line.split()
        if len(parts) < 2 or not parts[-1].isdigit():
            continue
        statuses[parts[-2]] = statuses.get(parts[-2], 0) + 1
        times.append(int(parts[-1]) / 1000)
    return {
        "requests": len(times),
        "statuses": statuses,
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "p99_ms": percentile(times, 99),
        "mean_ms": statistics.fmean(times) if times else float("nan"),
    }


def flush_cache(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL",
                                                                 "postgres://postgres@127.0.0.1:5432/portal_bench"))
    parser.add_argument("--cache-url", default=os.environ.get("LOAD_CACHE_URL", "redis://127.0.0.1:6379/8"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOAD_PORT", "8797")))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--single-seconds", type=int, default=5, help="the one-client measurement per target")
    parser.add_argument("--no-report", action="store_true", help="do not append to docs/PERFORMANCE.md")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    RESULTS.mkdir(parents=True, exist_ok=True)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if not port_free(args.port):
        raise SystemExit(f"127.0.0.1:{args.port} is in use (another server?): choose --port or LOAD_PORT")
    env = server_env(args)

    published = shell(env, LATEST_PERIOD)
    if len(published["periods"]) < 1:
        raise SystemExit("portal_bench has no published run: run `make bench` first")
    period = published["periods"][0]
    subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    authority = shell(env, AUTHORITY_SETUP)
    flush_cache(args.cache_url)

    base = f"http://127.0.0.1:{args.port}"
    access_log = VAR_DIR / "access.log"
    access_log.write_bytes(b"")
    server_log = open(VAR_DIR / "gunicorn.log", "wb")
    server = subprocess.Popen(
        [GUNICORN, "portal.wsgi", "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers),
         "--access-logfile", str(access_log), "--access-logformat", "%(m)s %(U)s %(s)s %(D)s"],
        cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    targets = [
        ("floor", "/healthz", {}),
        ("public_api_ranking", f"/api/v1/public/periods/{period}/cells/?kind=province", {}),
        ("public_ranking_page", "/open/provinces/", {}),
        ("authority_ranking_page", "/insights/rankings/", {"Cookie": f"sessionid={authority['session']}"}),
    ]
    results: dict = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "setup": {"workers": args.workers, "connections": args.connections, "seconds": args.seconds,
                  "threads": args.threads, "single_seconds": args.single_seconds, "database": args.database_url.rsplit("/", 1)[-1], "cache": args.cache_url,
                  "published": published, "authority_region": authority["region_name"]},
        "targets": {},
    }  # fmt: skip
    try:
        wait_ready(base + "/healthz", server)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "load.lua"
            script.write_text(LUA)
            for name, path, headers in targets:
                status, cold_ms = get(base + path, headers)
                if status != 200:
                    results["targets"][name] = {"path": path, "skipped": f"HTTP {status}"}
                    print(f"{name}: {path} answered {status}, skipped")
                    continue
                wrk(base + path, script, 3, args.connections, args.threads, headers)  # warm-up
                single = wrk(base + path, script, args.single_seconds, 1, 1, headers)  # one client: no queueing
                load_before = os.getloadavg()[0]
                offset = access_log.stat().st_size
                client = wrk(base + path, script, args.seconds, args.connections, args.threads, headers)
                time.sleep(0.5)  # let the workers write their last log lines
                server_side = server_times(access_log, offset)
                results["targets"][name] = {"path": path, "cold_ms": cold_ms, "single": single, "client": client,
                                            "server": server_side, "loadavg": [load_before, os.getloadavg()[0]]}
                print(f"{name}: {client['rps']:.0f} req/s, client p50/p95/p99 {client['p50_us'] / 1000:.1f}/"
                      f"{client['p95_us'] / 1000:.1f}/{client['p99_us'] / 1000:.1f} ms, server p50/p95/p99 "
                      f"{server_side['p50_ms']:.1f}/{server_side['p95_ms']:.1f}/{server_side['p99_ms']:.1f} ms, "
                      f"statuses {server_side['statuses']}, cold {cold_ms:.0f} ms")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()

    floor = results["targets"].get("floor", {})
    for target in results["targets"].values():
        if "client" in target and "client" in floor:
            target["p95_ratio_client"] = target["client"]["p95_us"] / floor["client"]["p95_us"]
            target["p95_ratio_server"] = target["server"]["p95_ms"] / floor["server"]["p95_ms"]
            target["p50_ratio_server"] = target["server"]["p50_ms"] / floor["server"]["p50_ms"]
            target["p50_ratio_single"] = target["single"]["p50_us"] / floor["single"]["p50_us"]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"load-{stamp}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    if not args.no_report:
        write_report(results)
    print(json.dumps(results, indent=1, ensure_ascii=False))


LABELS = {
    "floor": "floor: `/healthz`",
    "public_api_ranking": "public API: province ranking",
    "public_ranking_page": "public page: `/open/provinces/`",
    "authority_ranking_page": "authority page: `/insights/rankings/` (logged in)",
}


def write_report(results: dict) -> None:
    setup, machine = results["setup"], results["machine"]
    published = setup["published"]
    lines = [
        "",
        f"## Public pages and open-data API under load, {results['date']} "
        f"({machine['cpus']} CPUs, {machine['memory_gb']} GB, {machine['platform']})",
        "",
        f"`bench/load.py` (`make load-bench`): gunicorn with {setup['workers']} sync workers and production "
        f"settings on `{setup['database']}` (published runs {', '.join(f'#{r}' for r in published['runs'])} of "
        f"periods {', '.join(published['periods'])}, {published['cells'][0]:,} cells per run, "
        f"{published['filings'][0]:,} filings in the latest), Redis cache `{setup['cache']}` shared by the "
        "workers; `wrk` on the same machine over loopback, each request from its own X-Forwarded-For address "
        "(so the API throttle does its cache read and write per request but refuses nothing).",
        "",
        f"* **one client**: 1 connection for {setup.get('single_seconds', 5)} s: the time of a request when "
        "nothing else is queued (client side, includes the loopback HTTP round trip);",
        f"* **20 clients**: {setup['connections']} connections ({setup['threads']} wrk threads) for "
        f"{setup['seconds']} s after a 3 s warm-up. *Client* latency is wrk's and includes the wait for a free "
        f"worker ({setup['connections']} connections share {setup['workers']} workers); *server* time is "
        "gunicorn's `%(D)s` per request (parse to last byte, under the same contention);",
        "* ratios are to the floor (`/healthz`: one `SELECT 1`) measured in the same run; the first request "
        "after emptying the cache builds what later requests read.",
        "",
        "| target | one client p50 / p95 (ms) | 20 clients: req/s | client p50 / p95 / p99 (ms) "
        "| server p50 / p95 / p99 (ms) | ÷ floor: one-client p50, server p50, server p95 | first request, empty "
        "cache (ms) | statuses | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, target in results["targets"].items():
        label = LABELS.get(name, name)
        if "skipped" in target:
            lines.append(f"| {label} | skipped: {target['skipped']} | | | | | | | |")
            continue
        one, c, s = target["single"], target["client"], target["server"]
        ratio = (f"{target['p50_ratio_single']:.1f} / {target['p50_ratio_server']:.1f} / {target['p95_ratio_server']:.1f}"
                 if "p95_ratio_server" in target else "—")
        lines.append(
            f"| {label} | {one['p50_us'] / 1000:.1f} / {one['p95_us'] / 1000:.1f} | {c['rps']:.0f} "
            f"| {c['p50_us'] / 1000:.1f} / {c['p95_us'] / 1000:.1f} / {c['p99_us'] / 1000:.1f} "
            f"| {s['p50_ms']:.1f} / {s['p95_ms']:.1f} / {s['p99_ms']:.1f} | {ratio} | {target['cold_ms']:.0f} "
            f"| {', '.join(f'{k}: {v}' for k, v in sorted(s['statuses'].items()))} "
            f"| {target['loadavg'][0]:.1f}–{target['loadavg'][1]:.1f} |"
        )
    lines.append("")
    with open(ROOT / "docs" / "PERFORMANCE.md", "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
