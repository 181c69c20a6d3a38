"""Factories for projects (use inside a tenant schema), and API clients acting
as a given role on an organization's host."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory

from apps.iam.tests.factories import UserFactory
from apps.organizations.tests.factories import client_as
from apps.projects.models import Client, Milestone, Project, ProjectDependency, ProjectMember


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    contact_email = factory.Faker("email")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    client = factory.SubFactory(ClientFactory)
    hourly_rate = Decimal("100.00")


class ProjectMemberFactory(factory.django.DjangoModelFactory):
    """Pass ``user_id`` of someone with a ``Membership`` in the organization."""

    class Meta:
        model = ProjectMember

    project = factory.SubFactory(ProjectFactory)
    user_id = factory.LazyFunction(lambda: UserFactory().pk)


class MilestoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Milestone

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Milestone {n}")
    due_date = datetime.date(2026, 6, 30)


class ProjectDependencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectDependency

    project = factory.SubFactory(ProjectFactory)
    depends_on = factory.SubFactory(ProjectFactory)


__all__ = ["client_as"]  # re-exported for the projects tests
