"""The argon2 hasher: OWASP parameters, and Django-default hashes upgraded at login."""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password

from apps.iam.tests.factories import UserFactory

HASHERS = [
    "apps.iam.hashers.NovaTimeArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


@pytest.fixture(autouse=True)
def _argon2(settings):
    settings.PASSWORD_HASHERS = HASHERS


def test_new_hashes_use_the_configured_parameters(settings):
    settings.NOVATIME_ARGON2 = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
    encoded = make_password("s3cret words")
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password("s3cret words", encoded)


@pytest.mark.django_db
def test_a_django_default_argon2_hash_is_accepted_and_upgraded_at_login(public_client):
    legacy = Argon2PasswordHasher()
    user = UserFactory(email="old@example.com")
    user.password = legacy.encode("old password 1", legacy.salt())
    user.save(update_fields=["password"])
    assert "m=102400" in user.password

    response = public_client.post(
        "/api/v1/auth/login/", {"email": "old@example.com", "password": "old password 1"}
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert "m=19456,t=2,p=1" in user.password
