"""Input and output of ``POST /api/v1/imports/``."""

from __future__ import annotations

from rest_framework import serializers

from apps.common.validators import validate_timezone

from ..parsing import LAYOUTS

# Some API field names (``source``, ``parent``, ``data``, ``create``, …) are
# also attributes of DRF's ``Field``/``Serializer``. Declaring them is fine at
# run time (the serializer metaclass moves declared fields out of the class
# namespace into ``_declared_fields``), but the stubs see a class attribute
# overriding the base one: those lines carry ``type: ignore[assignment]``.


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file as exported by Toggl Track or Clockify.")
    source = serializers.ChoiceField(choices=sorted(LAYOUTS))  # type: ignore[assignment]  # API field name, see note
    dry_run = serializers.BooleanField(
        default=True, help_text="Default true: report only, write nothing."
    )
    create_missing = serializers.BooleanField(
        default=False, help_text="Create unknown clients, projects and tasks (managers)."
    )
    timezone = serializers.CharField(
        required=False,
        validators=[validate_timezone],
        help_text="Timezone of the file's times (default: the organization's).",
    )
    day_first = serializers.BooleanField(
        default=False, help_text="Slashed dates are DD/MM/YYYY (Clockify setting)."
    )


class _RowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False)


class _ProjectRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    name = serializers.CharField()
    client = serializers.CharField(allow_null=True)


class _CreateMatchSerializer(serializers.Serializer):
    create = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]  # API field name, see note
    match = serializers.ListField(child=serializers.CharField())


class _ProjectsSerializer(serializers.Serializer):
    create = _ProjectRefSerializer(many=True)  # type: ignore[assignment]  # API field name, see note
    match = _ProjectRefSerializer(many=True)


class _EntriesSerializer(serializers.Serializer):
    create = serializers.IntegerField()  # type: ignore[assignment]  # API field name, see note
    total_seconds = serializers.IntegerField()


class _UsersSerializer(serializers.Serializer):
    match = serializers.ListField(child=serializers.EmailField())


class _CreatedSerializer(serializers.Serializer):
    entries = serializers.IntegerField()
    clients = serializers.IntegerField()
    projects = serializers.IntegerField()
    tasks = serializers.IntegerField()


class ImportReportSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]  # API field name, see note
    dry_run = serializers.BooleanField()
    rows = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = _RowErrorSerializer(many=True, help_text="The first 500 row errors, by line.")  # type: ignore[assignment]  # API field name, see note
    warning_count = serializers.IntegerField()
    warnings = _RowErrorSerializer(
        many=True,
        help_text="The first 500 row warnings, by line: choices the file did not settle "
        "(ambiguous_local_time). They do not stop a real run.",
    )
    entries = _EntriesSerializer()
    users = _UsersSerializer()
    clients = _CreateMatchSerializer()
    projects = _ProjectsSerializer()
    tasks = _CreateMatchSerializer()
    tags = _CreateMatchSerializer()
    created = _CreatedSerializer(required=False, help_text="Real runs only.")
