import pytest
from django.core.exceptions import ValidationError

from apps.common.validators import validate_timezone


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_known_time_zones_pass(name):
    validate_timezone(name)


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "europe/berlin", "GMT+25"])
def test_unknown_time_zones_are_refused(name):
    with pytest.raises(ValidationError) as err:
        validate_timezone(name)
    assert err.value.code == "invalid_timezone"
