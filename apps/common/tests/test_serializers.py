"""SharedReadFieldsMixin: the same output as DRF's own path, field by field,
for every value shape the serializers using it meet; classes it cannot
serve keep DRF's path."""

from __future__ import annotations

import datetime
import threading
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import serializers

from apps.common.serializers import SharedReadFieldsMixin
from apps.organizations.models import Membership
from apps.tasks.tests.factories import TaskFactory
from apps.time_entries.api.serializers import IdlePeriodSerializer, TimeEntrySerializer
from apps.time_entries.tests.factories import IdlePeriodFactory, TimeEntryFactory

pytestmark = pytest.mark.django_db


def drf_output(serializer: Any) -> dict[str, Any]:
    """What DRF's own ``Serializer.to_representation`` makes of the instance."""
    return serializers.Serializer.to_representation(serializer, serializer.instance)


def _entries(tenant: Any) -> list[Any]:
    owner = Membership.objects.filter(organization=tenant).first()
    user_id = owner.user_id if owner else uuid.uuid4()
    task = TaskFactory()
    return [
        TimeEntryFactory(
            user_id=user_id,
            project=task.project,
            task=task,
            tags=["Client A", "réunion"],
            hourly_rate=Decimal("87.50"),
            amount=Decimal("87.50"),
            last_activity_at=timezone.now(),
            source="import",
            billable=False,
        ),
        TimeEntryFactory(user_id=user_id, hourly_rate=None, amount=None, description=""),
        TimeEntryFactory(user_id=user_id, running=True, tags=[]),  # the latest
    ]


@pytest.mark.parametrize("zone", [None, "Asia/Kolkata"])
def test_time_entries_come_out_as_drf_makes_them(in_tenant, zone):
    """Running and finished, with and without task, tags, money; in UTC and
    in an activated time zone (datetimes are shown in the current one)."""
    for entry in _entries(in_tenant):
        if zone:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            serializer = TimeEntrySerializer(entry)
            ours = serializer.data
            assert dict(ours) == {
                **drf_output(TimeEntrySerializer(entry)),
                # what the class's own to_representation does after DRF's
                **{k: ours[k] for k in ("hourly_rate", "amount")},
            }
        finally:
            timezone.deactivate()
    assert TimeEntrySerializer.__dict__["_shared_read_plan"] is not False


def test_money_is_still_hidden_from_members(in_tenant):
    """The class's own rule runs on top of the shared fields."""
    entry = TimeEntryFactory(hourly_rate=Decimal("50.00"), amount=Decimal("50.00"))
    member = Membership(user_id=uuid.uuid4(), role="member", organization=in_tenant)
    data = TimeEntrySerializer(entry, context={"membership": member}).data
    assert data["hourly_rate"] is None and data["amount"] is None
    manager = Membership(user_id=uuid.uuid4(), role="manager", organization=in_tenant)
    data = TimeEntrySerializer(entry, context={"membership": manager}).data
    assert data["hourly_rate"] == "50.00" and data["amount"] == "50.00"


def test_idle_periods_and_lists_come_out_as_drf_makes_them(in_tenant):
    idle = IdlePeriodFactory()
    assert dict(IdlePeriodSerializer(idle).data) == drf_output(IdlePeriodSerializer(idle))
    entries = _entries(in_tenant)
    listed = TimeEntrySerializer(entries, many=True).data
    assert [row["id"] for row in listed] == [str(e.pk) for e in entries]


class _WithNested(SharedReadFieldsMixin, serializers.Serializer):
    name = serializers.CharField()
    inner = serializers.DictField()  # not shareable: DRF's path for the class


class _Plain(SharedReadFieldsMixin, serializers.Serializer):
    name = serializers.CharField()
    when = serializers.DateTimeField()
    secret = serializers.CharField(write_only=True)
    shout = serializers.SerializerMethodField()

    def get_shout(self, obj: dict[str, Any]) -> str:
        return f"{obj['name']}{self.context.get('mark', '!')}"


def test_a_class_with_a_field_it_cannot_share_keeps_drfs_path():
    data = _WithNested({"name": "a", "inner": {"x": 1}}).data
    assert data == {"name": "a", "inner": {"x": 1}}
    assert _WithNested.__dict__["_shared_read_plan"] is False


def test_method_fields_run_on_the_serializer_at_hand_and_write_only_fields_stay_out():
    when = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
    row = {"name": "a", "when": when, "secret": "s"}
    assert _Plain(row, context={"mark": "?"}).data == {
        "name": "a",
        "when": "2026-11-26T12:00:00Z",
        "shout": "a?",
    }
    assert _Plain(row).data["shout"] == "a!"


def test_shared_fields_serve_threads_at_once():
    """Many threads serializing different rows through the one set of fields
    each get their own row back."""
    assert _Plain({"name": "warm", "when": timezone.now()}).data["name"] == "warm"
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(200):
            name = f"{n}-{i}"
            data = _Plain({"name": name, "when": timezone.now()}, context={"mark": n}).data
            if data["name"] != name or data["shout"] != f"{name}{n}":
                errors.append(name)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
