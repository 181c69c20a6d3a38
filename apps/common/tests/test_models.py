"""Soft delete (``SoftDeleteModel``), exercised on ``projects.Client``."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.projects.models import Client
from apps.projects.tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def _names(qs) -> list[str]:
    return sorted(qs.values_list("name", flat=True))


def test_new_rows_are_alive_with_uuid_keys_and_timestamps(in_tenant):
    client = ClientFactory(name="Fresh")

    assert isinstance(client.pk, uuid.UUID)
    assert client.deleted_at is None
    assert client.created_at <= timezone.now()
    assert client.updated_at >= client.created_at


def test_soft_delete_hides_the_row_from_the_default_manager(in_tenant):
    kept = ClientFactory(name="Kept")
    gone = ClientFactory(name="Gone")
    before = gone.updated_at

    gone.soft_delete()

    gone.refresh_from_db(from_queryset=Client.all_objects.all())
    assert gone.deleted_at is not None
    assert gone.updated_at > before
    assert _names(Client.objects.all()) == ["Kept"]
    assert not Client.objects.filter(pk=gone.pk).exists()
    with pytest.raises(Client.DoesNotExist):
        Client.objects.get(pk=gone.pk)
    assert Client.objects.get(pk=kept.pk) == kept


def test_all_objects_sees_deleted_rows(in_tenant):
    ClientFactory(name="Kept")
    ClientFactory(name="Gone").soft_delete()

    assert _names(Client.all_objects.all()) == ["Gone", "Kept"]
    assert Client.all_objects.count() == 2
    assert Client.objects.count() == 1


def test_alive_and_deleted_querysets(in_tenant):
    ClientFactory(name="Alive 1")
    ClientFactory(name="Alive 2")
    ClientFactory(name="Dead").soft_delete()

    assert _names(Client.all_objects.alive()) == ["Alive 1", "Alive 2"]
    assert _names(Client.all_objects.deleted()) == ["Dead"]
    assert _names(Client.all_objects.filter(name__startswith="Alive").alive()) == [
        "Alive 1",
        "Alive 2",
    ]
    # The default manager has already dropped the deleted rows.
    assert _names(Client.objects.deleted()) == []
    assert _names(Client.objects.alive()) == ["Alive 1", "Alive 2"]


def test_restore_brings_the_row_back(in_tenant):
    client = ClientFactory(name="Phoenix")
    client.soft_delete()

    client.restore()

    assert Client.objects.get(pk=client.pk).deleted_at is None
    assert _names(Client.all_objects.deleted()) == []
    assert _names(Client.objects.all()) == ["Phoenix"]


def test_soft_delete_only_writes_deleted_at_and_updated_at(in_tenant):
    client = ClientFactory(name="Original")
    client.name = "Changed in memory only"

    client.soft_delete()

    assert Client.all_objects.get(pk=client.pk).name == "Original"


def test_a_deleted_row_frees_its_unique_name(in_tenant):
    ClientFactory(name="Initech").soft_delete()

    again = ClientFactory(name="initech")

    assert _names(Client.objects.all()) == ["initech"]
    assert Client.all_objects.filter(name__iexact="initech").count() == 2
    assert again.deleted_at is None


def test_two_alive_rows_with_the_same_name_are_refused(in_tenant):
    ClientFactory(name="Initech")

    with pytest.raises(IntegrityError), transaction.atomic():
        ClientFactory(name="INITECH")

    assert Client.all_objects.count() == 1


def test_restoring_onto_a_taken_name_is_refused(in_tenant):
    old = ClientFactory(name="Initech")
    old.soft_delete()
    ClientFactory(name="Initech")

    with pytest.raises(IntegrityError), transaction.atomic():
        old.restore()

    assert _names(Client.all_objects.deleted()) == ["Initech"]


def test_soft_deleted_rows_stay_in_their_tenant(in_tenant, other_tenant):
    from django_tenants.utils import tenant_context

    ClientFactory(name="Acme only").soft_delete()

    with tenant_context(other_tenant):
        assert Client.all_objects.count() == 0
    assert Client.all_objects.count() == 1
