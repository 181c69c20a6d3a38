"""Test settings: real PostgreSQL and Redis (see README), fast hashing.

Tests run against the same database engine and Redis as production; only the
password hasher is swapped because argon2's cost is deliberate and would
dominate the suite's runtime.
"""

import os

from .base import *  # noqa: F403
from .base import CACHES, CHANNEL_LAYERS, DATABASES, NOVATIME_ENV_PREFIX

DEBUG = False
SECRET_KEY = "test-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Pool schemas are only built by the tests that exercise the pool.
NOVATIME_TENANT_POOL_SIZE = 0
# Two test runs on one Redis (CI beside a developer's run, two checkouts) must
# not read each other's cached tenants and memberships or hear each other's
# events: the prefix names the database this run uses (each run has its own).
# A server a test starts in a subprocess points DATABASE_URL at the test
# database itself (``test_<name>``): it must key Redis as the test does.
_DATABASE = str(DATABASES["default"]["NAME"]).removeprefix("test_")
# Under pytest-xdist each worker has its own test database (pytest-django
# suffixes it with the worker id) and so its own prefix, named the same way
# (a server the worker starts inherits the variable and the suffixed name).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER and not _DATABASE.endswith(f"_{_WORKER}"):
    _DATABASE = f"{_DATABASE}_{_WORKER}"
NOVATIME_ENV_PREFIX = f"{NOVATIME_ENV_PREFIX}-test-{_DATABASE}"
# base.py's cache (backend, timeouts) and channel layer under this run's prefix.
CACHES["default"]["KEY_PREFIX"] = NOVATIME_ENV_PREFIX
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{NOVATIME_ENV_PREFIX}:asgi"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_DEFAULT_QUEUE = f"{NOVATIME_ENV_PREFIX}-default"
STATIC_ROOT = None  # whitenoise serves from the finders; no var/static needed
# Production behaviour whatever .env says: staff need a second factor in the
# admin (tests that need otherwise use override_settings; it is read per request).
NOVATIME_ADMIN_REQUIRE_OTP = True
