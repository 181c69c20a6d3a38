"""A throw-away tenant app whose single migration does nothing.

``bench.scale_schemas`` adds it to ``TENANT_APPS`` (through
``bench.scale_settings``) after the tenants exist, so that ``tenants migrate``
has exactly one new migration to apply to every schema — the situation of a
release — without touching any real app's migrations.
"""
