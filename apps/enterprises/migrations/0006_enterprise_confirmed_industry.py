# The index engine's chunk read looks up enterprises in a small index (issue 13), built without blocking imports.

from django.db import migrations, models

from apps.core.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('enterprises', '0005_lean_indexes'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='enterprise',
            index=models.Index(
                condition=models.Q(('awaiting_confirmation', False)), fields=['id'], include=('industry',),
                name='enterprise_confirmed_industry',
            ),
        ),
    ]
