"""App config for ``apps.billing``: Plans, subscriptions and Stripe webhooks (public schema)."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.organizations.signals import membership_changed

        from . import receivers, tasks  # noqa: F401  (registers the Celery tasks)

        membership_changed.connect(
            receivers.on_membership_changed, dispatch_uid="billing.membership_changed"
        )
