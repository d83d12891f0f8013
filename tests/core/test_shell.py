"""The shell of the product: size classes, log-in lock-out, language switch, API schema,
production settings."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from apps.reference.size import SizeClass, classify_size
from tests.factories import TEST_PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "employees, revenue, expected",
    [
        (1000, 40000, SizeClass.LARGE),
        (1000, 39999.99, SizeClass.MEDIUM),  # misses the large revenue bound: drops a class
        (5000, 30000, SizeClass.MEDIUM),
        (999, 100000, SizeClass.MEDIUM),
        (300, 2000, SizeClass.MEDIUM),
        (300, 1999, SizeClass.SMALL),
        (299, 50000, SizeClass.SMALL),
        (20, 300, SizeClass.SMALL),
        (19, 100000, SizeClass.MICRO),  # micro needs only one bound below small
        (5000, 299, SizeClass.MICRO),
        (0, 0, SizeClass.MICRO),
    ],
)
def test_size_class_2017_rules(employees, revenue, expected):
    assert classify_size(employees=employees, revenue_10k_yuan=Decimal(str(revenue))) == expected


def test_size_class_rejects_negative():
    with pytest.raises(ValueError):
        classify_size(employees=-1, revenue_10k_yuan=1)


@pytest.mark.django_db
def test_login_lockout_after_five_failures(client):
    user = UserFactory(username="locked")
    url = reverse("accounts:login")
    for _ in range(4):
        resp = client.post(url, {"username": "locked", "password": "wrong-password"})
        assert resp.status_code == 200
        assert "lockout" not in resp.text
    resp = client.post(url, {"username": "locked", "password": "wrong-password"})
    assert resp.status_code == 429
    assert "账号已临时锁定" in resp.text and "30 分钟" in resp.text
    # even the right password is refused while locked
    resp = client.post(url, {"username": "locked", "password": TEST_PASSWORD})
    assert resp.status_code == 429
    assert "_auth_user_id" not in client.session
    # another user from the same address is not locked
    other = UserFactory(username="other")
    resp = client.post(url, {"username": other.username, "password": TEST_PASSWORD})
    assert resp.status_code == 302
    assert user.pk


@pytest.mark.django_db
def test_successful_login_and_logout(client):
    UserFactory(username="ok-user")
    resp = client.post(reverse("accounts:login"), {"username": "ok-user", "password": TEST_PASSWORD})
    assert resp.status_code == 302
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_language_switch(client):
    assert "企业注册" in client.get("/").text
    resp = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert resp.status_code == 302
    page = client.get("/")
    assert 'lang="en"' in page.text
    assert "Enterprise registration" in page.text


@pytest.mark.django_db
def test_openapi_schema_builds_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", os.devnull],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test"},
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_swagger_ui_is_served_locally(client):
    UserFactory(username="doc-reader")
    resp = client.get("/api/v1/docs/")
    assert resp.status_code == 200
    assert "//cdn" not in resp.text and "unpkg" not in resp.text
    assert "/static/drf_spectacular_sidecar/" in resp.text
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/enterprises/" in schema.content


def _manage(args, env_overrides):
    drop = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CACHE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings.production"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CACHE_URL"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {
        "SECRET_KEY": "x" * 60 + "-production-secret-for-test",
        "ALLOWED_HOSTS": "portal.example.gov.cn",
        "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }
    env.pop(missing)
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert f"{missing} must be set in production" in result.stderr


@pytest.mark.parametrize("url", ["locmemcache://portal", "dummycache://"])
def test_production_refuses_a_cache_each_web_process_keeps_to_itself(url):
    """Throttles and log-in counters in a per-process cache would count per gunicorn worker."""
    env = {
        "SECRET_KEY": "x" * 60 + "-production-secret-for-test",
        "ALLOWED_HOSTS": "portal.example.gov.cn",
        "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
        "CACHE_URL": url,
    }
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "CACHE_URL must name a cache shared by every web process" in result.stderr


def test_production_passes_check_deploy_without_warnings():
    env = {
        "SECRET_KEY": "k3y-" + "q9W!x7Zp2Lr#t5Vb8Nm$c4Hd6Jf@" * 2,
        "ALLOWED_HOSTS": "portal.example.gov.cn",
        "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
