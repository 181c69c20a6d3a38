"""Who may see what in projects, beyond the view/manage split of the role table.

The API's permission class is ``IsOrganizationMember`` (``projects.view`` to
read, ``projects.manage`` to write); which projects a member sees is decided by
``selectors.visible_project_filter``. What is left is field-level: rates.
"""

from __future__ import annotations

from apps.organizations.models import Membership
from apps.time_entries.money import may_view_money


def may_view_rates(actor: Membership | None) -> bool:
    """Whether ``actor`` may see a project's rates and money figures
    (rates, budget amount, budget spent): money that is not the caller's own
    time, so managers and above only (the one money rule,
    :func:`apps.time_entries.money.may_view_money`). ``None`` may not."""
    return may_view_money(actor=actor, owner_ids=None)
