"""Refuse hostile query strings before any view, tenant lookup or query runs.

Bodies are checked by the parsers (``apps.common.parsers``); the query
string is read by filters, paginators and views in many places, so it is
checked once here, right after the request id and metrics middleware (the
refusal is logged and counted like any answer):

* more parameters than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``: Django raises
  ``TooManyFieldsSent`` wherever ``request.GET`` is first read → 400
  ``too_many_fields`` here, in the shared error shape;
* NUL or a lone surrogate in a parameter's name or value, or in the path
  (``%00`` in a path parameter such as a reaction's emoji reached a text
  column; PostgreSQL and psycopg refuse them, as 500s) → 400
  ``invalid_characters``.

Health probes and ``/metrics`` do not read parameters, but nothing is lost
by checking them too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse

from apps.common.errors import json_error, too_many_fields_body
from apps.common.parsers import INVALID_CHARACTERS, find_bad_text

logger = logging.getLogger(__name__)


class HostileInputMiddleware:
    """400 for a query string no view should see (see module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        message = find_bad_text([("path", request.path_info)])
        if message:
            logger.info("path with NUL/lone surrogate refused (400)")
            return json_error(400, INVALID_CHARACTERS, "The path contains NUL or a lone surrogate.")
        if request.META.get("QUERY_STRING"):
            try:
                pairs = [(key, value) for key, values in request.GET.lists() for value in values]
            except TooManyFieldsSent:
                logger.info("query string with too many parameters refused (400)")
                body = too_many_fields_body()
                return json_error(400, body.pop("code"), body.pop("message"), **body)
            message = find_bad_text(pairs)
            if message:
                logger.info("query string with NUL/lone surrogate refused (400)")
                return json_error(400, INVALID_CHARACTERS, message)
        return self.get_response(request)
