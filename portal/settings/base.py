"""Settings shared by every environment.

Everything that differs between a laptop, CI and production is read from the environment
(django-environ); the defaults here are the safe ones for a local run on SQLite with a
server-less broker.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-development-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    # unfold must come before django.contrib.admin
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # operator classes in index expressions (the enterprise name's trigram index); its
    # PostgreSQL type handlers do nothing on SQLite
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "simple_history",
    "axes",
    "django_celery_beat",
    "apps.core",
    "apps.reference",
    "apps.accounts",
    "apps.enterprises",
    "apps.frameworks",
    "apps.filings",
    "apps.indices",
    "apps.insights",
    "apps.policies",
    "apps.pilots",
    "apps.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.core.middleware.PortalCSPMiddleware",
    "apps.core.middleware.RejectNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.NoStoreForSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # axes must be last: it turns a lock-out signal into the lock-out page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.navigation",
                "apps.notifications.context_processors.notices",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web process, worker and beat share one file: wait for the writer instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # The covering index of the index engine's chunk read (filings.Submission,
    # INCLUDE columns) is a PostgreSQL feature; SQLite builds it without them, which is all
    # the demo database needs. Django warns of it on every command: say it once, here.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # axes first so that a locked-out user is refused before the password is checked
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "apps.accounts.backends.RoleGroupBackend",  # ministry staff hold the `ministry` group's rights
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:home"

# Log-in lock-out (django-axes): five failures for one user name from one address lock it
# for 30 minutes. The numbers are settings so that a province can follow its own policy.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_RESET_ON_SUCCESS = True
# Behind NUM_PROXIES trusted reverse proxies (nginx: 1) the client address is read from
# X-Forwarded-For (apps.accounts.lockout.client_ip); 0 = no proxy, REMOTE_ADDR.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
AXES_CLIENT_IP_CALLABLE = "apps.accounts.lockout.client_ip"
# Password spraying: more failures than this for one user name from anywhere within the
# window hold further attempts back, except from a browser the user logged in with before.
LOGIN_USERNAME_FAILURE_LIMIT = env.int("LOGIN_USERNAME_FAILURE_LIMIT", default=20)
LOGIN_USERNAME_WINDOW_MINUTES = env.int("LOGIN_USERNAME_WINDOW_MINUTES", default=60)
LOGIN_DEVICE_COOKIE_DAYS = 90

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploaded files (evidence, import files) live outside the web root and are served only
# through views that check who asks.
MEDIA_ROOT = VAR_DIR / "private"
MEDIA_URL = "/private/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://portal"),
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # the same cache, one client object per connection pool (apps/core/cache.py: Django's
    # builds one per operation, ~0.9 ms of CPU each)
    CACHES["default"]["BACKEND"] = "apps.core.cache.RedisCache"

# --- Celery -------------------------------------------------------------------------
# Without CELERY_BROKER_URL the portal uses kombu's filesystem transport, which needs no
# server: web process, worker and beat exchange messages through files under var/.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _d in ("queue", "processed", "control"):
        (_broker_dir / _d).mkdir(parents=True, exist_ok=True)
# Job state lives in our own rows (ImportJob, IndexRun, ...), not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="portal")

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # throttles key on the client address behind the same trusted proxies as the lock-out
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "制造业质量管理数字化监测平台 API",
    "DESCRIPTION": "Regional quality-management digitalization monitoring portal, API v1.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.schema.document_error_responses",
    ],
}

# --- Import / export ----------------------------------------------------------------------
# Exported cells that start with = + - @ would run as formulas in Excel: neutralise them.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

# --- Admin (django-unfold) -------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": _("质量数字化监测平台 管理后台"),
    "SITE_HEADER": _("质量数字化监测平台"),
    "SHOW_LANGUAGES": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Version of the portal's own code, recorded in scores and index runs (issue 3/4).
PORTAL_CODE_VERSION = env.str("PORTAL_CODE_VERSION", default="dev")

# --- Open-data API throttling (apps/insights/public_api.py) -----------------------------------
# /api/v1/public/ needs no log-in; each client address may make PUBLIC_API_THROTTLE_RATE
# requests ("120/min"; DRF syntax N/sec|min|hour|day) before it gets a 429. Behind a reverse
# proxy set NUM_PROXIES to the number of proxies (1 for nginx in front), so the client address
# is read from X-Forwarded-For as the proxy wrote it; with 0 it is the connection's address.
PUBLIC_API_THROTTLE_RATE = env.str("PUBLIC_API_THROTTLE_RATE", default="120/min")
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}),
    "public": PUBLIC_API_THROTTLE_RATE,
}
REST_FRAMEWORK["NUM_PROXIES"] = env.int("NUM_PROXIES", default=0)

# --- Content-Security-Policy (django-csp; apps.core.middleware.PortalCSPMiddleware) ----------
# Scripts only from our own static files: no inline <script>, no on*= attributes, no CDN.
# Chart data travels in {{ value|json_script }} blocks (type application/json, not run).
# Styles may be inline (ECharts and htmx set style attributes). The admin adds 'unsafe-eval'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# API tokens (apps.accounts.models.ApiToken): days until a new token expires.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)

# Self-registration: POSTs per client address and hour (apps.enterprises.views.register).
REGISTRATION_ATTEMPTS_PER_HOUR = env.int("REGISTRATION_ATTEMPTS_PER_HOUR", default=10)

# Evidence quotas per filing (apps.filings.evidence); EVIDENCE_MAX_BYTES is per file.
EVIDENCE_MAX_FILES_PER_FILING = env.int("EVIDENCE_MAX_FILES_PER_FILING", default=50)
EVIDENCE_MAX_TOTAL_BYTES_PER_FILING = env.int("EVIDENCE_MAX_TOTAL_MB_PER_FILING", default=200) * 1024 * 1024
# --- Mail (pilot selection notices to applicants, apps/pilots) --------------------------------
# EMAIL_URL as django-environ reads it: "consolemail://" (default: printed by the dev server)
# or "smtp+tls://user:password@host:587" in production.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@qmd-portal.local")

# --- notifications (apps.notifications) ------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@portal.invalid")
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")  # links in e-mails
DEADLINE_NOTICE_DAYS = env.int("DEADLINE_NOTICE_DAYS", default=7)  # remind this many days before a period closes
