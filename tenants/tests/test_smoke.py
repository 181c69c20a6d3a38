def test_session_tenants_exist(tenant, other_tenant):
    assert tenant.slug == "acme"
    assert other_tenant.slug == "globex"
    assert tenant.schema_name != other_tenant.schema_name
