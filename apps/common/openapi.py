"""OpenAPI post-processing shared by both URLconfs.

Every endpoint answers errors in one shape (apps.common.errors), but most
views declare only their success responses. Rather than repeat the same
four error responses on hundreds of operations (and forget them on the next
one), this hook adds them to every operation that does not declare its own,
so generated clients and schemathesis know what a 4xx body looks like.
"""

from __future__ import annotations

import copy
from typing import Any, Final

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

#: Refusals of ``IsOrganizationMember``, which guards every organization-host view.
MEMBER_ERRORS: Final = ("not_a_member", "two_factor_required")
#: The same plus a role without the view's (or a service's) permission.
WRITE_ERRORS: Final = (*MEMBER_ERRORS, "role_required")
#: A body or query refused by the parsers, the input guards or the serializer.
INPUT_ERRORS: Final = (
    "invalid",
    "parse_error",
    "json_too_deep",
    "invalid_characters",
    "too_many_fields",
    "date_out_of_range",
)
#: A paginated list's query: bad parameters, a page number past the maximum
#: (400) or not a number / past the end (404).
PAGE_ERRORS: Final = (
    "invalid",
    "invalid_characters",
    "too_many_fields",
    "date_out_of_range",
    "page_out_of_range",
    "not_found",
)
#: Refused before any view runs, whatever the operation declares (the hook
#: adds them to a declared enum): by status, and whether only with a body
#: or only for unsafe methods (CSRF on a session-authenticated write).
_GUARD_CODES: Final = (
    ("400", "invalid_characters", "any"),
    ("400", "too_many_fields", "any"),
    ("400", "date_out_of_range", "any"),
    ("400", "parse_error", "body"),
    ("400", "json_too_deep", "body"),
    ("403", "permission_denied", "write"),
)


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
            _add_guard_codes(method, operation)
    return result


def _add_guard_codes(method: str, operation: dict[str, Any]) -> None:
    """Widen an operation's declared code enums by the codes the input guards
    answer before its view runs, so a view's list never has to repeat them
    and a hostile request never gets a code its schema leaves out."""
    has_body = "requestBody" in operation
    for status, code, when in _GUARD_CODES:
        if (when == "body" and not has_body) or (when == "write" and method == "get"):
            continue
        response = operation["responses"].get(status) or operation["responses"].get(int(status))
        if not response:
            continue
        media = response.get("content", {}).get("application/json", {})
        enum = media.get("schema", {}).get("properties", {}).get("code", {}).get("enum")
        if enum is not None and code not in enum:
            # Operations may share one schema object (a module-level
            # error_responses(...) used twice): widen this operation's copy.
            media["schema"] = copy.deepcopy(media["schema"])
            media["schema"]["properties"]["code"]["enum"].append(code)
            response["description"] = (
                f"{response.get('description', '')}; `{code}`: {ERROR_CODES[code].meaning}"
            ).lstrip("; ")
