"""Authentication API on the public host: tokens, sessions, passwords, lockout."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from apps.iam.models import AuthToken, User
from apps.iam.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.iam.tokens import hash_key
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db


def login(client: TenantAPIClient, email: str, password: str = DEFAULT_PASSWORD):
    return client.post("/api/v1/auth/login/", {"email": email, "password": password}, format="json")


def test_login_returns_a_hashed_per_login_token_and_a_session(public_client):
    user = UserFactory(email="ada@example.com")

    first = login(public_client, "ADA@example.com")
    second = login(TenantAPIClient(None), "ada@example.com")

    assert first.status_code == 200 and second.status_code == 200
    key = first.json()["key"]
    assert key != second.json()["key"]
    assert AuthToken.objects.filter(user=user).count() == 2
    assert AuthToken.objects.filter(key_hash=hash_key(key)).exists()
    assert not AuthToken.objects.filter(key_hash=key).exists()  # raw key never stored
    assert "sessionid" in first.cookies


@pytest.mark.parametrize(
    ("email", "password"),
    [("ada@example.com", "wrong password"), ("nobody@example.com", DEFAULT_PASSWORD)],
)
def test_bad_credentials_are_one_indistinguishable_400(public_client, email, password):
    UserFactory(email="ada@example.com")
    response = login(public_client, email, password)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"] == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_token_authenticates_on_public_and_org_hosts(public_client, tenant):
    UserFactory(email="ada@example.com")
    key = login(public_client, "ada@example.com").json()["key"]
    for client in (TenantAPIClient(None), TenantAPIClient(tenant)):
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        response = client.get("/api/v1/auth/user/")
        assert response.status_code == 200
        assert response.json()["email"] == "ada@example.com"


def test_unknown_token_is_401(public_client):
    public_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = public_client.get("/api/v1/auth/user/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_anonymous_user_endpoint_is_401(public_client):
    response = public_client.get("/api/v1/auth/user/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_logout_revokes_only_the_token_used(public_client):
    user = UserFactory(email="ada@example.com")
    phone = login(public_client, "ada@example.com").json()["key"]
    laptop = login(TenantAPIClient(None), "ada@example.com").json()["key"]

    client = TenantAPIClient(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {phone}")
    assert client.post("/api/v1/auth/logout/").status_code == 200

    assert client.get("/api/v1/auth/user/").status_code == 401
    other = TenantAPIClient(None)
    other.credentials(HTTP_AUTHORIZATION=f"Token {laptop}")
    assert other.get("/api/v1/auth/user/").status_code == 200
    assert AuthToken.objects.filter(user=user).count() == 1


def test_password_change_revokes_every_other_token(public_client):
    user = UserFactory(email="ada@example.com")
    current = login(public_client, "ada@example.com").json()["key"]
    login(TenantAPIClient(None), "ada@example.com")
    login(TenantAPIClient(None), "ada@example.com")
    client = TenantAPIClient(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {current}")

    response = client.post(
        "/api/v1/auth/password/change/",
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": "a much better secret 42",
            "new_password2": "a much better secret 42",
        },
        format="json",
    )

    assert response.status_code == 200
    assert list(AuthToken.objects.filter(user=user).values_list("key_hash", flat=True)) == [
        hash_key(current)
    ]
    user.refresh_from_db()
    assert user.check_password("a much better secret 42")


def test_password_change_with_wrong_old_password_changes_nothing(public_client):
    user = UserFactory(email="ada@example.com")
    public_client.force_authenticate(user)
    response = public_client.post(
        "/api/v1/auth/password/change/",
        {"old_password": "nope", "new_password1": "x Y z 12345!", "new_password2": "x Y z 12345!"},
        format="json",
    )
    assert response.status_code == 400
    assert "old_password" in response.json()["fields"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_reset_does_not_reveal_whether_an_account_exists(public_client):
    UserFactory(email="ada@example.com")
    known = public_client.post("/api/v1/auth/password/reset/", {"email": "ada@example.com"})
    unknown = public_client.post("/api/v1/auth/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.body.startswith("Hello from NovaTime!")
    html = dict((mime, body) for body, mime in message.alternatives)["text/html"]
    assert "Choose a new password" in html and "/password/reset/link/" in html


def test_password_reset_confirm_sets_the_password_and_revokes_all_tokens(public_client):
    user = UserFactory(email="ada@example.com")
    login(public_client, "ada@example.com")
    public_client.post("/api/v1/auth/password/reset/", {"email": "ada@example.com"})
    link = re.search(r"/password/reset/link/([^/]+)/([^/\s]+)/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    uid, token = link.groups()
    assert TenantAPIClient(None).get(link.group(0).join(["/api/v1/auth", ""])).json() == {
        "uid": uid,
        "token": token,
    }

    response = public_client.post(
        "/api/v1/auth/password/reset/confirm/",
        {
            "uid": uid,
            "token": token,
            "new_password1": "fresh Start 2026!",
            "new_password2": "fresh Start 2026!",
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert not AuthToken.objects.filter(user=user).exists()
    user.refresh_from_db()
    assert user.check_password("fresh Start 2026!")


def test_registration_creates_user_and_sends_verification(public_client):
    response = public_client.post(
        "/api/v1/auth/registration/",
        {
            "email": "New@Example.com",
            "password1": "a long enough secret 7",
            "password2": "a long enough secret 7",
            "first_name": "New",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert AuthToken.objects.filter(key_hash=hash_key(response.json()["key"])).exists()
    user = User.objects.get(email="new@example.com")
    assert user.first_name == "New"
    assert EmailAddress.objects.get(user=user).verified is False
    assert len(mail.outbox) == 1
    key = re.search(r"/registration/confirm-link/([^/\s]+)/", mail.outbox[0].body).group(1)

    verify = public_client.post("/api/v1/auth/registration/verify-email/", {"key": key})
    assert verify.status_code == 200
    assert EmailAddress.objects.get(user=user).verified is True


def test_registration_rejects_a_weak_password_and_writes_nothing(public_client):
    response = public_client.post(
        "/api/v1/auth/registration/",
        {"email": "weak@example.com", "password1": "123", "password2": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert "password1" in response.json()["fields"]
    assert not User.objects.filter(email="weak@example.com").exists()


def test_mandatory_verification_blocks_login_until_verified(public_client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    user = UserFactory(email="ada@example.com")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)

    response = login(public_client, "ada@example.com")

    assert response.status_code == 400
    assert not AuthToken.objects.filter(user=user).exists()


def test_repeated_failures_lock_the_account_with_429(public_client, settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 3, "IP_FAILURES": 100, "SECONDS": 600}
    user = UserFactory(email="ada@example.com")
    for _ in range(3):
        assert login(public_client, "ada@example.com", "wrong").status_code == 400

    locked = login(public_client, "ada@example.com")  # even the right password

    assert locked.status_code == 429
    body = locked.json()
    assert body["code"] == "login_locked"
    assert 0 < body["retry_after_seconds"] <= 600
    assert not AuthToken.objects.filter(user=user).exists()
    # Another account from the same address is not locked by this one.
    UserFactory(email="bob@example.com")
    assert login(public_client, "bob@example.com").status_code == 200


@pytest.mark.parametrize(
    "email",
    [{"a": 1}, [1, 2], "ada with spaces@example.com", "a" * 300 + "@example.com"],
    ids=["object", "list", "spaces", "over-250"],
)
def test_any_typed_email_makes_a_valid_lockout_key(public_client, settings, email):
    """Whatever the client sends as email, the lockout's cache key stays one
    that every cache backend accepts (the hostile walk saw CacheKeyWarning)."""
    import warnings

    from django.core.cache.backends.base import CacheKeyWarning

    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 3, "IP_FAILURES": 100, "SECONDS": 600}
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        response = public_client.post(
            "/api/v1/auth/login/", {"email": email, "password": "wrong"}, format="json"
        )
    assert response.status_code == 400


def test_the_account_lock_ignores_case_and_surrounding_spaces(public_client, settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 3, "IP_FAILURES": 100, "SECONDS": 600}
    UserFactory(email="ada@example.com")
    for typed in ("ADA@example.com", " ada@example.com", "Ada@Example.com"):
        login(public_client, typed, "wrong")

    assert login(public_client, "ada@example.com").status_code == 429


def test_a_successful_login_resets_the_failure_count(public_client, settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 3, "IP_FAILURES": 100, "SECONDS": 600}
    UserFactory(email="ada@example.com")
    for _ in range(2):
        login(public_client, "ada@example.com", "wrong")
    assert login(public_client, "ada@example.com").status_code == 200
    for _ in range(2):
        login(public_client, "ada@example.com", "wrong")
    assert login(public_client, "ada@example.com").status_code == 200


def test_lockout_by_address_covers_many_accounts(public_client, settings):
    settings.NOVATIME_LOGIN_LOCKOUT = {"ACCOUNT_FAILURES": 100, "IP_FAILURES": 4, "SECONDS": 600}
    UserFactory(email="ada@example.com")
    for i in range(4):
        login(public_client, f"probe{i}@example.com", "wrong")
    assert login(public_client, "ada@example.com").status_code == 429


def test_user_profile_update_validates_timezone(public_client):
    user = UserFactory(email="ada@example.com")
    public_client.force_authenticate(user)
    bad = public_client.patch("/api/v1/auth/user/", {"timezone": "Mars/Olympus"}, format="json")
    assert bad.status_code == 400
    ok = public_client.patch(
        "/api/v1/auth/user/", {"timezone": "Europe/Berlin", "email": "x@y.z"}, format="json"
    )
    assert ok.status_code == 200
    user.refresh_from_db()
    assert (user.timezone, user.email) == ("Europe/Berlin", "ada@example.com")


def test_email_links_open_as_json(public_client):
    response = public_client.get("/api/v1/auth/registration/confirm-link/abc:def/")
    assert response.json() == {"key": "abc:def"}


def test_registration_with_mandatory_verification_gives_no_token(public_client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    response = public_client.post(
        "/api/v1/auth/registration/",
        {
            "email": "m@example.com",
            "password1": "a long secret 77",
            "password2": "a long secret 77",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json() == {"detail": "Verification e-mail sent."}
    assert not AuthToken.objects.exists()
