"""Clients: create, update (archive), soft delete, restore."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction
from django.db.models import Q

from apps.common.errors import ApplicationError, ConflictError
from apps.time_entries.money import refuse_currency_change
from apps.websocket_server.events import send_event_on_commit

from .. import selectors
from ..models import Client, Project
from .checks import _client_currency, _locked, _save_unique
from .events import EVENT_CLIENT, _client_event_data

CLIENT_FIELDS = ("name", "contact_email", "notes", "currency", "is_archived")


def _client_name_taken_error() -> ApplicationError:
    """409 ``name_taken`` naming the field (the one status of the code, as
    on restore)."""
    message = "A client with this name already exists."
    return ConflictError(message, code="name_taken", extra={"fields": {"name": [message]}})


def _check_client(client: Client) -> None:
    if selectors.client_name_taken(name=client.name, exclude_id=client.pk):
        raise _client_name_taken_error()


def _save_client(client: Client, update_fields: Sequence[str] | None = None) -> None:
    _save_unique(
        client,
        constraint="projects_client_name_unique_alive",
        error=_client_name_taken_error,
        update_fields=update_fields,
    )


@transaction.atomic
def client_create(
    *,
    name: str,
    contact_email: str = "",
    notes: str = "",
    currency: str = "",
    is_archived: bool = False,
) -> Client:
    """A new client; its name is unique (any case) among live clients."""
    client = Client(
        name=name,
        contact_email=contact_email,
        notes=notes,
        currency=currency.upper(),
        is_archived=is_archived,
    )
    _check_client(client)
    _save_client(client)
    send_event_on_commit(type=EVENT_CLIENT, op="created", data=_client_event_data(client))
    return client


@transaction.atomic
def client_update(*, client: Client, data: Mapping[str, object]) -> Client:
    """Change the given fields (a partial update); archiving is ``is_archived``.

    409 ``currency_in_use`` when the currency change would relabel priced
    entries of its projects (``money.refuse_currency_change``)."""
    client = _locked(Client.objects.all(), client.pk)
    old_currency = _client_currency(client)
    changed = [f for f in CLIENT_FIELDS if f in data]
    for field in changed:
        setattr(client, field, data[field])
    client.currency = client.currency.upper()
    refuse_currency_change(
        old=old_currency,
        new=_client_currency(client),
        entries=Q(project__client_id=client.pk),
        what="Changing this client's currency",
        field="currency",
    )
    _check_client(client)
    _save_client(client, update_fields=[*changed, "updated_at"])
    send_event_on_commit(type=EVENT_CLIENT, op="updated", data=_client_event_data(client))
    return client


@transaction.atomic
def client_delete(*, client: Client) -> None:
    """Soft delete. Refused (409 ``client_in_use``) while live projects belong to
    the client: they would point at a client nobody can see or pick."""
    client = _locked(Client.objects.all(), client.pk)
    if Project.objects.filter(client=client).exists():
        raise ConflictError(
            "This client still has projects: move, or delete, them first.",
            code="client_in_use",
        )
    client.soft_delete()
    send_event_on_commit(type=EVENT_CLIENT, op="deleted", data=_client_event_data(client))


@transaction.atomic
def client_restore(*, client: Client) -> Client:
    """Bring a soft-deleted client back (a live one is returned unchanged).

    409 ``name_taken`` when a live client took its name meanwhile.
    """
    client = _locked(Client.all_objects.all(), client.pk)
    if client.deleted_at is None:
        return client
    if selectors.client_name_taken(name=client.name, exclude_id=client.pk):
        raise ConflictError("Another client has this name now: rename it first.", code="name_taken")
    client.restore()
    send_event_on_commit(type=EVENT_CLIENT, op="restored", data=_client_event_data(client))
    return client
