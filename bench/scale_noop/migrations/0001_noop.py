"""One new migration with no effect: what a release costs per schema when the
migration itself is free (executor start-up, history check, bookkeeping row)."""

from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
