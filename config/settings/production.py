"""Production settings: no default secrets, HTTPS only, throttled, observable.

Anything secret is read with ``env(...)`` without a default, so a missing
variable stops the process at start-up instead of running with a dev value.
``manage.py check --deploy`` passes with zero warnings (tested in
tests/test_production_settings.py).
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
DATABASES = {"default": env.db_url("DATABASE_URL")}  # no default: must be set
DATABASES["default"]["ENGINE"] = "tenants.db_backend"  # see settings.base
DATABASES["default"].setdefault("OPTIONS", {})
# No persistent connections in the web process: under ASGI, Django runs each
# request's sync code on a thread of its own (asgiref ThreadSensitiveContext),
# so a connection kept for CONN_MAX_AGE outlives its thread and is never reused:
# under 50 concurrent requests PostgreSQL ran out of connection slots
# (bench/timer_load.py; Django ticket #33497). The web process pools instead
# (``django`` mode below); Celery workers, whose threads live long, get
# DB_CONN_MAX_AGE=60 from deploy/entrypoint.sh.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A connection killed by a restart or failover is noticed before it is used:
# the request gets a fresh one instead of an error (tests/test_faults.py).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
)

# --- Connection pooling ---------------------------------------------------------
# The tenant is chosen with a session-level ``SET search_path``. Supported:
#   django  - Django's psycopg pool inside each process (the default)
#   direct  - no pooler: a connection per request (CONN_MAX_AGE, Celery)
#   session - PgBouncer in *session* mode
# Refused: ``transaction`` / ``statement`` pooling, which would run one tenant's
# query with another session's search_path. ``config.pooling`` also probes the
# live connection at start-up (deploy/entrypoint.sh) and refuses to start when
# session state does not survive across transactions.
NOVATIME_DB_POOL_MODE = env("NOVATIME_DB_POOL_MODE", default="django").lower()
if NOVATIME_DB_POOL_MODE not in {"direct", "django", "session"}:
    raise ImproperlyConfigured(
        f"NOVATIME_DB_POOL_MODE={NOVATIME_DB_POOL_MODE!r} is not supported: tenants are "
        "selected with a session-level search_path, so a transaction- or statement-mode "
        "pooler would mix schemas. Use 'direct', 'django' (psycopg pool) or a PgBouncer "
        "in 'session' mode."
    )
if NOVATIME_DB_POOL_MODE == "django":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool, not the process, keeps them
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }

REDIS_URL = env("REDIS_URL")  # no default: must be set
# Only where Redis is changes: the cache backend (ResilientRedisCache), the
# channel layer's timeouts and Celery's publish retries are base.py's, so a
# Redis outage degrades exactly as under the dev settings (tests/test_faults.py).
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL  # noqa: F405
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)

# --- Hosts and HTTPS -------------------------------------------------------------
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[NOVATIME_BASE_DOMAIN, f".{NOVATIME_BASE_DOMAIN}"],  # noqa: F405
)
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=[f"https://{NOVATIME_BASE_DOMAIN}", f"https://*.{NOVATIME_BASE_DOMAIN}"],  # noqa: F405
)
NOVATIME_URL_SCHEME = "https"
NOVATIME_URL_PORT = ""
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
# No SECURE_PROXY_SSL_HEADER: Django would believe X-Forwarded-Proto from
# anyone. The web server sets the ASGI scheme from it only for a peer in
# NOVATIME_TRUSTED_PROXIES (uvicorn's proxy headers, given gunicorn's
# forwarded_allow_ips, deploy/gunicorn.conf.py), and request.is_secure()
# reads that scheme. So the ingress that ends TLS must be listed there, or
# every request looks like plain HTTP (and SECURE_SSL_REDIRECT loops).
USE_X_FORWARDED_HOST = False  # the ingress passes the Host header through
# Health probes are answered before SecurityMiddleware, so they are never redirected.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True  # every organization lives on a subdomain
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_SAMESITE = "Lax"

# --- Request size limits --------------------------------------------------------
# Bodies above these are refused before a view parses them: 413
# ``payload_too_large`` (apps.common.errors; files of uploads are not counted).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=1000)

# --- Throttling -----------------------------------------------------------------
# Per client address for anonymous requests, per user for authenticated ones,
# on top of the scoped limits (login, signup, …) of base.py. Counters live in
# Redis, so they hold across processes and pods. The client address is
# config.client_ip's: X-Forwarded-For only from NOVATIME_TRUSTED_PROXIES (the
# ingress; base.py), the same list the web server is given.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.common.throttling.AnonRateThrottle",
        "apps.common.throttling.UserRateThrottle",
        "apps.common.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "anon": env("THROTTLE_ANON", default="120/min"),
        "user": env("THROTTLE_USER", default="1200/min"),
    },
}

ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# Staff reach the admin console only with a second factor (apps/iam/admin_site.py);
# stated here too so that production never depends on base.py's default.
NOVATIME_ADMIN_REQUIRE_OTP = env.bool("NOVATIME_ADMIN_REQUIRE_OTP", default=True)

# collectstatic runs in the image build; whitenoise serves hashed, compressed files.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False

# --- Observability -------------------------------------------------------------
# JSON logs on stdout (one object a line, with request id, tenant and user);
# Sentry for Django, Celery and the WebSocket stack when SENTRY_DSN is set.
LOGGING["root"]["handlers"] = ["json" if env("LOG_FORMAT", default="json") == "json" else "console"]  # noqa: F405
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    from config.observability import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        release=env("NOVATIME_RELEASE", default=None),
    )
