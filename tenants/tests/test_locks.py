"""tenant_xact_lock: held until commit, per schema."""

import pytest
from django_tenants.utils import tenant_context

from tenants.locks import tenant_lock_key, tenant_xact_lock
from tenants.testing import advisory_lock_free_elsewhere as _free_elsewhere


@pytest.mark.django_db
def test_lock_is_held_for_this_schema_only(tenant, other_tenant):
    with tenant_context(tenant):
        tenant_xact_lock("projects.dependencies")
    assert not _free_elsewhere(f"{tenant.schema_name}:projects.dependencies")
    assert _free_elsewhere(f"{other_tenant.schema_name}:projects.dependencies")
    assert _free_elsewhere(f"{tenant.schema_name}:tasks.tree")


def test_lock_outside_a_transaction_is_refused(django_db_blocker):
    with django_db_blocker.unblock(), pytest.raises(RuntimeError):
        tenant_xact_lock("anything")
    # The key for a query that takes the lock itself is refused the same way.
    with django_db_blocker.unblock(), pytest.raises(RuntimeError):
        tenant_lock_key("anything")
