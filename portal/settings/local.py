"""Settings for `make run` on a developer's machine: DEBUG on, SQLite unless DATABASE_URL."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
