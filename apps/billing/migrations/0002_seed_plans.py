"""Seed the three plans. Stripe price ids are not stored (see Plan.stripe_price_id)."""

from decimal import Decimal

from django.db import migrations

PLANS = [
    {
        "code": "free",
        "name": "Free",
        "description": "Up to 3 members and 5 projects. No AI features.",
        "max_members": 3,
        "max_projects": 5,
        "ai_enabled": False,
        "sso_enabled": False,
        "price_per_seat": Decimal("0.00"),
        "sort_order": 0,
    },
    {
        "code": "pro",
        "name": "Pro",
        "description": "Per seat. Up to 50 members, unlimited projects, AI features.",
        "max_members": 50,
        "max_projects": None,
        "ai_enabled": True,
        "sso_enabled": False,
        "price_per_seat": Decimal("9.00"),
        "sort_order": 1,
    },
    {
        "code": "business",
        "name": "Business",
        "description": "Per seat. Unlimited members and projects, AI features, SSO-ready.",
        "max_members": None,
        "max_projects": None,
        "ai_enabled": True,
        "sso_enabled": True,
        "price_per_seat": Decimal("19.00"),
        "sort_order": 2,
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for row in PLANS:
        Plan.objects.update_or_create(code=row["code"], defaults=row)


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(
        code__in=[p["code"] for p in PLANS], subscriptions__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
