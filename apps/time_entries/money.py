"""Money in NovaTime: who may see it, and which currency it is in.

Every output that carries money (time entries, reports and their exports,
timesheets and their approval snapshots, project rates and budgets, the AI
summary and insights) asks :func:`may_view_money`; nothing re-implements it.
Realtime events carry no money at all (their audience is not filtered by role).

**Visibility.** Money is shown to roles with ``rates.view`` (managers and
above) always. Other roles (members, viewers) see it only on money made of
*their own* time, and only when the organization sets ``members_see_rates``.
Money that is not one person's own time (a project's rates or budget spent, a
team total, another member's rate, the organization's default rate) is for
``rates.view`` alone.

**Currency.** An entry's amount is in its project's currency: the client's
``currency`` when the project has a client that sets one, else the
organization's ``currency`` (the rule ``ProjectSerializer.currency`` shows).
Amounts in different currencies are never added together: totals are lists of
``{"currency", "amount"}`` (:func:`currency_totals`), and the single-amount
fields clients already read keep their value only when one currency is
present (:func:`single_amount`).

**A currency in use does not change.** The currency is read from the client
(or the organization) when an amount is shown, not stored with the entry, so
changing it would relabel past amounts (USD 350.00 shown as JPY 350.00) while
approved timesheet snapshots keep the old label. :func:`refuse_currency_change`
is the one check: 409 ``currency_in_use`` when entries with a price would
change currency (a client's currency, a project moved to a client in another
currency, the organization's currency for its projects without one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, NullIf

from apps.common.errors import ConflictError
from apps.organizations.permissions import may

if TYPE_CHECKING:
    from apps.organizations.models import Membership, Organization
    from apps.projects.models import Client, Project

CENT = Decimal("0.01")


def may_view_money(
    *,
    actor: Membership | None,
    owner_ids: Iterable[uuid.UUID | str] | None = None,
    organization: Organization | None = None,
) -> bool:
    """Whether the acting member may see money made of the time of ``owner_ids``.

    ``owner_ids`` lists whose time the money comes from; ``None`` means money
    that is not one person's own (rates, budgets, team totals). ``organization``
    defaults to the actor's (pass it when it is at hand, to spare a query).
    ``None`` as actor (the OpenAPI generator, anonymous) sees nothing.
    """
    if actor is None:
        return False
    if may(actor, "rates.view"):
        return True
    if owner_ids is None:
        return False
    if organization is None:
        organization = actor.organization
    if not getattr(organization, "members_see_rates", False):
        return False
    own = str(actor.user_id)
    return all(str(owner) == own for owner in owner_ids)


# --- currency ----------------------------------------------------------------------


def client_currency(client: Client | None, *, default: str) -> str:
    """The currency of amounts of a project with ``client`` (``None``: no
    client): the client's when set, else ``default`` (the organization's)."""
    if client is not None and client.currency:
        return str(client.currency)
    return default


def project_currency(project: Project, *, default: str) -> str:
    """The currency of ``project``'s amounts (its entries', its budget's)."""
    return client_currency(project.client, default=default)


def entry_currency_expression(
    organization: Organization, *, project_prefix: str = "project__"
) -> Coalesce:
    """The currency of an entry's amount as an ORM expression (``project_prefix``
    leads from the queried model to the entry's project)."""
    return Coalesce(
        NullIf(F(f"{project_prefix}client__currency"), Value("")),
        Value(str(organization.currency)),
    )


def entry_currency_sql(*, client_alias: str) -> str:
    """The same rule in SQL over a ``LEFT JOIN projects_client`` aliased
    ``client_alias``; one ``%s`` parameter: the organization's currency."""
    return f"COALESCE(NULLIF({client_alias}.currency, ''), %s)"


def priced_entries_exist(entries: Q) -> bool:
    """Whether entries matching ``entries`` (not soft-deleted) carry a price:
    an amount, or a rate that a rounded report turns into one."""
    from apps.time_entries.models import TimeEntry

    return (
        TimeEntry.all_objects.filter(entries, deleted_at__isnull=True)
        .filter(Q(amount__isnull=False) | Q(hourly_rate__isnull=False))
        .exists()
    )


def refuse_currency_change(*, old: str, new: str, entries: Q, what: str, field: str) -> None:
    """409 ``currency_in_use`` (naming ``field``) when the effective currency
    of ``entries`` would go from ``old`` to ``new`` while some of them are
    priced (their amounts would be relabelled, see the module doc). ``what``
    names the change for the message."""
    if old == new or not priced_entries_exist(entries):
        return
    message = (
        f"{what} would change the currency of priced time entries from {old} to {new}: "
        "their amounts would be relabelled, not converted. Use a new client or project "
        "for work in the new currency."
    )
    raise ConflictError(message, code="currency_in_use", extra={"fields": {field: [message]}})


def currency_totals(amounts: Mapping[str, Decimal | str]) -> list[dict[str, str]]:
    """``{currency: amount}`` as the API's list, sorted by currency, amounts as
    exact two-decimal strings."""
    return [
        {"currency": currency, "amount": str(Decimal(amounts[currency]).quantize(CENT))}
        for currency in sorted(amounts)
    ]


def single_amount(totals: list[dict[str, str]]) -> str | None:
    """The backwards-compatible single-amount field of ``totals``: the amount
    when one currency is present, ``"0.00"`` when none is, ``None`` when
    several are (their sum would mean nothing)."""
    if not totals:
        return "0.00"
    if len(totals) == 1:
        return totals[0]["amount"]
    return None


def single_currency(totals: list[dict[str, str]], default: str) -> str | None:
    """The currency :func:`single_amount` is in (``default``, the organization's,
    when no money is present; ``None`` when several currencies are)."""
    if not totals:
        return default
    if len(totals) == 1:
        return totals[0]["currency"]
    return None
