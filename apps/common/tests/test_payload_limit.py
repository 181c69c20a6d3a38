"""Bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: 413 ``payload_too_large`` in
the shared error shape (DRF endpoints and plain Django views alike), nothing
written; files of multipart uploads do not count against the limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory, override_settings

from apps.chat.models import Channel
from apps.common import errors
from apps.common.testing import expect
from apps.organizations.tests.factories import client_as

LIMIT = 1000
TOO_LARGE = {
    "code": "payload_too_large",
    "message": f"The request body is larger than the {LIMIT} bytes allowed.",
    "max_bytes": LIMIT,
}
CHANNELS = "/api/v1/chat/channels/"


def _channel(name: str) -> dict[str, Any]:
    """A valid new channel, padded (the serializer ignores unknown keys) so
    the body is over ``LIMIT`` in any encoding."""
    return {"name": name, "kind": "public", "padding": "x" * (2 * LIMIT)}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_the_exception_handler_maps_request_data_too_big_to_413():
    response = errors.api_exception_handler(RequestDataTooBig("too big"), {})

    assert response is not None and response.status_code == 413
    assert json.loads(json.dumps(response.data)) == TOO_LARGE


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_the_plain_400_handler_answers_413_for_an_oversized_body():
    request = RequestFactory().post("/x/")

    response = errors.handler400(request, RequestDataTooBig("too big"))
    assert response.status_code == 413 and json.loads(response.content) == TOO_LARGE
    # any other suspicious request stays the generic 400
    other = errors.handler400(request, Exception())
    assert other.status_code == 400 and json.loads(other.content)["code"] == "bad_request"


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["json", "multipart", "urlencoded"])
def test_an_oversized_api_body_is_413_and_writes_nothing(in_tenant, tenant, fmt):
    client = client_as(tenant, "member")

    def post(name: str) -> Any:
        data = _channel(name)
        if fmt == "urlencoded":
            body = "&".join(f"{k}={v}" for k, v in data.items())
            return client.post(CHANNELS, body, content_type="application/x-www-form-urlencoded")
        return client.post(CHANNELS, data, format=fmt)

    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT):
        response = post("too-big")
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert not Channel.objects.filter(name="too-big").exists()

    # the same request under a larger limit is accepted: only its size was refused
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100 * LIMIT):
        expect(post("fits"), 201)
    assert Channel.objects.filter(name="fits").exists()


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_an_oversized_body_to_a_plain_django_view_is_413(public_client):
    body = "username=someone&password=" + "x" * (2 * LIMIT)

    response = public_client.post(
        "/admin/login/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_uploaded_files_do_not_count_against_the_limit(in_tenant, tenant):
    """The import takes a file far larger than the limit (it has its own)."""
    header = (
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
        "End date,End time,Duration,Tags,Amount (USD)\n"
    )
    row = "Nobody,nobody@acme.test,,Apollo,,Work,Yes,2026-03-02,09:00:00,,,01:00:00,,0\n"
    content = (header + row * 40).encode()
    assert len(content) > 2 * LIMIT
    upload = SimpleUploadedFile("export.csv", content, content_type="text/csv")

    report = expect(
        client_as(tenant, "manager").post(
            "/api/v1/imports/",
            {"source": "toggl", "dry_run": "true", "file": upload},
            format="multipart",
        ),
        200,
    )
    assert report["rows"] == 40


@pytest.mark.django_db
def test_the_schema_documents_413_where_an_operation_takes_a_body():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)
    methods = {"get", "post", "put", "patch", "delete"}
    operations = [op for ops in schema["paths"].values() for m, op in ops.items() if m in methods]
    with_body = [op for op in operations if "requestBody" in op]
    assert with_body and all("413" in op["responses"] for op in with_body)
    assert all(
        op["responses"]["413"]["content"]["application/json"]["schema"]
        == {"$ref": "#/components/schemas/Error"}
        for op in with_body
    )
    assert not any("413" in op["responses"] for op in operations if "requestBody" not in op)
