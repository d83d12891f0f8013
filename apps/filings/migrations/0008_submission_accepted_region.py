# The index engine's chunk read by region (issue 13), built without blocking filings.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL — filings stay writable while a national table
    is indexed (a plain CREATE INDEX holds off every insert and update until it is built);
    a plain CREATE INDEX elsewhere (SQLite for ``make run``)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('filings', '0007_answer_not_measured'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='submission',
            index=models.Index(
                condition=models.Q(('status', 'accepted')),
                fields=['period', 'province_code', 'prefecture_code', 'county_code'],
                include=('id', 'enterprise', 'division_code', 'answer_vector'),
                name='submission_accepted_region',
            ),
        ),
    ]
