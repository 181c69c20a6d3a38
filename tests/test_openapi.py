"""The OpenAPI documents of both hosts generate without warnings and are valid."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.parametrize("urlconf", ["config.urls_public", "config.urls_tenant"])
def test_schema_generates_cleanly(urlconf, tmp_path):
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular",
        urlconf=urlconf,
        validate=True,
        fail_on_warn=True,
        file=str(out),
        stderr=io.StringIO(),
    )
    assert "openapi: 3" in out.read_text()
