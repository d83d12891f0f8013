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
