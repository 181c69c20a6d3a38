"""``django.contrib.admin`` with NovaTime's site as the default ``admin.site``.

Listed in ``INSTALLED_APPS`` instead of ``"django.contrib.admin"`` (same app,
label ``admin``, autodiscovery included). The site class is named by its path
and imported when ``admin.site`` is first used, after the app registry is
ready: ``apps.iam.admin_site`` imports forms that need the user model.
"""

from django.contrib.admin.apps import AdminConfig


class NovaTimeAdminConfig(AdminConfig):
    default_site = "apps.iam.admin_site.NovaTimeAdminSite"
