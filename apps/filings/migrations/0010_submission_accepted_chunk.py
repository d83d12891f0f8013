# The chunk read's region index also holds size class and revenue (issue 13: the chunk hands
# them to the join), so that the read stays an index-only scan. The new index is built
# before the old one is dropped, both without blocking filings: the chunk read always has one.

from django.db import migrations, models

from apps.core.migration_operations import AddIndexConcurrentlyOnPostgres, RemoveIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("filings", "0009_submission_accepted_region"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="submission",
            index=models.Index(
                condition=models.Q(("status", "accepted")),
                fields=["period", "province_code", "prefecture_code", "county_code"],
                include=(
                    "id",
                    "enterprise",
                    "division_code",
                    "industry_code",
                    "size_class",
                    "revenue",
                    "answer_vector",
                ),
                name="submission_accepted_chunk",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(
            model_name="submission",
            name="submission_accepted_region",
        ),
    ]
