"""The demo organization the run command seeds (``tenants seed-demo``).

Idempotent: running it again keeps what exists and fills in what is missing.
Members are added through ``services.member_ensure`` (never by writing
``Membership`` rows), so the seats billing counts are the members shown.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal
from typing import TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.projects.models import Client, Project

from .constants import Role
from .demo_activity import seed_demo_activity
from .models import Organization
from .services import member_ensure, organization_create

logger = logging.getLogger(__name__)

DEMO_SLUG = "acme"
DEMO_PASSWORD = "novatime-demo"
DEMO_USERS = [
    ("owner@acme.test", "Olivia", "Owner", Role.OWNER),
    ("manager@acme.test", "Manuel", "Manager", Role.MANAGER),
    ("member@acme.test", "Mia", "Member", Role.MEMBER),
    ("admin@acme.test", "Arjun", "Patel", Role.ADMIN),
    ("lena@acme.test", "Lena", "Fischer", Role.MEMBER),
    ("tomas@acme.test", "Tomás", "Silva", Role.MEMBER),
    ("yuki@acme.test", "Yuki", "Tanaka", Role.MEMBER),
    ("sam@acme.test", "Sam", "Okafor", Role.MEMBER),
]
DEMO_CLIENTS: dict[str | None, list[tuple[str, str, str | None, str | None]]] = {
    "Globex Corporation": [
        ("Website redesign", "WEB", "95.00", "320"),
        ("Mobile app", "APP", "110.00", "600"),
    ],
    "Initech": [("Data migration", "MIG", "120.00", "120")],
    "Umbrella Health": [("Patient portal", "PAT", "105.00", "400")],
    None: [("Internal", "INT", None, None)],
}


class DemoAccess(TypedDict):
    """What a person needs to log in to the demo organization."""

    slug: str | None
    users: list[str]
    password: str


def seed_demo() -> DemoAccess:
    """Create (or complete) the demo organization; returns what a person needs."""
    User = get_user_model()
    org = Organization.objects.filter(slug=DEMO_SLUG).first()
    if org is None:
        provisioned = organization_create(
            slug=DEMO_SLUG,
            name="Acme Inc.",
            owner_email=DEMO_USERS[0][0],
            owner_password=DEMO_PASSWORD,
            timezone="Europe/Berlin",
            currency="EUR",
        )
        org = provisioned.tenant
    hashed = ""  # one password hash for every demo user: hashing costs ~0.3 s each
    with transaction.atomic():
        for email, first, last, role in DEMO_USERS:
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                hashed = hashed or make_password(DEMO_PASSWORD)
                user = User.objects.create_user(email=email, password=None)
                user.password = hashed
                user.save(update_fields=["password"])
            user.first_name, user.last_name = first, last
            user.save(update_fields=["first_name", "last_name"])
            # Through the membership service, like any other new member: the
            # plan's member limit, and membership_changed after commit, so
            # billing's seat count is the number of members (it stayed at 1).
            member_ensure(organization=org, user=user, role=role)
        with tenant_context(org):
            today = datetime.date.today()
            for client_name, projects in DEMO_CLIENTS.items():
                client = None
                if client_name:
                    client, _ = Client.objects.get_or_create(
                        name=client_name, defaults={"contact_email": "billing@example.com"}
                    )
                for name, code, rate, budget in projects:
                    Project.objects.get_or_create(
                        name=name,
                        client=client,
                        defaults={
                            "code": code,
                            "hourly_rate": Decimal(rate) if rate else None,
                            "budget_hours": Decimal(budget) if budget else None,
                            "billable": rate is not None,
                            "start_date": today - datetime.timedelta(days=30),
                        },
                    )
            # Work a visitor can click through: tasks, a few weeks of entries, a
            # submitted timesheet waiting for the manager, a chat channel.
            seed_demo_activity(org)
    logger.info("demo organization %s ready", org.slug)
    return {
        "slug": org.slug,
        "users": [u[0] for u in DEMO_USERS],
        "password": DEMO_PASSWORD,
    }
