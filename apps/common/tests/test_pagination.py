"""UncountedPagination: next/previous without COUNT(*)."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.common.pagination import UncountedPagination


def _page(items, query=""):
    paginator = UncountedPagination()
    request = Request(APIRequestFactory().get(f"/api/v1/things/{query}"))
    rows = paginator.paginate_queryset(items, request)
    return rows, paginator.get_paginated_response(rows).data


def test_first_page_has_next_and_no_count():
    rows, body = _page(list(range(120)), "?page_size=50")
    assert rows == list(range(50))
    assert "count" not in body
    assert body["previous"] is None
    assert body["next"] == "http://testserver/api/v1/things/?page=2&page_size=50"


def test_middle_and_last_pages():
    rows, body = _page(list(range(120)), "?page_size=50&page=3")
    assert rows == list(range(100, 120))
    assert body["next"] is None
    assert body["previous"] == "http://testserver/api/v1/things/?page=2&page_size=50"
    _, second = _page(list(range(120)), "?page_size=50&page=2")
    assert second["previous"] == "http://testserver/api/v1/things/?page_size=50"


@pytest.mark.parametrize("page", ["0", "-3", "abc"])
def test_bad_page_numbers_mean_the_first_page(page):
    rows, body = _page(list(range(10)), f"?page={page}&page_size=5")
    assert rows == [0, 1, 2, 3, 4]
    assert body["previous"] is None


def test_exactly_one_full_page_has_no_next():
    rows, body = _page(list(range(50)), "?page_size=50")
    assert len(rows) == 50 and body["next"] is None


def test_schema_has_no_count():
    schema = UncountedPagination().get_paginated_response_schema({"type": "object"})
    assert "count" not in schema["properties"]
    assert set(schema["properties"]) == {"next", "previous", "results"}
