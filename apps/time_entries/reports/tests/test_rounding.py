"""The rounding rule in SQL (what reports use) at the step boundaries, against
hand-written expectations; the Python twin must agree."""

from __future__ import annotations

import pytest
from django.db import connection

from ..rounding import Rounding

DURATIONS = [0, 1, 449, 450, 451, 899, 900, 901]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "minutes", "expected"),
    [
        ("none", 15, DURATIONS),
        ("up", 15, [0, 900, 900, 900, 900, 900, 900, 1800]),
        ("down", 15, [0, 0, 0, 0, 0, 0, 900, 900]),
        ("nearest", 15, [0, 0, 0, 900, 900, 900, 900, 900]),
        ("up", 1, [0, 60, 480, 480, 480, 900, 900, 960]),
        ("nearest", 6, [0, 0, 360, 360, 360, 720, 1080, 1080]),
        ("down", 30, [0, 0, 0, 0, 0, 0, 0, 0]),
    ],
)
def test_rounding_sql_at_boundaries(mode, minutes, expected):
    rule = Rounding(mode=mode, minutes=minutes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rule.seconds_sql('d')} FROM unnest(%s::bigint[]) WITH ORDINALITY AS x(d, n) "
            "ORDER BY n",
            [DURATIONS],
        )
        in_sql = [row[0] for row in cursor.fetchall()]

    assert in_sql == expected
    assert [rule.apply(d) for d in DURATIONS] == expected


@pytest.mark.parametrize(("mode", "minutes"), [("sideways", 15), ("up", 7), ("up", 0)])
def test_unknown_rules_never_reach_sql(mode, minutes):
    with pytest.raises(ValueError):
        Rounding(mode=mode, minutes=minutes)
