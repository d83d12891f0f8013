"""Log-in lock-out behind a reverse proxy, against password spraying, and on the API."""

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.models import Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.1"  # nginx, the one trusted proxy


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user():
    return UserFactory(role=Role.MINISTRY)


def login(user, password, *, xff=None, remote=PROXY, client=None):
    client = client or Client()
    extra = {"REMOTE_ADDR": remote}
    if xff:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return client.post(reverse("accounts:login"), {"username": user.username, "password": password}, **extra)


def fail_five(user, **kw):
    for _ in range(5):
        assert login(user, "wrong-password", **kw).status_code in (200, 429)  # the fifth locks


@override_settings(NUM_PROXIES=1)
def test_clients_behind_the_proxy_are_told_apart(user):
    fail_five(user, xff="203.0.113.7")
    assert login(user, TEST_PASSWORD, xff="203.0.113.7").status_code == 429  # that client is locked
    # another client through the same proxy is not
    assert login(user, TEST_PASSWORD, xff="198.51.100.2").status_code == 302


@override_settings(NUM_PROXIES=1)
def test_a_forged_forwarded_header_does_not_escape_the_lock(user):
    fail_five(user, xff="203.0.113.7")
    # the attacker prepends an address of its choice; nginx appends the real one
    assert login(user, TEST_PASSWORD, xff="192.0.2.99, 203.0.113.7").status_code == 429


@override_settings(LOGIN_USERNAME_FAILURE_LIMIT=3)
def test_password_spraying_is_held_back_per_user_name_but_not_in_the_users_browser(user):
    own_browser = Client()
    assert login(user, TEST_PASSWORD, remote="198.51.100.2", client=own_browser).status_code == 302
    own_browser.post(reverse("accounts:logout"))
    for n in range(3):
        login(user, "wrong-password", remote=f"192.0.2.{n + 1}")  # three addresses, one failure each
    held = login(user, TEST_PASSWORD, remote="192.0.2.50")  # a new client, even with the right password
    assert held.status_code == 429 and "Retry-After" in held
    assert "登录尝试过于频繁" in held.content.decode()
    # the user's own browser (it logged in before) is not held back
    assert login(user, TEST_PASSWORD, remote="198.51.100.2", client=own_browser).status_code == 302


def test_a_locked_token_request_is_answered_429(user):
    api = Client()
    for _ in range(5):
        response = api.post("/api/v1/auth/token/", {"username": user.username, "password": "wrong"}, REMOTE_ADDR="192.0.2.1")
        assert response.status_code in (400, 429)
    locked = api.post("/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD}, REMOTE_ADDR="192.0.2.1")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert "锁定" in locked.json()["detail"]


@override_settings(LOGIN_USERNAME_FAILURE_LIMIT=2)
def test_a_sprayed_token_request_is_answered_429(user):
    for n in range(2):
        Client().post("/api/v1/auth/token/", {"username": user.username, "password": "wrong"}, REMOTE_ADDR=f"192.0.2.{n + 1}")
    held = Client().post("/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD}, REMOTE_ADDR="192.0.2.9")
    assert held.status_code == 429 and held["Retry-After"]
