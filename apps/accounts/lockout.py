"""Log-in limits that hold behind a reverse proxy and cannot lock a user out for good.

Two limits apply to the log-in page and to ``POST /api/v1/auth/token/``:

* **per user name and client** (django-axes): ``AXES_FAILURE_LIMIT`` failures for one user
  name from one client address lock that pair for ``AXES_COOLOFF_MINUTES``. The client
  address is :func:`client_ip`: behind ``NUM_PROXIES`` trusted reverse proxies it is taken
  from ``X-Forwarded-For`` (the entry the outermost trusted proxy appended), so clients
  behind nginx no longer share one address — and a client cannot choose its address by
  sending its own header, because entries left of the trusted ones are ignored;
* **per user name, from anywhere** (this module): more than ``LOGIN_USERNAME_FAILURE_LIMIT``
  failures for one user name within ``LOGIN_USERNAME_WINDOW_MINUTES``, from any addresses
  (password spraying), hold further attempts for that name back until the window has
  passed — except from a browser in which the user has logged in before (a signed
  "known device" cookie set at each successful log-in). So an attacker can slow down
  guessing but cannot keep the real user out of their usual browser.

A held-back or locked request gets the lock-out page (429 on the API, with ``Retry-After``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core import signing
from django.core.cache import cache
from django.dispatch import receiver

DEVICE_COOKIE = "portal_device"
_DEVICE_SALT = "apps.accounts.lockout.device"


def client_ip(request) -> str | None:
    """The client address: REMOTE_ADDR, or behind ``NUM_PROXIES`` trusted proxies the
    ``NUM_PROXIES``-th address from the right of ``X-Forwarded-For`` (DRF's rule too)."""
    meta = getattr(request, "META", {})
    remote = meta.get("REMOTE_ADDR")
    proxies = getattr(settings, "NUM_PROXIES", 0) or 0
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
    if not addresses:
        return remote
    return addresses[-min(proxies, len(addresses))]


def _key(username: str) -> str:
    return f"login-failures:{username.strip().lower()[:150]}"


def _window_seconds() -> int:
    return 60 * getattr(settings, "LOGIN_USERNAME_WINDOW_MINUTES", 60)


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username")
    if not username:
        return
    key = _key(username)
    if not cache.add(key, 1, _window_seconds()):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, _window_seconds())


def username_failures(username: str) -> int:
    return cache.get(_key(username or ""), 0)


def _device_user(request) -> str | None:
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        return signing.loads(raw, salt=_DEVICE_SALT, max_age=getattr(settings, "LOGIN_DEVICE_COOKIE_DAYS", 90) * 86400)
    except signing.BadSignature:
        return None


def username_held_back(request, username: str) -> bool:
    """Whether an attempt for ``username`` from this client waits for the spraying window
    to pass (never from a browser the user has logged in with before)."""
    if not username:
        return False
    limit = getattr(settings, "LOGIN_USERNAME_FAILURE_LIMIT", 20)
    if username_failures(username) < limit:
        return False
    known = _device_user(request)
    return not (known and known.strip().lower() == username.strip().lower())


def remember_device(response, username: str) -> None:
    """Mark this browser as one ``username`` logs in with (after a successful log-in)."""
    response.set_cookie(
        DEVICE_COOKIE, signing.dumps(username, salt=_DEVICE_SALT),
        max_age=getattr(settings, "LOGIN_DEVICE_COOKIE_DAYS", 90) * 86400,
        httponly=True, secure=getattr(settings, "SESSION_COOKIE_SECURE", False), samesite="Lax",
    )


def retry_after_seconds() -> int:
    return _window_seconds()
