"""OpenAPI post-processing shared by both URLconfs.

Every endpoint answers errors in one shape (apps.common.errors), but most
views declare only their success responses. Rather than repeat the same
four error responses on hundreds of operations (and forget them on the next
one), this hook adds them to every operation that does not declare its own,
so generated clients and schemathesis know what a 4xx body looks like.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from .error_codes import ERROR_CODES, status_of

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {
            "type": "string",
            "description": "Stable machine-readable error code (apps/common/README.md lists them).",
            "enum": sorted(ERROR_CODES),
        },
        "message": {"type": "string"},
        "fields": {
            "type": "object",
            "description": "Per-field validation errors (nested like the request body).",
            "additionalProperties": {},
        },
    },
    "additionalProperties": True,
}


def error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """The error responses of one operation, from the catalogue
    (apps.common.error_codes): per status, the error shape with ``code``
    restricted to the codes this operation answers (an enum generated clients
    can switch on) and a description naming each with its meaning.

    ``extend_schema(responses={200: X, **error_responses("not_found", ...)})``.
    An unknown code raises ``KeyError`` when the schema is built, so the
    documentation cannot name a code the catalogue does not define.
    """
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(status_of(code), []).append(code)
    responses: dict[int, OpenApiResponse] = {}
    for status, names in sorted(by_status.items()):
        schema = {
            **ERROR_SCHEMA,
            "properties": {
                **ERROR_SCHEMA["properties"],
                "code": {"type": "string", "enum": names},
            },
        }
        described = "; ".join(f"`{name}`: {ERROR_CODES[name].meaning}" for name in names)
        responses[status] = OpenApiResponse(response=schema, description=described)
    return responses


_COMMON_ERRORS = (
    (
        "400",
        "Invalid input: `invalid` (with `fields`), or a whole class of hostile input "
        "refused before any view runs: `json_too_deep` (JSON nested over 64 levels), "
        "`invalid_characters` (NUL or a lone surrogate in a body or query parameter), "
        "`parse_error` (malformed body, not UTF-8, non-finite number), `too_many_fields` "
        "(over 1000 parameters or form fields), `date_out_of_range` (a date outside "
        "1900-01-01..9998-12-31, with `fields`), `page_out_of_range` (page over 1000000).",
    ),
    ("401", "Not authenticated."),
    ("403", "Not allowed: not a member, role too weak, or two-factor required."),
    ("404", "Unknown object, or not visible to the caller."),
    ("429", "Throttled."),
)
_METHODS = frozenset({"get", "post", "put", "patch", "delete"})
#: Where an operation takes a body: bodies over DATA_UPLOAD_MAX_MEMORY_SIZE.
_TOO_LARGE = ("413", "Request body over the size limit (payload_too_large, with max_bytes).")


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: document the common errors."""
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, text in _COMMON_ERRORS:
                responses.setdefault(status, {"description": text})
            if "requestBody" in operation:
                responses.setdefault(_TOO_LARGE[0], {"description": _TOO_LARGE[1]})
            # Every 4xx body is the shared error shape, also where a view
            # declared the status with a description only.
            for status, response in responses.items():
                if str(status).startswith("4") and not response.get("content"):
                    response["content"] = {"application/json": {"schema": ref}}
    return result
