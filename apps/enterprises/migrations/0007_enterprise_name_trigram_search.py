# The enterprise name search (name__icontains) served by a trigram index on PostgreSQL
# instead of a sequential scan (issue 13), built without blocking imports.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from apps.core.migration_operations import AddPostgresIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("enterprises", "0006_enterprise_confirmed_industry"),
    ]

    operations = [
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it;
        # nothing happens on other databases
        TrigramExtension(),
        AddPostgresIndexConcurrently(
            model_name="enterprise",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("name"), name="gin_trgm_ops"
                ),
                name="enterprise_name_trgm",
            ),
        ),
    ]
