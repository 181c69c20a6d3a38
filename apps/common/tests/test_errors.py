"""The error shape: ``{"code": ..., "message": ..., ...}`` from every layer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.test import Client, RequestFactory
from rest_framework import exceptions

from apps.common import errors
from apps.common.api.views import HostMetaView
from apps.common.errors import (
    ApplicationError,
    ConflictError,
    PaymentRequiredError,
    api_exception_handler,
)


def handle(exc: Exception) -> tuple[int, dict[str, Any]]:
    response = api_exception_handler(exc, {})
    assert response is not None
    # Round-trip through JSON: what a client actually receives.
    return response.status_code, json.loads(json.dumps(response.data))


# --- api_exception_handler: application errors ----------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (ApplicationError("Bad range."), 400, {"code": "invalid", "message": "Bad range."}),
        (
            ConflictError("Already approved."),
            409,
            {"code": "conflict", "message": "Already approved."},
        ),
        (
            PaymentRequiredError("Upgrade your plan."),
            402,
            {"code": "payment_required", "message": "Upgrade your plan."},
        ),
        (
            ConflictError("Timesheet locked.", code="timesheet_locked"),
            409,
            {"code": "timesheet_locked", "message": "Timesheet locked."},
        ),
        (
            ApplicationError(
                "Too late.", code="too_late", status_code=422, extra={"deadline": "2025-01-31"}
            ),
            422,
            {"code": "too_late", "message": "Too late.", "deadline": "2025-01-31"},
        ),
    ],
)
def test_application_errors_keep_their_code_and_status(exc, status, body):
    assert handle(exc) == (status, body)


def test_overriding_code_on_an_instance_leaves_the_class_default_alone():
    ConflictError("x", code="custom")

    assert ConflictError("y").code == "conflict"
    assert ApplicationError("z").status_code == 400


# --- validation errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "fields"),
    [
        (
            exceptions.ValidationError({"name": ["This field is required."]}),
            {"name": ["This field is required."]},
        ),
        (exceptions.ValidationError({"name": "Too long."}), {"name": "Too long."}),
        (exceptions.ValidationError("Dates overlap."), {"non_field_errors": ["Dates overlap."]}),
        (
            exceptions.ValidationError(["First.", "Second."]),
            {"non_field_errors": ["First.", "Second."]},
        ),
        (
            DjangoValidationError({"timezone": ["Unknown time zone."], "week_start": ["Too big."]}),
            {"timezone": ["Unknown time zone."], "week_start": ["Too big."]},
        ),
        (
            DjangoValidationError("Ends before it starts."),
            {"non_field_errors": ["Ends before it starts."]},
        ),
        (
            # full_clean() reports model-level errors under "__all__".
            DjangoValidationError({"__all__": ["Overlaps."], "name": ["Taken."]}),
            {"non_field_errors": ["Overlaps."], "name": ["Taken."]},
        ),
        (
            DjangoValidationError("Rate %(rate)s is negative.", params={"rate": -5}),
            {"non_field_errors": ["Rate -5 is negative."]},
        ),
        (
            DjangoValidationError(["One.", "Two."]),
            {"non_field_errors": ["One.", "Two."]},
        ),
    ],
)
def test_validation_errors_become_400_invalid_with_fields(exc, fields):
    assert handle(exc) == (400, {"code": "invalid", "message": "Invalid input.", "fields": fields})


# --- other framework errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (Http404("no such thing"), 404, {"code": "not_found", "message": "Not found."}),
        (exceptions.NotFound(), 404, {"code": "not_found", "message": "Not found."}),
        (
            PermissionDenied("nope"),
            403,
            {
                "code": "permission_denied",
                "message": "You do not have permission to perform this action.",
            },
        ),
        (
            exceptions.PermissionDenied("Only managers may approve."),
            403,
            {"code": "permission_denied", "message": "Only managers may approve."},
        ),
        (
            exceptions.NotAuthenticated(),
            401,
            {
                "code": "not_authenticated",
                "message": "Authentication credentials were not provided.",
            },
        ),
        (
            exceptions.AuthenticationFailed("Invalid token."),
            401,
            {"code": "authentication_failed", "message": "Invalid token."},
        ),
        (
            exceptions.MethodNotAllowed("PATCH"),
            405,
            {"code": "method_not_allowed", "message": 'Method "PATCH" not allowed.'},
        ),
        (
            exceptions.ParseError(),
            400,
            {"code": "parse_error", "message": "Malformed request."},
        ),
    ],
)
def test_framework_errors_are_mapped(exc, status, body):
    assert handle(exc) == (status, body)


def test_throttled_reports_the_wait_in_whole_seconds():
    response = api_exception_handler(exceptions.Throttled(wait=12.3), {})

    assert response is not None
    assert response.status_code == 429
    assert json.loads(json.dumps(response.data)) == {
        "code": "throttled",
        "message": "Request was throttled. Expected available in 13 seconds.",
        "retry_after_seconds": 13,
    }
    assert response["Retry-After"] == "13"


def test_throttled_without_a_wait_has_no_retry_after():
    assert handle(exceptions.Throttled()) == (
        429,
        {"code": "throttled", "message": "Request was throttled."},
    )


@pytest.mark.parametrize(
    "exc", [ValueError("bug"), KeyError("x"), RuntimeError("boom"), ZeroDivisionError()]
)
def test_unrelated_exceptions_are_left_to_surface_as_500(exc):
    assert api_exception_handler(exc, {}) is None


# --- plain Django handlers -------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "args", "status", "body"),
    [
        (
            errors.handler404,
            (Http404(),),
            404,
            {"code": "not_found", "message": "No such endpoint."},
        ),
        (
            errors.handler403,
            (PermissionDenied(),),
            403,
            {"code": "permission_denied", "message": "You may not do this."},
        ),
        (
            errors.handler400,
            (Exception(),),
            400,
            {"code": "bad_request", "message": "Bad request."},
        ),
        (errors.handler500, (), 500, {"code": "server_error", "message": "Internal server error."}),
    ],
)
def test_plain_handlers_answer_json(handler, args, status, body):
    response = handler(RequestFactory().get("/x/"), *args)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == body


def test_json_error_adds_extra_keys():
    response = errors.json_error(418, "teapot", "Short and stout.", spout=True)

    assert response.status_code == 418
    assert json.loads(response.content) == {
        "code": "teapot",
        "message": "Short and stout.",
        "spout": True,
    }


# --- over HTTP -------------------------------------------------------------------


def get(path: str, host: str, **extra: Any) -> Any:
    return Client().get(path, HTTP_HOST=host, **extra)


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "www.localhost", "acme.localhost"])
@pytest.mark.parametrize("path", ["/nope/", "/api/v1/nope/", "/api/v2/meta/"])
def test_unknown_url_is_json_404(host, path):
    response = get(path, host)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "message": "No such endpoint."}


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["nope.localhost", "nope.localhost:8000", "a.b.localhost"])
def test_unknown_org_host_is_tenant_not_found(host):
    response = get("/api/v1/meta/", host)

    assert response.status_code == 404
    hostname = host.split(":")[0]
    assert response.json() == {
        "code": "tenant_not_found",
        "message": f"No organization at {hostname}.",
    }


@pytest.mark.django_db
def test_org_host_of_a_non_serving_tenant_is_tenant_not_found(tenant):
    tenant.status = "provisioning"
    tenant.save()

    response = get("/api/v1/meta/", "acme.localhost")

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["evil.example.com", "localhost.evil.com", "acme.localhost.evil"])
def test_disallowed_host_is_400_host_not_allowed(host):
    response = get("/api/v1/meta/", host)

    assert response.status_code == 400
    assert response.json() == {
        "code": "host_not_allowed",
        "message": "This host name is not served here.",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "www.localhost", "LOCALHOST:8000"])
def test_meta_on_the_public_host(host):
    response = get("/api/v1/meta/", host)

    assert response.status_code == 200
    assert response.json() == {"host": "public", "organization": None, "api_version": "v1"}


@pytest.mark.django_db
def test_meta_on_a_bare_ip_is_tenant_not_found():
    # An IP is an allowed host (orchestrator probes) but no organization's host.
    response = get("/api/v1/meta/", "127.0.0.1")

    assert response.status_code == 404
    assert response.json() == {
        "code": "tenant_not_found",
        "message": "No organization at 127.0.0.1.",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "host", ["acme.localhost", "ACME.localhost", "acme.localhost:8000", "acme.localhost."]
)
def test_meta_on_an_org_host(host):
    response = get("/api/v1/meta/", host)

    assert response.status_code == 200
    assert response.json() == {
        "host": "organization",
        "organization": {"slug": "acme", "name": "Acme", "status": "active"},
        "api_version": "v1",
    }


@pytest.mark.django_db
def test_meta_on_the_other_org_host_names_that_org():
    response = get("/api/v1/meta/", "globex.localhost")

    assert response.json()["organization"] == {
        "slug": "globex",
        "name": "Globex",
        "status": "active",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_wrong_method_is_json_405(host):
    response = Client().post("/api/v1/meta/", HTTP_HOST=host)

    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": 'Method "POST" not allowed.',
    }


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_unhandled_exception_is_json_500(host, monkeypatch):
    def crash(self: Any, request: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(HostMetaView, "get", crash)

    response = Client(raise_request_exception=False).get("/api/v1/meta/", HTTP_HOST=host)

    assert response.status_code == 500
    assert response.json() == {"code": "server_error", "message": "Internal server error."}


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_openapi_schema_is_served_and_lists_meta(host):
    response = get("/api/schema/", host, HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/meta/" in schema["paths"]
    assert set(schema["paths"]["/api/v1/meta/"]) == {"get"}


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_openapi_schema_defaults_to_yaml(host):
    response = get("/api/schema/", host)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"/api/v1/meta/:" in response.content
