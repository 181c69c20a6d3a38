"""Factories for organization models (memberships of the session tenants)."""

import factory

from apps.iam.tests.factories import UserFactory
from apps.organizations.constants import Role
from apps.organizations.models import Membership


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER
