"""Database extensions, installed once into the public schema.

Tenant migrations must never create extensions: ``CREATE EXTENSION`` puts the
extension's objects in the first schema of the search path, which during a
tenant migration is that tenant's schema. Tenant tables use them through the
``public`` entry of their search path.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;"
            "CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
