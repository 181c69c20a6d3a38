"""An organization's ``created_at`` is when it began, not when its schema was
built.

Signups claim a pre-built spare schema (tenants/README.md, "pool"); until
this release the claimed row kept the spare's ``created_at``, so the CLI, the
admin and the API showed the time the pool was filled, possibly days before
the signup. Provisioning now sets it at the claim. For existing rows the
signup's time is still known: the primary domain and the owner's membership
are created in the signup's transaction. A customer whose earliest domain or
membership is more than ten minutes younger than its row gets that time
(no provisioning path takes ten minutes; rows whose spare waited less than
that keep an error of at most ten minutes). Template and pool rows are not
touched. Not reversible in data (the spare's time is not worth keeping):
reversing is a no-op.
"""

from django.db import migrations

FORWARDS = """
UPDATE organizations_organization AS o
SET created_at = began.at
FROM (
    SELECT org.id,
           LEAST(
               (SELECT min(d.created_at) FROM organizations_domain AS d WHERE d.tenant_id = org.id),
               (SELECT min(m.joined_at) FROM organizations_membership AS m
                WHERE m.organization_id = org.id)
           ) AS at
    FROM organizations_organization AS org
    WHERE org.status NOT IN ('template', 'pooled')
) AS began
WHERE began.id = o.id
  AND began.at IS NOT NULL
  AND began.at > o.created_at + interval '10 minutes'
"""


class Migration(migrations.Migration):
    dependencies = [("organizations", "0005_status_before_suspension_currency")]

    operations = [migrations.RunSQL(FORWARDS, reverse_sql=migrations.RunSQL.noop)]
