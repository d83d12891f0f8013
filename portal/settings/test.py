"""Settings for the test suite. DATABASE_URL / CELERY_BROKER_URL pick PostgreSQL and Redis in CI."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Every test client posts from 127.0.0.1 and the cache lives for the whole run: the
# registration throttle is tested with its own limit (tests/enterprises/test_registration_abuse.py).
REGISTRATION_ATTEMPTS_PER_HOUR = 10_000

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # Tests that commit (the real worker's, the browser's) and their flushes wait for the WAL
    # to reach the disk on every commit; a test database need not survive a crash. Only the
    # test suite's own connections (and its worker's) are affected, not the server.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
