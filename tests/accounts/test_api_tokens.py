"""API tokens expire, die with a password change, are listed with their last use and are
revocable by their user (a page) and by a system admin (the admin site)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"


def obtain(user) -> str:
    response = APIClient().post(f"{API}/auth/token/", {"username": user.username, "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def status_with(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(f"{API}/periods/").status_code


@pytest.fixture
def user():
    return UserFactory(role=Role.MINISTRY)


def test_token_works_records_last_use_and_is_stored_hashed(user):
    key = obtain(user)
    token = ApiToken.objects.get(user=user)
    assert token.last_used_at is None
    assert key not in (token.key_hash, token.prefix) and token.prefix == key[:8]
    assert status_with(key) == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@override_settings(API_TOKEN_TTL_DAYS=2)
def test_token_expires_after_the_configured_days(user):
    key = obtain(user)
    token = ApiToken.objects.get(user=user)
    assert timedelta(days=2) - timedelta(minutes=1) < token.expires_at - timezone.now() <= timedelta(days=2)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert status_with(key) == 401


def test_password_change_revokes_every_token(client, user):
    keys = [obtain(user), obtain(user)]
    assert all(status_with(k) == 200 for k in keys)
    client.force_login(user)
    response = client.post(reverse("accounts:password-change"), {
        "old_password": TEST_PASSWORD, "new_password1": "Another-Pass-2026!", "new_password2": "Another-Pass-2026!"})
    assert response.status_code == 302
    assert [status_with(k) for k in keys] == [401, 401]
    assert set(ApiToken.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {ApiToken.REVOKED_PASSWORD}


def test_user_lists_and_revokes_own_tokens_only(client, user):
    key = obtain(user)
    status_with(key)
    other = UserFactory(role=Role.MINISTRY)
    other_key = obtain(other)
    client.force_login(user)
    page = client.get(reverse("accounts:api-tokens"))
    html = page.content.decode()
    assert page.status_code == 200 and key[:8] in html and other_key[:8] not in html
    assert "从未使用" not in html  # the token has been used: its last use is shown
    mine = ApiToken.objects.get(user=user)
    theirs = ApiToken.objects.get(user=other)
    assert client.post(reverse("accounts:api-token-revoke", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("accounts:api-token-revoke", args=[mine.pk])).status_code == 302
    assert status_with(key) == 401 and status_with(other_key) == 200


def test_user_creates_a_token_on_the_page_and_sees_the_key_once(client, user):
    client.force_login(user)
    response = client.post(reverse("accounts:api-tokens"), {"name": "数据报送脚本"})
    key = response.context["new_key"]
    assert key in response.content.decode() and status_with(key) == 200
    assert key not in client.get(reverse("accounts:api-tokens")).content.decode()


def test_admin_lists_and_revokes_tokens(client, user):
    key = obtain(user)
    admin_user = UserFactory(role=Role.ADMIN, is_superuser=True, is_staff=True)
    client.force_login(admin_user)
    changelist = reverse("admin:accounts_apitoken_changelist")
    assert key[:8] in client.get(changelist).content.decode()
    token = ApiToken.objects.get(user=user)
    response = client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    assert status_with(key) == 401
    client.force_login(UserFactory(role=Role.MINISTRY, is_staff=True))
    assert client.get(changelist).status_code == 403
