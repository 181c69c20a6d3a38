"""Factories and helpers for task tests (use inside a tenant schema)."""

from __future__ import annotations

from typing import Any

import factory

from apps.iam.tests.factories import UserFactory
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.models import Project, ProjectMember
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Label, Task, TaskAssignee, TaskComment


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    name = factory.Sequence(lambda n: f"label-{n}")


class TaskFactory(factory.django.DjangoModelFactory):
    """A task; ``assignees=[user_id, ...]`` and ``labels=[label, ...]`` add links."""

    class Meta:
        model = Task
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
    position = factory.Sequence(lambda n: float((n + 1) * 1024))

    @factory.post_generation
    def assignees(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        for user_id in extracted or ():
            TaskAssignee.objects.create(task=self, user_id=user_id)

    @factory.post_generation
    def labels(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if extracted:
            self.labels.set(extracted)


class TaskCommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskComment

    task = factory.SubFactory(TaskFactory)
    author_id = factory.LazyFunction(lambda: UserFactory().pk)
    body = "Looks good."


def member_of(tenant: Any, role: str = "member", **kwargs: Any) -> Membership:
    """An active membership with ``role`` in ``tenant`` (a new user)."""
    return MembershipFactory(organization=tenant, role=role, **kwargs)


def join_project(project: Project, membership: Membership) -> ProjectMember:
    return ProjectMember.objects.create(project=project, user_id=membership.user_id)


__all__ = ["client_as"]  # re-exported for the tasks tests
