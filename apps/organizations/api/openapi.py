"""Error codes that many operations answer, grouped for their OpenAPI
documentation (``apps.common.openapi.error_responses(*MEMBER_ERRORS, ...)``).

Used by the views of organizations, projects, the realtime endpoints and
authentication; each operation adds the codes of its own rules.
"""

from __future__ import annotations

from typing import Final

#: Refusals of ``permissions.IsOrganizationMember``, which guards every view
#: on an organization host.
MEMBER_ERRORS: Final = ("not_a_member", "two_factor_required")
#: A change the caller's role does not allow (the view's write permission,
#: or a service's ``require``).
WRITE_ERRORS: Final = (*MEMBER_ERRORS, "role_required")
#: A request body refused by the parsers, the input guards or the serializer.
INPUT_ERRORS: Final = (
    "invalid",
    "parse_error",
    "json_too_deep",
    "invalid_characters",
    "too_many_fields",
)
#: A paginated list: bad query parameters, a page number past the maximum
#: (400) or not a number (404).
PAGE_ERRORS: Final = (
    "invalid",
    "invalid_characters",
    "too_many_fields",
    "page_out_of_range",
    "not_found",
)
