"""Settings for ``bench.scale_schemas``' release step: dev settings plus one
tenant app (``bench.scale_noop``) carrying one new no-op migration."""

from config.settings.dev import *  # noqa: F403
from config.settings.dev import INSTALLED_APPS, TENANT_APPS

TENANT_APPS = [*TENANT_APPS, "bench.scale_noop"]
INSTALLED_APPS = [*INSTALLED_APPS, "bench.scale_noop"]
