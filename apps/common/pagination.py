"""Pagination shared by every list endpoint (API.md: results/next/previous/count).

Page numbers are read strictly, by one function (:func:`page_number`):
ASCII digits only. ``str.isdigit()`` and ``int()`` each accept more than
that, and not the same things: ``²`` is a digit to the first and not a
number to the second (a 500 on every list), ``\\uff11`` (fullwidth
one) is a number to both. Anything but ASCII digits is 404 ``not_found``
"Invalid page.", what DRF's paginator answers for a page that is not a
number (:class:`UncountedPagination` answers the first page, as it always
did). A page is
compared by its value, so leading zeros are fine (``0000000000001`` is page
1), and a value above :data:`MAX_PAGE_NUMBER` is refused with 400
``page_out_of_range``: past PostgreSQL's ``bigint``
(``?page=99999999999999999999``) it used to reach ``OFFSET`` and fail there
as a ``DataError`` (500). ``page_size`` is read by the same rule (anything
else means the default size, as in DRF) and capped by ``max_page_size``,
so the largest offset stays far inside ``bigint``.
"""

import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.common.errors import ApplicationError

#: Highest page number accepted (500 rows a page: half a billion rows deep).
MAX_PAGE_NUMBER = 1_000_000
#: A page number or size as clients may write it: ASCII digits, nothing else
#: (``re.ASCII``: ``\d`` would match every Unicode decimal digit).
_ASCII_NUMBER = re.compile(r"[0-9]+", re.ASCII)
INVALID_PAGE = _("Invalid page.")


def ascii_number(raw: Any) -> int | None:
    """``raw`` as a non-negative integer when it is ASCII digits only (leading
    zeros allowed), else ``None``. Values past 10**12 come back as 10**12 + 1:
    every caller caps far below, and ``int()`` of a few thousand digits is
    itself an error (``sys.get_int_max_str_digits``)."""
    text = str(raw)
    if not _ASCII_NUMBER.fullmatch(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > 12:
        return 10**12 + 1
    return int(significant or "0")


def page_number(raw: Any, parameter: str, *, otherwise: int | None = None) -> int:
    """The page asked for: when ``raw`` is not ASCII digits, ``otherwise``
    if given, else 404 "Invalid page."; 400 ``page_out_of_range`` above
    :data:`MAX_PAGE_NUMBER`. Zero is returned as is (each paginator has its
    own answer to it)."""
    number = ascii_number(raw)
    if number is None:
        if otherwise is not None:
            return otherwise
        raise NotFound(INVALID_PAGE)
    if number > MAX_PAGE_NUMBER:
        raise ApplicationError(
            f"Page numbers go up to {MAX_PAGE_NUMBER}.",
            code="page_out_of_range",
            extra={"fields": {parameter: [f"At most {MAX_PAGE_NUMBER}."]}},
        )
    return number


def page_size(request: Any, paginator: Any) -> int:
    """A paginator's ``page_size`` parameter as ASCII digits (1 ..
    ``max_page_size``); anything else is the default size, as DRF answers
    an invalid one. Shared by the page-number and cursor paginators."""
    size = ascii_number(request.query_params.get(paginator.page_size_query_param or "", ""))
    if not size:
        return int(paginator.page_size)
    return min(size, int(paginator.max_page_size or size))


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        raw = request.query_params.get(self.page_query_param) or 1
        if raw in self.last_page_strings and paginator is not None:
            return paginator.num_pages
        return page_number(raw, self.page_query_param)

    def get_page_size(self, request: Any) -> int:
        return page_size(request, self)


class UncountedPagination(StandardPagination):
    """Page-number pagination without ``count``, for lists that grow large.

    ``COUNT(*)`` over a filtered join costs as much as the page itself on big
    tables (40 ms of a 130 ms request on 200,000 tasks); API.md asks for
    ``count`` only where cheap. One extra row tells whether there is a next
    page.
    """

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or 1
        # not a number: the first page, as this paginator always answered
        self.number = max(1, page_number(raw, self.page_query_param, otherwise=1))
        offset = (self.number - 1) * size
        rows = list(queryset[offset : offset + size + 1])
        self.has_next = len(rows) > size
        return rows[:size]

    def _page_url(self) -> str:
        if self.request is None:
            raise RuntimeError("paginate_queryset() was not called")
        return self.request.build_absolute_uri()

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return replace_query_param(self._page_url(), self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number <= 1:
            return None
        url = self._page_url()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        full = super().get_paginated_response_schema(schema)
        full["properties"].pop("count", None)
        full["required"] = [r for r in full.get("required", []) if r != "count"]
        return full
