"""Settings shared by every environment.

Everything that differs between machines is read from the environment with
django-environ; the defaults here are the development ones, and
``production.py`` removes the defaults of anything secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ

from config.client_ip import parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-secret-key-change-me")

# --- Hosts -----------------------------------------------------------------
# Organizations live on <slug>.<base>; the bare base host and www.<base> serve
# the public API. ``.localhost`` resolves to 127.0.0.1 in browsers, so
# acme.localhost:8000 works in development without touching /etc/hosts.
NOVATIME_BASE_DOMAIN = env("NOVATIME_BASE_DOMAIN", default="localhost").lower().strip(".")
NOVATIME_URL_SCHEME = env("NOVATIME_URL_SCHEME", default="http")
NOVATIME_URL_PORT = env("NOVATIME_URL_PORT", default="8000")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[NOVATIME_BASE_DOMAIN, f".{NOVATIME_BASE_DOMAIN}", "127.0.0.1"],
)

# --- Applications ------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "apps.common",
    "apps.iam",
    "apps.organizations",
    "apps.billing",
    # django.contrib.admin whose admin.site requires a second factor for staff
    # (apps/iam/admin_site.py, NOVATIME_ADMIN_REQUIRE_OTP below).
    "apps.iam.admin_config.NovaTimeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",  # imported by dj-rest-auth; NovaTime uses iam.AuthToken
    "allauth",
    "allauth.account",
    "allauth.socialaccount",  # dj-rest-auth registration imports it (SSO later)
    "dj_rest_auth",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "dj_rest_auth.registration",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "apps.websocket_server",
    "django_htmx",  # the web app: request.htmx, htmx.min.js among the static files
    "csp",  # the web app: Content-Security-Policy header
]
TENANT_APPS = [
    "apps.projects",
    "apps.tasks",
    "apps.time_entries",
    "apps.timesheets",
    "apps.chat",
    "apps.ai_services",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "organizations.Organization"
TENANT_DOMAIN_MODEL = "organizations.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# The connection remembers the search_path it last set and skips re-sending it.
TENANT_LIMIT_SET_CALLS = True

# Schema provisioning (see tenants/README.md).
NOVATIME_TEMPLATE_SCHEMA = env("NOVATIME_TEMPLATE_SCHEMA", default="tpl_novatime")
NOVATIME_TENANT_POOL_SIZE = env.int("NOVATIME_TENANT_POOL_SIZE", default=3)
NOVATIME_PG_BIN_DIR = env("NOVATIME_PG_BIN_DIR", default="")
NOVATIME_TENANT_CACHE_TTL = env.int("NOVATIME_TENANT_CACHE_TTL", default=300)

MIDDLEWARE = [
    # Request id + log context, then metrics (both see every request, probes too).
    "config.observability.RequestIdMiddleware",
    "apps.common.metrics.MetricsMiddleware",
    "apps.common.health.HealthCheckMiddleware",
    # Hostile query strings (NUL, too many parameters) refused before any lookup.
    "apps.common.middleware.HostileInputMiddleware",
    "tenants.middleware.TenantResolutionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # admin CSS/JS without a web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # After the user is known: the user's language (else Accept-Language, as
    # Django's LocaleMiddleware) and, on web pages, the user's time zone.
    "apps.iam.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The web app's shared layout and components (templates/base.html, ...),
        # then each app's pages, beside its api/ (apps/<app>/web/templates).
        "DIRS": [BASE_DIR / "templates", *sorted((BASE_DIR / "apps").glob("*/web/templates"))],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.iam.web.context.navigation",
            ],
            # Django's date and time filters, same output, a tenth of the cost.
            "builtins": ["apps.common.templatetags.fast_builtins"],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
#: HTTP requests each ASGI process runs inside Django at once; more wait on the
#: event loop (config/admission.py). 0 turns the limit off. The slow lane (AI,
#: reports, exports, imports, billing, login, admin) has slots of its own.
NOVATIME_HTTP_CONCURRENCY = env.int("NOVATIME_HTTP_CONCURRENCY", default=1)
NOVATIME_HTTP_SLOW_CONCURRENCY = env.int("NOVATIME_HTTP_SLOW_CONCURRENCY", default=2)

#: Proxies whose X-Forwarded-For is believed (IPs or CIDR networks, comma-
#: separated); empty trusts nobody: the client is the peer address. Every
#: per-address decision (throttles, login lockout, allauth's rate limits, the
#: /metrics allow-list) goes through config.client_ip, and deploy/gunicorn.conf.py
#: gives uvicorn the same list. A bad entry stops the process here.
NOVATIME_TRUSTED_PROXIES = [
    str(network)
    for network in parse_trusted_proxies(env.list("NOVATIME_TRUSTED_PROXIES", default=[]))
]

# --- Database ----------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/novatime"),
}
# django-tenants' backend, trusting the search_path a pooled connection comes
# back with when it is certain (tenants/db_backend/base.py) ...
DATABASES["default"]["ENGINE"] = "tenants.db_backend"
# ... wrapping Django's backend with a cheaper pool health check.
ORIGINAL_BACKEND = "config.db_backend"
#: A pooled connection is health-checked when lent out only after sitting idle
#: this long (config/db_backend/base.py; PgBouncer's server_check_delay).
NOVATIME_DB_POOL_CHECK_IDLE_SECONDS = env.float("NOVATIME_DB_POOL_CHECK_IDLE_SECONDS", default=5.0)
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env.bool("DB_POOL", default=False):
    # Django's psycopg pool. The search_path is per session, so a pooled
    # connection may arrive with another tenant's path: django-tenants forgets
    # its cached path whenever a connection is (re)opened, and the connection
    # safety tests cover this mode too.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 2, "max_size": 10, "timeout": 10}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, channels, celery -----------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
NOVATIME_ENV_PREFIX = env("NOVATIME_ENV_PREFIX", default="novatime")
# One cache configuration for every settings module (dev, test, production
# only change where it points): a Redis outage degrades the same way
# everywhere. ResilientRedisCache treats an unreachable Redis as an empty cache
# (reads miss, writes are dropped, 0.5 s socket timeouts) instead of failing
# every request; config/resilience.py lists what that means for tenant
# resolution, throttles, login lockout and socket tickets. It keeps one Redis
# client and pool per process (tests/test_cache_clients.py).
CACHES = {
    "default": {
        "BACKEND": "config.resilience.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": NOVATIME_ENV_PREFIX,
        "TIMEOUT": 300,
    },
}
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # Read timeout above the layer's 5 s blocking receive: redis-py's
            # default equals it, and idle sockets then dropped on timeouts.
            # A connect to an unreachable Redis gives up after 2 s (the
            # socket is then refused with 1013, apps/websocket_server).
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}],
            "prefix": f"{NOVATIME_ENV_PREFIX}:asgi",
            "capacity": 1000,
            "expiry": 60,
            "group_expiry": 86400,
        },
    },
}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = f"{NOVATIME_ENV_PREFIX}-default"
# Sending a task retries the broker for about 2 s before giving up (then
# config.resilience.PublishSafeTask logs and counts it): the same in every
# environment, so a broker outage degrades alike under dev and production.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 4,
    "interval_start": 0.1,
    "interval_step": 0.3,
    "interval_max": 1.0,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
# Periodic jobs. Each ``*_all_tenants`` task runs in the public schema and
# enqueues one task per serving organization (tenant-schemas-celery carries the
# schema), so a slow tenant never delays the others and no task sees two schemas.
CELERY_BEAT_SCHEDULE = {
    "tenants-pool-refill": {
        "task": "tenants.pool_refill",
        "schedule": 300.0,
    },
    "time-entries-forgotten-timers": {
        "task": "time_entries.forgotten_timers_all_tenants",
        "schedule": 900.0,
    },
    "timesheets-reminders": {
        "task": "timesheets.reminders_all_tenants",
        "schedule": 3600.0,
    },
    "ai-automation-rules": {
        "task": "ai_services.automation_all_tenants",
        "schedule": 900.0,
    },
    "websocket-presence-sweep": {
        "task": "websocket_server.presence_sweep",
        "schedule": 60.0,
    },
    "billing-dunning": {
        "task": "billing.dunning_sweep",
        "schedule": 3600.0,
    },
}

# --- Auth ------------------------------------------------------------------
AUTH_USER_MODEL = "iam.User"
PASSWORD_HASHERS = [
    "apps.iam.hashers.NovaTimeArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# argon2id parameters (memory in KiB): OWASP's baseline, see apps/iam/hashers.py.
NOVATIME_ARGON2 = {
    "time_cost": env.int("ARGON2_TIME_COST", default=2),
    "memory_cost": env.int("ARGON2_MEMORY_KIB", default=19456),
    "parallelism": env.int("ARGON2_PARALLELISM", default=1),
}
# One backend: email + password, refusing locked accounts (apps/iam/lockout.py).
# allauth's backend is left out on purpose: it would check a failed password a
# second time (another argon2 hash per failure) for the same result.
AUTHENTICATION_BACKENDS = ["apps.iam.lockout.LockoutBackend"]
# Failed logins before a lock, per account and per client address; lock length.
NOVATIME_LOGIN_LOCKOUT = {
    "ACCOUNT_FAILURES": env.int("LOGIN_LOCKOUT_ACCOUNT_FAILURES", default=5),
    "IP_FAILURES": env.int("LOGIN_LOCKOUT_IP_FAILURES", default=50),
    "SECONDS": env.int("LOGIN_LOCKOUT_SECONDS", default=900),
}

# django-allauth: email is the login; verification optional in dev, mandatory
# in production (production.py).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[NovaTime] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = NOVATIME_URL_SCHEME
# allauth's rate limits (password reset, confirmation emails) count per
# config.client_ip address, like every other per-address limit.
ACCOUNT_ADAPTER = "apps.iam.adapters.AccountAdapter"
# dj-rest-auth: per-login hashed tokens (apps.iam.tokens) plus the session cookie.
REST_AUTH = {
    "LOGIN_SERIALIZER": "apps.iam.api.serializers.LoginSerializer",
    "TOKEN_SERIALIZER": "apps.iam.api.serializers.TokenSerializer",
    "USER_DETAILS_SERIALIZER": "apps.iam.api.serializers.UserDetailsSerializer",
    "REGISTER_SERIALIZER": "apps.iam.api.serializers.RegisterSerializer",
    "TOKEN_MODEL": "apps.iam.models.AuthToken",
    "TOKEN_CREATOR": "apps.iam.tokens.login_token_creator",
    "SESSION_LOGIN": True,
    "OLD_PASSWORD_FIELD_ENABLED": True,
    "LOGOUT_ON_PASSWORD_CHANGE": False,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Host-only cookies: a session or CSRF cookie set on acme.<base> is never sent
# to globex.<base> or the public host (UI.md "Sessions are per host"). The web
# sign-in also binds the session to its organization (apps/iam/web/access.py),
# so a session id carried to another host by hand is refused there too.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
# Clickjacking: no page may be framed (frame-ancestors 'none' in the CSP too).
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every response: scripts and styles
# only from the app's own static files, no inline script or style. The admin
# and the Swagger UI page are Django's/drf-spectacular's own templates, left
# with their frame protection only.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/", "/api/docs/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=[
        f"{NOVATIME_URL_SCHEME}://{NOVATIME_BASE_DOMAIN}:{NOVATIME_URL_PORT}",
        f"{NOVATIME_URL_SCHEME}://*.{NOVATIME_BASE_DOMAIN}:{NOVATIME_URL_PORT}",
        f"https://{NOVATIME_BASE_DOMAIN}",
        f"https://*.{NOVATIME_BASE_DOMAIN}",
    ],
)

# --- REST API ----------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.organizations.authentication.OrganizationTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.common.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers behind one untrusted-input check (apps/common/parsers.py):
    # JSON depth <= 64, no NUL/lone surrogates, finite numbers.
    "DEFAULT_PARSER_CLASSES": [
        "apps.common.parsers.JSONParser",
        "apps.common.parsers.FormParser",
        "apps.common.parsers.MultiPartParser",
    ],
    # DRF's throttles counting per config.client_ip address (never a
    # client-written X-Forwarded-For, see NOVATIME_TRUSTED_PROXIES).
    "DEFAULT_THROTTLE_CLASSES": ["apps.common.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "login": env("THROTTLE_LOGIN", default="20/min"),
        "dj_rest_auth": env("THROTTLE_AUTH", default="30/min"),
        "signup": env("THROTTLE_SIGNUP", default="10/hour"),
        "invitation_accept": env("THROTTLE_INVITATION_ACCEPT", default="30/hour"),
        "realtime_ticket": env("THROTTLE_REALTIME_TICKET", default="30/min"),
        "heartbeat": env("THROTTLE_HEARTBEAT", default="120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NovaTime API",
    "DESCRIPTION": (
        "Multi-tenant time tracking and work management. Public endpoints live on "
        "the base host; organization endpoints on <slug>.<base>."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ works offline and under a strict CSP: assets from the app.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "MembershipStatusEnum": "apps.organizations.constants.MembershipStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.openapi.add_error_responses",
    ],
}

# --- i18n / time -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The web app's languages (#20), each named in itself; a user picks one on
# /account/ (User.language), else the browser's Accept-Language decides
# (apps.iam.middleware.UserLocaleMiddleware). The catalogs live in locale/
# (refresh and compile: apps/iam/README.md "Translations").
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
# The web app's shared assets (static/app.css, static/app.js); apps' own under
# apps/<app>/static. Production serves them fingerprinted (production.py).
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT: Path | None = VAR_DIR / "static"  # None in tests (config/settings/test.py)
# Serve straight from the apps' static dirs when collectstatic has not run
# (dev, tests); production runs collectstatic and turns this off.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# Dev default: every outgoing email is written as a file under var/mail/.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="filemail://" + str(VAR_DIR / "mail"))
if EMAIL_CONFIG["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
    # django-environ drops the leading slash of an absolute path.
    EMAIL_CONFIG["EMAIL_FILE_PATH"] = "/" + EMAIL_CONFIG["EMAIL_FILE_PATH"].lstrip("/")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="NovaTime <no-reply@novatime.local>")

# --- Logging -----------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object a line; request_id/tenant/user_id from the filter below.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {
        "request_context": {"()": "config.observability.RequestContextFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}

SENTRY_DSN = env("SENTRY_DSN", default="")
# /metrics: bearer token; unset → answered only to loopback/private addresses.
NOVATIME_METRICS_TOKEN = env("NOVATIME_METRICS_TOKEN", default="")
NOVATIME_METRICS_TENANT_BUCKETS = env.int("NOVATIME_METRICS_TENANT_BUCKETS", default=64)

# --- Billing (apps.billing) ---------------------------------------------------
# Unset keys disable checkout/portal with 503 ``billing_not_configured``.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_PRICES = {
    "pro": env("STRIPE_PRICE_PRO", default=""),
    "business": env("STRIPE_PRICE_BUSINESS", default=""),
}
NOVATIME_TRIAL_DAYS = env.int("NOVATIME_TRIAL_DAYS", default=14)
NOVATIME_PAST_DUE_GRACE_DAYS = env.int("NOVATIME_PAST_DUE_GRACE_DAYS", default=7)

# --- AI (apps.ai_services) ----------------------------------------------------
# An OpenAI-compatible chat-completions endpoint; unset → local summarizer only.
LLM_BASE_URL = env("LLM_BASE_URL", default="")
LLM_API_KEY = env("LLM_API_KEY", default="")
LLM_MODEL = env("LLM_MODEL", default="gpt-4o-mini")
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=20.0)
NOVATIME_AI_MODEL_DIR = env("NOVATIME_AI_MODEL_DIR", default=str(BASE_DIR / "var" / "ai-models"))

# Writes still accepted while an organization is suspended/cancelled, so that
# an owner can settle billing and people can sign out.
NOVATIME_READ_ONLY_ALLOWED_PATHS = ("/api/v1/billing/", "/api/v1/auth/logout/")

# Two-factor (django-otp): issuer shown in authenticator apps.
OTP_TOTP_ISSUER = "NovaTime"
#: The platform admin console (/admin/ on the public host) lets staff in only
#: with a session verified by a second factor: its login form asks for the code
#: (apps/iam/admin_site.py). Read per request. Off: password-only, as Django's
#: stock admin; meant for nothing but throwaway local setups.
NOVATIME_ADMIN_REQUIRE_OTP = env.bool("NOVATIME_ADMIN_REQUIRE_OTP", default=True)
# django-otp's device admin shows no TOTP secret (nor its QR code) of an
# existing device: staff could otherwise read anyone's second factor.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# tenants/ never imports apps/: the CLI reaches business code through these.
NOVATIME_TENANT_HOOKS = {
    "create": "apps.organizations.services.organization_create",
    "seed_demo": "apps.organizations.demo.seed_demo",
    # An operator's suspension and its lifting (CLI; the admin calls the same).
    "suspend": "apps.organizations.services.organization_suspend",
    "resume": "apps.organizations.services.organization_resume",
    # (code, message) of the 402 on a write to a read-only tenant, or None (billing).
    "read_only_reason": "apps.billing.selectors.read_only_reason",
}

# Last resort of the run command when no Redis can be had (not even the
# embedded one): per-process cache and channel layer, Celery tasks run inline.
# Realtime then only reaches sockets on the same process; the command says so.
if env.bool("NOVATIME_IN_MEMORY", default=False):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_TASK_ALWAYS_EAGER = True
