# The index engine's chunk read by region (issue 13), built without blocking filings.

from django.db import migrations, models

from apps.core.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('filings', '0008_submission_industry_code'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='submission',
            index=models.Index(
                condition=models.Q(('status', 'accepted')),
                fields=['period', 'province_code', 'prefecture_code', 'county_code'],
                include=('id', 'enterprise', 'division_code', 'industry_code', 'answer_vector'),
                name='submission_accepted_region',
            ),
        ),
    ]
