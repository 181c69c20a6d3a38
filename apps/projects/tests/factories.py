"""Factories for projects (use inside a tenant schema)."""

from decimal import Decimal

import factory

from apps.projects.models import Client, Project


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
