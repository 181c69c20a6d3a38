"""validate_slug: slugs become DNS labels (``<slug>.<base>``)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tenants.slugs import RESERVED_SLUGS, SLUG_MAX_LENGTH, SLUG_MIN_LENGTH, validate_slug


def _code(value: object) -> str:
    with pytest.raises(ValidationError) as err:
        validate_slug(value)  # type: ignore[arg-type]
    return err.value.code


def test_length_bounds_are_3_and_40():
    assert (SLUG_MIN_LENGTH, SLUG_MAX_LENGTH) == (3, 40)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme", "acme"),
        ("ACME", "acme"),
        ("  Acme-Corp  ", "acme-corp"),
        ("\tnewco\n", "newco"),
        ("a1b2", "a1b2"),
        ("123", "123"),
        ("a-b-c", "a-b-c"),
    ],
)
def test_valid_slugs_are_normalised_to_stripped_lower_case(raw, expected):
    assert validate_slug(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc", "abc"),
        ("a" * 40, "a" * 40),
        # The length is measured after stripping.
        ("  " + "b" * 40 + "  ", "b" * 40),
        (" abc ", "abc"),
    ],
)
def test_lengths_at_the_boundaries_are_accepted(raw, expected):
    assert validate_slug(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", None, "a", "ab", " ab ", "a" * 41, "c" * 100])
def test_too_short_or_too_long_is_slug_length(raw):
    assert _code(raw) == "slug_length"


def test_length_message_names_the_bounds():
    with pytest.raises(ValidationError) as err:
        validate_slug("ab")
    assert err.value.messages == ["The slug must be 3-40 characters long."]


@pytest.mark.parametrize(
    "raw",
    [
        "Bad_Slug",
        "bad slug",
        "bad.slug",
        "-abc",
        "abc-",
        "-ab-",
        "café",
        "acme!",
        "ab/c",
        "\uff41\uff42\uff43",  # full-width "abc" is not ASCII
    ],
)
def test_characters_outside_a_dns_label_are_slug_invalid(raw):
    assert _code(raw) == "slug_invalid"


@pytest.mark.parametrize("raw", ["xn--abc", "XN--80ak6aa92e", "ab--cd", "zz--"])
def test_idna_style_labels_are_refused(raw):
    assert _code(raw) == "slug_invalid"


@pytest.mark.parametrize("raw", ["a--bc", "abc--def", "my-co"])
def test_hyphens_elsewhere_in_the_label_are_allowed(raw):
    assert validate_slug(raw) == raw


@pytest.mark.parametrize("raw", ["www", "admin", "api", "WWW", " Admin ", "static", "template"])
def test_reserved_words_are_slug_reserved(raw):
    assert _code(raw) == "slug_reserved"


@pytest.mark.parametrize("raw", ["t-rex", "tpl", "tplfoo", "tpl-acme"])
def test_reserved_prefixes_are_slug_reserved(raw):
    assert _code(raw) == "slug_reserved"


@pytest.mark.parametrize("raw", ["trex", "tp-l", "apis", "wwwx", "admins"])
def test_near_misses_of_reserved_words_are_accepted(raw):
    assert validate_slug(raw) == raw


def test_every_reserved_word_is_refused():
    refused = {word for word in RESERVED_SLUGS if len(word) >= 3}
    for word in refused:
        assert _code(word) == "slug_reserved", word
    # Two-letter reserved words ("ws") fail on length first: still refused.
    for word in RESERVED_SLUGS - refused:
        assert _code(word) == "slug_length", word
