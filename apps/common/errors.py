"""One error type for the application and one place that renders errors.

Every error leaves the API as ``{"code": ..., "message": ..., ...}`` with a
stable machine-readable code (ARCHITECTURE.md, "Errors"). Services raise
:class:`ApplicationError`; DRF, Django validation, 404 and permission errors are
mapped here, so views never build error bodies by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule refused the operation.

    ``status_code`` follows ARCHITECTURE.md: 409 for a conflict with current
    state, 402 for a billing block, 400 for bad input that passed validation.
    """

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.extra = extra or {}


class ConflictError(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class PaymentRequiredError(ApplicationError):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    code = "payment_required"


class PermissionDeniedError(ApplicationError):
    """403: the caller may not do this to this object (a rule about the
    object, e.g. ``not_author``; a missing role is :class:`RoleRequiredError`)."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class RoleRequiredError(PermissionDeniedError):
    """403 ``role_required``: the caller's role lacks ``permission`` (a name
    of the permission table, apps.organizations.permissions), which the body
    names so a client can tell which right is missing. One message for every
    case: the permission says what was needed."""

    code = "role_required"
    default_message = "Your role in this organization does not allow this."

    def __init__(self, permission: str, message: str | None = None) -> None:
        super().__init__(message or self.default_message, extra={"permission": permission})
        self.permission = permission


class NotFoundError(ApplicationError):
    """404 ``not_found``: the object in the URL is unknown or not visible to
    the caller (the two are never told apart, ARCHITECTURE.md)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"

    def __init__(self, message: str = "Not found.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


def field_error(field: str, message: str, *, code: str = "invalid") -> ApplicationError:
    """A 400 that names the input it is about, in the shape of serializer
    errors (``fields``), for rules only a service can check."""
    return ApplicationError(message, code=code, extra={"fields": {field: [message]}})


def does_not_exist(field: str, what: str) -> ApplicationError:
    """400 ``does_not_exist``: the id given in ``field`` names no ``what``
    the caller may use (unknown, deleted, another organization's, or not
    visible). The one code for an unknown id in a request body, as DRF's
    ``PrimaryKeyRelatedField`` answers it."""
    return field_error(field, f"No such {what}.", code="does_not_exist")


_DEFAULT_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON error shape shared by the API, middleware and plain views."""
    return {"code": code, "message": message, **extra}


def json_error(status_code: int, code: str, message: str, **extra: Any) -> JsonResponse:
    """Error response for code that runs outside DRF (middleware, 404 handlers)."""
    return JsonResponse(error_body(code, message, **extra), status=status_code)


def payload_too_large_body() -> dict[str, Any]:
    """413 ``payload_too_large``: the body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

    Django raises ``RequestDataTooBig`` (a ``SuspiciousOperation``) when the
    body is read, which it would answer as a generic 400 ``bad_request``; the
    client deserves to know the body is refused for its size and what the
    limit is (files in multipart uploads are not counted: they stream to
    upload handlers)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body(
        "payload_too_large",
        f"The request body is larger than the {limit} bytes allowed.",
        max_bytes=limit,
    )


def too_many_fields_body() -> dict[str, Any]:
    """400 ``too_many_fields``: more query parameters or form fields than
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` (or files than
    ``DATA_UPLOAD_MAX_NUMBER_FILES``). Django raises ``TooManyFieldsSent``
    wherever the fields are first read; it is answered here rather than as
    Django's bare ``bad_request``."""
    return error_body(
        "too_many_fields",
        f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters or form fields "
        f"(or {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files) are not accepted.",
        max_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
    )


#: Field-level validation codes that name a whole class of bad input: when
#: every error of a 400 carries one of them, it becomes the answer's ``code``
#: (``fields`` still says where), so a client can tell "date outside the
#: supported calendar" from an ordinary ``invalid``.
PROMOTED_FIELD_CODES = frozenset({"date_out_of_range"})


def _leaf_codes(codes: Any) -> set[str]:
    if isinstance(codes, dict):
        return set().union(*(_leaf_codes(v) for v in codes.values())) if codes else set()
    if isinstance(codes, list):
        return set().union(*(_leaf_codes(v) for v in codes)) if codes else set()
    return {str(codes)}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the NovaTime error shape."""
    if isinstance(exc, RequestDataTooBig):  # raised when the view reads request.data
        set_rollback()
        logger.info("request body over DATA_UPLOAD_MAX_MEMORY_SIZE refused (413)")
        return Response(payload_too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):  # read by the view
        set_rollback()
        return Response(too_many_fields_body(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = dict(exc.message_dict)
            if NON_FIELD_ERRORS in fields:  # Django's "__all__" → DRF's name
                fields["non_field_errors"] = fields.pop(NON_FIELD_ERRORS)
        else:
            fields = {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let it surface as a 500 and reach Sentry

    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        leaves = _leaf_codes(exc.get_codes())
        code = leaves.pop() if len(leaves) == 1 and leaves <= PROMOTED_FIELD_CODES else "invalid"
        response.data = error_body(code, "Invalid input.", fields=errors)
        return response

    detail = getattr(exc, "detail", "")
    code = _DEFAULT_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.APIException) and hasattr(detail, "code"):
        # Keep DRF's own specific codes (e.g. "authentication_failed", "throttled").
        code = detail.code if detail.code not in ("invalid", "error") else code
    response.data = error_body(code, str(detail) or exc.__class__.__name__)
    wait = getattr(exc, "wait", None)
    if wait is not None:
        response.data["retry_after_seconds"] = int(wait)
    return response


def wants_html(request: Any) -> bool:
    """Whether an error is for a browser page rather than the API: never under
    ``/api/``, and only when the client asks for HTML (a browser navigation);
    every other client keeps the JSON error shape."""
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def _html_error(request: Any, template: str, status_code: int, message: str) -> HttpResponse:
    from django.template.loader import render_to_string

    body = render_to_string(template, {"message": message}, request=request)
    return HttpResponse(body, status=status_code)


def handler404(request: Any, exception: Exception | None = None) -> HttpResponse:
    """Plain-Django 404 (unknown URL) in the API's error shape; an HTML page
    for a browser asking for a web page."""
    if wants_html(request):
        return _html_error(request, "errors/not_found.html", 404, "")
    return json_error(404, "not_found", "No such endpoint.")


def handler500(request: Any) -> JsonResponse:
    return json_error(500, "server_error", "Internal server error.")


def handler403(request: Any, exception: Exception | None = None) -> HttpResponse:
    if wants_html(request):
        return _html_error(request, "errors/refused.html", 403, gettext("You may not do this."))
    return json_error(403, "permission_denied", "You may not do this.")


def handler400(request: Any, exception: Exception | None = None) -> JsonResponse:
    """Django's answer to a ``SuspiciousOperation`` outside DRF (a plain view,
    or a middleware that read the body): an oversized body is a 413 there
    too, like in the API."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(payload_too_large_body(), status=413)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return JsonResponse(too_many_fields_body(), status=400)
    return json_error(400, "bad_request", "Bad request.")
