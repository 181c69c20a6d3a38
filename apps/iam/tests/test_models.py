"""The platform user: email is the login, unique ignoring case."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction

from apps.iam.models import User, UserManager

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ann.Smith@Example.COM", "ann.smith@example.com"),
        ("  bob@example.com  ", "bob@example.com"),
        ("CAROL@X.IO", "carol@x.io"),
    ],
)
def test_create_user_stores_a_normalised_email(raw, stored):
    user = User.objects.create_user(raw, password="pw-123456")

    user.refresh_from_db()
    assert user.email == stored
    assert user.check_password("pw-123456")
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)


def test_normalize_login():
    assert UserManager.normalize_login("  A@B.Cd ") == "a@b.cd"
    assert UserManager.normalize_login(None) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize("login", ["user@x.com", "USER@X.COM", "User@X.Com", "  user@x.com "])
def test_login_lookup_ignores_case(login):
    user = User.objects.create_user("user@x.com")

    assert User.objects.get_by_natural_key(login).pk == user.pk


def test_login_lookup_of_an_unknown_email_raises():
    User.objects.create_user("user@x.com")

    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key("other@x.com")
    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key(None)


def test_authenticate_with_a_differently_cased_email():
    user = User.objects.create_user("case@x.com", password="pw-123456")

    assert authenticate(username="CASE@X.COM", password="pw-123456") == user
    assert authenticate(username="CASE@X.COM", password="wrong") is None


def test_database_refuses_a_second_user_differing_only_in_case():
    User.objects.create_user("dup@x.com")

    # ``objects.create`` skips the manager's normalisation: only the DB stops it.
    with pytest.raises(IntegrityError, match="iam_user_email_ci_unique"), transaction.atomic():
        User.objects.create(email="DUP@x.com")

    assert list(User.objects.filter(email__iexact="dup@x.com").values_list("email", flat=True)) == [
        "dup@x.com"
    ]


def test_create_user_with_the_same_email_in_other_case_is_refused():
    User.objects.create_user("dup@x.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("Dup@X.com")

    assert User.objects.filter(email__iexact="dup@x.com").count() == 1


def test_create_superuser_sets_the_flags():
    admin = User.objects.create_superuser("Root@X.com", password="pw-123456")

    admin.refresh_from_db()
    assert admin.email == "root@x.com"
    assert (admin.is_staff, admin.is_superuser, admin.is_active) == (True, True, True)
    assert admin.check_password("pw-123456")


def test_create_superuser_cannot_be_downgraded_by_extra_fields():
    admin = User.objects.create_superuser("root@x.com", is_staff=False, is_superuser=False)

    assert (admin.is_staff, admin.is_superuser) == (True, True)


def test_create_user_without_a_password_has_an_unusable_one():
    user = User.objects.create_user("nopw@x.com")

    assert not user.has_usable_password()


@pytest.mark.parametrize("email", ["", None])
def test_create_user_without_email_raises(email):
    before = User.objects.count()

    with pytest.raises(ValueError, match=r"^Users need an email address\.$"):
        User.objects.create_user(email, password="pw")  # type: ignore[arg-type]

    assert User.objects.count() == before


def test_create_user_with_a_blank_email_raises():
    before = User.objects.count()

    with pytest.raises(ValueError):
        User.objects.create_user("   ", password="pw")

    assert User.objects.count() == before


def test_str_is_the_email():
    assert str(User(email="ann@x.com")) == "ann@x.com"


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Ann", "Smith", "Ann Smith"),
        ("Ann", "", "Ann"),
        ("", "Smith", "Smith"),
        ("", "", "ann@x.com"),
        ("  ", "", "ann@x.com"),
    ],
)
def test_full_name_falls_back_to_email(first, last, expected):
    assert User(email="ann@x.com", first_name=first, last_name=last).full_name == expected


def test_clean_normalises_the_email():
    user = User(email="  Mixed@Case.COM ")

    user.clean()

    assert user.email == "mixed@case.com"


def test_users_are_ordered_by_email():
    for email in ["c@x.com", "a@x.com", "b@x.com"]:
        User.objects.create_user(email)

    emails = User.objects.filter(email__endswith="@x.com").values_list("email", flat=True)
    assert list(emails) == ["a@x.com", "b@x.com", "c@x.com"]
