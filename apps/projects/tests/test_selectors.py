"""Selectors: the cycle walk and the earliest-finish rule of the timeline."""

from __future__ import annotations

import datetime

import pytest

from apps.projects.selectors import (
    _earliest_finish,
    project_dependency_would_cycle,
    users_by_id,
)

from .factories import ProjectDependencyFactory, ProjectFactory

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.mark.parametrize(
    ("start", "end", "earliest_start", "finish"),
    [
        (D(2026, 1, 1), D(2026, 1, 10), None, D(2026, 1, 10)),  # unconstrained
        (D(2026, 1, 1), D(2026, 1, 10), D(2025, 12, 1), D(2026, 1, 10)),  # constraint met
        (D(2026, 1, 1), D(2026, 1, 10), D(2026, 1, 5), D(2026, 1, 14)),  # pushed, same length
        (None, D(2026, 1, 10), D(2026, 1, 20), D(2026, 1, 20)),  # no length known
        (None, D(2026, 1, 10), D(2026, 1, 5), D(2026, 1, 10)),
        (D(2026, 1, 1), None, D(2026, 1, 5), D(2026, 1, 5)),  # no end: passes the start on
        (None, None, None, None),
    ],
)
def test_earliest_finish(start, end, earliest_start, finish):
    assert _earliest_finish(start, end, earliest_start) == finish


def test_would_cycle_walks_any_depth(in_tenant):
    chain = [ProjectFactory() for _ in range(6)]
    for later, earlier in zip(chain[1:], chain, strict=False):
        ProjectDependencyFactory(project=later, depends_on=earlier)
    first, last, loose = chain[0], chain[-1], ProjectFactory()

    assert project_dependency_would_cycle(project_id=first.pk, depends_on_id=last.pk)
    assert not project_dependency_would_cycle(project_id=last.pk, depends_on_id=first.pk)
    assert not project_dependency_would_cycle(project_id=first.pk, depends_on_id=loose.pk)


def test_users_by_id_without_ids_makes_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert users_by_id(user_ids=[None]) == {}
