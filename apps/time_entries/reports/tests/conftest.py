"""A small hand-checked week of time in ``acme`` shared by the report tests.

All on Monday 2026-03-02 (organization timezone UTC unless a test changes it):

======  =======  =====  ===========  ========  ====  ==========  ===============
entry   user     proj.  time         seconds   bill  rate        tags
======  =======  =====  ===========  ========  ====  ==========  ===============
e1      alice    A      09:00-10:30  5400      yes   100 → 150.00  dev, urgent
e2      alice    B      11:00-11:20  1200      yes   80  → 26.67   dev
e3      bob      A      08:50-08:57  420       no    100 (11.67)   (none)
e4      bob      A      10:00-12:00  7200      yes   100 → 200.00  meeting
======  =======  =====  ===========  ========  ====  ==========  ===============

Excluded: bob's running timer, alice's soft-deleted entry, an entry on 03-10.
Project A belongs to client "Xylo"; B has no client. e1 is on task "Design".
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Task

from .factories import at, make_entry


@pytest.fixture
def week(in_tenant: Any) -> SimpleNamespace:
    from apps.projects.models import Client

    alice = client_as(in_tenant, "manager")
    bob = client_as(in_tenant, "member")
    alice.user.first_name, alice.user.last_name = "Alice", "Archer"
    alice.user.save(update_fields=["first_name", "last_name"])
    bob.user.first_name, bob.user.last_name = "Bob", "Baker"
    bob.user.save(update_fields=["first_name", "last_name"])
    xylo = Client.objects.create(name="Xylo")
    project_a = ProjectFactory(name="Apollo", client=xylo)
    project_b = ProjectFactory(name="Borealis", client=None)
    design = Task.objects.create(project=project_a, title="Design")
    a, b = alice.user.pk, bob.user.pk
    e1 = make_entry(
        user_id=a,
        project=project_a,
        start=at("2026-03-02 09:00"),
        seconds=5400,
        rate="100",
        tags=["dev", "urgent"],
        task=design,
        description="Wireframes",
    )
    e2 = make_entry(
        user_id=a,
        project=project_b,
        start=at("2026-03-02 11:00"),
        seconds=1200,
        rate="80",
        tags=["dev"],
    )
    e3 = make_entry(
        user_id=b,
        project=project_a,
        start=at("2026-03-02 08:50"),
        seconds=420,
        rate="100",
        billable=False,
    )
    e4 = make_entry(
        user_id=b,
        project=project_a,
        start=at("2026-03-02 10:00"),
        seconds=7200,
        rate="100",
        tags=["meeting"],
    )
    make_entry(user_id=b, project=project_a, start=at("2026-03-02 13:00"), seconds=None, rate="100")
    make_entry(
        user_id=a,
        project=project_a,
        start=at("2026-03-02 14:00"),
        seconds=3600,
        rate="100",
        deleted=True,
    )
    make_entry(user_id=a, project=project_a, start=at("2026-03-10 09:00"), seconds=3600, rate="100")
    return SimpleNamespace(
        tenant=in_tenant,
        alice=alice,
        bob=bob,
        a=str(a),
        b=str(b),
        xylo=xylo,
        project_a=project_a,
        project_b=project_b,
        design=design,
        entries=[e1, e2, e3, e4],
    )
