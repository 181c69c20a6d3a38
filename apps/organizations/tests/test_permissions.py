"""The permission module is the one place roles are compared (#19).

``require``/``may`` answer from ``PERMISSIONS``; the README's table is that
table; no other module of the application compares roles by rank or checks
the acting member's role by name.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from apps.common.errors import RoleRequiredError
from apps.organizations.constants import Role
from apps.organizations.permissions import PERMISSIONS, ROLE_RANK, may, require, role_has

ROOT = Path(__file__).resolve().parents[3]
ROLES = [Role.VIEWER, Role.MEMBER, Role.MANAGER, Role.ADMIN, Role.OWNER]


def _actor(role: Role) -> Any:
    return cast(Any, SimpleNamespace(role=role))


@pytest.mark.parametrize("permission", sorted(PERMISSIONS))
def test_require_follows_the_table_for_every_role(permission: str) -> None:
    weakest = PERMISSIONS[permission]
    for role in ROLES:
        holds = ROLE_RANK[role] >= ROLE_RANK[weakest]
        assert may(_actor(role), permission) is holds
        if holds:
            require(_actor(role), permission)
        else:
            with pytest.raises(RoleRequiredError) as refused:
                require(_actor(role), permission)
            assert refused.value.status_code == 403
            assert refused.value.code == "role_required"
            assert refused.value.extra == {"permission": permission}


def test_no_actor_and_unknown_permissions_are_refused() -> None:
    assert may(None, "organization.view") is False
    with pytest.raises(RoleRequiredError):
        require(None, "organization.view")
    assert role_has(Role.OWNER, "no.such_permission") is False  # a typo refuses


def test_the_readme_table_is_the_permission_table() -> None:
    text = (ROOT / "apps/organizations/README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| [^|]+\|((?: *✓? *\|){5})$", text, re.M)
    documented = {}
    for name, cells in rows:
        ticks = [cell.strip() == "✓" for cell in cells.strip("|").split("|")]
        documented[name] = ROLES[ticks.index(True)]
        assert ticks == [i >= ticks.index(True) for i in range(5)], name
    assert documented == PERMISSIONS


def test_no_role_comparison_outside_the_permission_module() -> None:
    """Rank comparisons and checks of the acting member's role by name live in
    permissions.py only (a target's role, e.g. "is the last owner", is data)."""
    offenders = []
    for path in (ROOT / "apps").rglob("*.py"):
        relative = path.relative_to(ROOT)
        if "tests" in relative.parts or "migrations" in relative.parts:
            continue
        if relative == Path("apps/organizations/permissions.py"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "ROLE_RANK" in line or re.search(r"\bactor\w*\.role\s*(==|!=|>|<|in\b)", line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
