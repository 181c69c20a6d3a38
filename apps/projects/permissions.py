"""Who may see what in projects, beyond the view/manage split of the role table.

The API's permission class is ``IsOrganizationMember`` (``projects.view`` to
read, ``projects.manage`` to write); which projects a member sees is decided by
``selectors.visible_project_filter``. What is left is field-level: rates.
"""

from __future__ import annotations

from typing import Any

from apps.organizations.constants import role_has


def may_view_rates(membership: Any | None) -> bool:
    """Whether ``membership`` may see hourly rates and money figures
    (``rates.view``: managers and above). ``None`` (no membership) may not."""
    return membership is not None and role_has(membership.role, "rates.view")
