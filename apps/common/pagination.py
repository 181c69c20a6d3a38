"""Pagination shared by every list endpoint (API.md: results/next/previous/count).

Page numbers are held to :data:`MAX_PAGE_NUMBER`: a number past PostgreSQL's
``bigint`` (``?page=99999999999999999999``) used to reach ``OFFSET`` and
fail there as a ``DataError`` (500). Such a page is refused up-front with
400 ``page_out_of_range``; ``page_size`` is already capped by
``max_page_size``, so the largest offset stays far inside ``bigint``.
"""

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.common.errors import ApplicationError

#: Highest page number accepted (500 rows a page: half a billion rows deep).
MAX_PAGE_NUMBER = 1_000_000


def check_page_number(raw: Any, parameter: str) -> None:
    """400 ``page_out_of_range`` when ``raw`` is a number above
    :data:`MAX_PAGE_NUMBER`; other values are left to the paginator."""
    text = str(raw).strip()
    if text.isdigit() and (len(text) > 12 or int(text) > MAX_PAGE_NUMBER):
        raise ApplicationError(
            f"Page numbers go up to {MAX_PAGE_NUMBER}.",
            code="page_out_of_range",
            extra={"fields": {parameter: [f"At most {MAX_PAGE_NUMBER}."]}},
        )


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        check_page_number(request.query_params.get(self.page_query_param, 1), self.page_query_param)
        return super().paginate_queryset(queryset, request, view)


class UncountedPagination(StandardPagination):
    """Page-number pagination without ``count``, for lists that grow large.

    ``COUNT(*)`` over a filtered join costs as much as the page itself on big
    tables (40 ms of a 130 ms request on 200,000 tasks); API.md asks for
    ``count`` only where cheap. One extra row tells whether there is a next
    page.
    """

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        check_page_number(request.query_params.get(self.page_query_param, 1), self.page_query_param)
        size = self.get_page_size(request) or self.page_size
        try:
            self.number = max(1, int(request.query_params.get(self.page_query_param, 1)))
        except (TypeError, ValueError):
            self.number = 1
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
