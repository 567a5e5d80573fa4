"""Settings for the shop back office, read from the environment (12-factor).

Every knob a deployment needs is an environment variable; the defaults are
for a developer's machine. See README.md, "Configuration".
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value when DJANGO_DEBUG=0 "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))")'
    )

# Keys being rotated out: what they signed (admin sessions, Idempotency-Key fingerprints)
# is still recognised. Remove them once those have expired (a day).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # Before the admin: its templates (admin/base_site.html) are the ones the admin uses.
    "shop",
    "shop.apps.ShopAdminConfig",  # django.contrib.admin, on the shop's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "products",
    "purchases",
]

MIDDLEWARE = [
    # First: every answer, a probe's too, carries its request id, and every request is
    # counted and timed (`shop/metrics.py`, which also answers /metrics itself).
    "shop.requestid.RequestIdMiddleware",
    "shop.metrics.MetricsMiddleware",
    # Then /healthz and /readyz answer before host checks, the HTTPS redirect or sessions.
    "shop.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Tells which staff sessions have passed the second factor (`users.second_factor`).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "shop.middleware.JsonErrorsMiddleware",
]

ROOT_URLCONF = "shop.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "shop.wsgi.application"
ASGI_APPLICATION = "shop.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}

# Reports (analytics, the admin's sales page, CSV exports, the backfill run history) read
# from a streaming replica when one is configured (`shop/replica.py`); everything else,
# and every write, uses the primary. Its connections give up after 2 s, then the report
# reads the primary. The tests make it a mirror of the test database.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    if DATABASES["replica"]["ENGINE"].endswith("postgresql"):
        DATABASES["replica"]["OPTIONS"] = {
            "connect_timeout": int(os.environ.get("SHOP_REPLICA_CONNECT_TIMEOUT", "2")),
            **DATABASES["replica"].get("OPTIONS", {}),
        }

# PostgreSQL through the project's backend, which tells a connection that cannot be made
# from other database errors (the API answers it 503 with Retry-After, not 500). The primary
# gives up connecting after SHOP_DB_CONNECT_TIMEOUT seconds: a server that accepts and never
# answers would otherwise hold every request thread that asks for it.
for _database in DATABASES.values():
    if _database["ENGINE"] == "django.db.backends.postgresql":
        _database["ENGINE"] = "shop.backends.postgresql"
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["OPTIONS"] = {
        "connect_timeout": int(os.environ.get("SHOP_DB_CONNECT_TIMEOUT", "5")),
        **DATABASES["default"].get("OPTIONS", {}),
    }

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # SQLite has no covering indexes: it builds the plain index, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    DATABASES["default"]["OPTIONS"] = {
        # A transaction that reads then writes (a purchase, the backfill) takes the
        # write lock when it begins, so concurrent writers wait their turn instead of
        # failing at once with "database is locked" when one upgrades its lock.
        "transaction_mode": "IMMEDIATE",
        # How long a writer waits for the lock (seconds); past it: 503, retry.
        "timeout": int(os.environ.get("SHOP_SQLITE_LOCK_WAIT", "20")),
        # Readers are not blocked by a writer (a backfill does not stop the reads).
        "init_command": "PRAGMA journal_mode=WAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
# Uploaded files (backfill CSVs waiting for a worker). Production with several hosts: a
# shared volume here, or S3-compatible storage through django-storages (README, Production).
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {
        "BACKEND": os.environ.get(
            "DJANGO_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
        ),
        # e.g. {"bucket_name": "shop-uploads"} for django-storages' S3 backend
        "OPTIONS": json.loads(os.environ.get("DJANGO_STORAGE_OPTIONS") or "{}"),
    },
    "staticfiles": {
        # The manifest needs `collectstatic`, which production runs and a dev machine need not.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Request bodies: JSON bodies stay small; CSV uploads stream to a temporary file.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DJANGO_MAX_BODY_BYTES", str(2 * 1024 * 1024)))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# Every line: time, level, logger, the request id (`shop/requestid.py`; `-` outside a
# request or task), then the message. DJANGO_LOG_FORMAT=json writes one JSON object a
# line instead (python-json-logger), for a log collector that parses fields.
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "text").strip().lower() or "text"
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "shop.requestid.RequestIdFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC, with its offset: a collector needs no host's time zone.
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default logging gives its loggers a console handler of their own under
        # DEBUG; passed on to the root's as well, every line would be printed twice.
        "django": {"handlers": ["console"], "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}

# --- The API -------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The token scheme comes first so that a missing credential answers 401 with
        # `WWW-Authenticate: Token`, not 403.
        "shop.authentication.TokenAuthentication",
        # The admin's sessions, once past the second factor for staff.
        "shop.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["shop.permissions.DeclaredPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "shop.filters.OwnerScopeFilter",
        "django_filters.rest_framework.DjangoFilterBackend",
    ],
    "DEFAULT_PAGINATION_CLASS": "shop.pagination.HeaderPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # `Accept` with its quality values (`q`), which DRF's own negotiation ignores.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "shop.negotiation.ShopContentNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "shop.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "shop.error_responses.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "shop.schema.ShopAutoSchema",
    # How many reverse proxies stand in front: rate limits key on the client's
    # address. 0 (none) means the socket's address; DRF's default (unset) would
    # trust any `X-Forwarded-For` a client makes up, and so never throttle it.
    "NUM_PROXIES": int(os.environ.get("DJANGO_NUM_PROXIES") or "0"),
}

_token_ttl_hours = float(os.environ.get("SHOP_TOKEN_TTL_HOURS", "720"))
REST_KNOX = {
    # Tokens are stored as SHA-512 digests; a TTL of 0 means tokens live until revoked.
    "TOKEN_TTL": timedelta(hours=_token_ttl_hours) if _token_ttl_hours > 0 else None,
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Shop back office API",
    "DESCRIPTION": "Customers, products, purchases, the catalogue backfill and sales analytics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "PREPROCESSING_HOOKS": ["shop.schema.canonical_paths"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "shop.schema.pagination_headers",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from our own static files: no CDN on a shop's intranet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Rate limits (`shop/ratelimit.py`), exact across every process and host: anonymous
# sign-ups per client address, and every password check (API tokens, the admin's login,
# a current password) per account and per client address.
SHOP_SIGNUP_RATE = os.environ.get("SHOP_SIGNUP_RATE", "20/hour")
SHOP_TOKEN_RATE = os.environ.get("SHOP_TOKEN_RATE", "30/minute")
# Where the counters live: this Redis (e.g. redis://host:6379/1) if set, else the database.
SHOP_RATE_LIMIT_REDIS_URL = os.environ.get("SHOP_RATE_LIMIT_REDIS_URL", "")

# `GET /metrics` (Prometheus, `shop/metrics.py`) answers only `Authorization: Bearer` this
# token; unset, it answers 404 to everyone.
SHOP_METRICS_TOKEN = os.environ.get("SHOP_METRICS_TOKEN", "")

# --- Sessions and the second factor ---------------------------------------

# Sessions are the admin's (staff; API clients use tokens): each ends after a working day
# without a request, counted from the last one (every request saves the session).
SESSION_COOKIE_AGE = int(float(os.environ.get("SHOP_STAFF_SESSION_IDLE_HOURS", "8")) * 3600)
SESSION_SAVE_EVERY_REQUEST = True
# The name authenticator apps show beside a staff member's codes (`users.second_factor`).
OTP_TOTP_ISSUER = os.environ.get("SHOP_OTP_ISSUER", "Shop back office")
# After a wrong code, a device refuses codes for 1, 2, 4, 8… seconds (django-otp's throttle),
# on top of the sign-in limits that every code check counts against.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# --- Production hardening (active when DJANGO_DEBUG=0) ----------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER"):
    # e.g. "HTTP_X_FORWARDED_PROTO" behind a TLS-terminating proxy
    SECURE_PROXY_SSL_HEADER = (os.environ["DJANGO_SECURE_PROXY_SSL_HEADER"], "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)

# --- Background jobs (Celery) -----------------------------------------------

# Production: `CELERY_BROKER_URL=redis://host:6379/0` and workers started with
# `celery -A shop worker`. Without a broker (a developer's machine, the unit tests)
# tasks run eagerly: in the process that queues them, before `delay()` returns.
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
# (An in-memory transport stands in when eager: nothing is ever sent to it.)
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
# Outcomes are recorded in the project's own tables (a run's record), not in Celery's.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# One job at a time per worker process: a long import does not hold others back.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker that is down must be a quick, clear error for whoever queues, not a hang.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
# Both timeouts: a broker that accepts the connection and then never answers (frozen,
# half-open, behind a dead NAT) would otherwise hold the publish, and the request, forever.
# A worker's long polls (BRPOP) run on its event loop and are not bound by it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
# Beat's schedule file (`--schedule PATH`) may live in a directory that does not exist yet.
CELERY_BEAT_SCHEDULER = "shop.celery:PersistentScheduler"
# Housekeeping, run by `celery -A shop beat` (one beat process for the whole deployment).
CELERY_BEAT_SCHEDULE = {
    # Runs whose worker died are marked failed even when nobody looks at them.
    "sweep-stale-backfill-runs": {"task": "products.sweep_stale_backfill_runs", "schedule": 60.0},
    # Retried POSTs are recognised for 24 hours; older keys are deleted every hour.
    "expire-idempotency-keys": {"task": "shop.expire_idempotency_keys", "schedule": 3600.0},
    # Rate-limit counters whose window has ended (the database's; Redis expires its own).
    "purge-rate-counters": {"task": "shop.purge_rate_counters", "schedule": 3600.0},
}

# --- The shop ------------------------------------------------------------

# The CSV that `manage.py backfill` and `GET /products/data/backfill` load by default.
SHOP_PRODUCTS_CSV = Path(
    os.environ.get("SHOP_PRODUCTS_CSV", BASE_DIR / "fixtures" / "products.csv")
)

# How money is shown to staff (the admin, its charts): an ISO 4217 code or a symbol.
SHOP_CURRENCY = os.environ.get("SHOP_CURRENCY", "USD")

# --- Products / backfill ---------------------------------------------------

# The largest CSV `POST /products/data/backfill` accepts (bytes); past it: 413 JSON.
SHOP_BACKFILL_MAX_UPLOAD_BYTES = int(
    os.environ.get("SHOP_BACKFILL_MAX_UPLOAD_BYTES", str(1024 * 1024 * 1024))
)
# Where uploads wait for their run in the default storage (deleted when the run ends).
SHOP_BACKFILL_UPLOADS = "backfill-uploads"
# How often a running import writes its progress (and looks for a cancel), in seconds.
SHOP_BACKFILL_PROGRESS_SECONDS = float(os.environ.get("SHOP_BACKFILL_PROGRESS_SECONDS", "1"))
# A queued run that no worker has taken after this many seconds is marked failed.
SHOP_BACKFILL_QUEUE_TIMEOUT = int(os.environ.get("SHOP_BACKFILL_QUEUE_TIMEOUT", str(6 * 3600)))
# Without a broker (`make run`), an upload from the admin is imported in a thread of the
# server process, and the browser goes at once to the run's page, which follows it; off,
# it is imported inside the request (the API's uploads always are, without a broker).
# With a broker this changes nothing: a worker imports it.
SHOP_BACKFILL_THREAD_WITHOUT_BROKER = env_bool("SHOP_BACKFILL_THREAD_WITHOUT_BROKER", DEBUG)
