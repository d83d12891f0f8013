# One- and two-character name searches served by an index on PostgreSQL (issue 13). pg_trgm
# extracts no trigram from a pattern that short, so "玄武" or "钢" read every enterprise.
# Each name's characters (upper case) are kept in a generated column, which PostgreSQL
# computes on every write whichever path writes the name (forms, the import's COPY and
# UPDATE, the admin), with a GIN index: enterprises.models.enterprise_search_q asks it for
# the searched characters through the ``chars`` lookup (and, for two, the substring as
# before). Nothing on other databases (SQLite scans, as before).
# The column is added with a table rewrite (seconds for a million enterprises; writes wait
# meanwhile); the index is built without blocking writes.

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE enterprises_enterprise ADD COLUMN IF NOT EXISTS name_chars text[] "
            "GENERATED ALWAYS AS (string_to_array(upper(name::text), NULL)) STORED"
        )
        cursor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS enterprise_name_chars ON enterprises_enterprise USING gin (name_chars)"
        )
        # the planner's statistics of the new column (which characters are common)
        cursor.execute("ANALYZE enterprises_enterprise")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS enterprise_name_chars")
        cursor.execute("ALTER TABLE enterprises_enterprise DROP COLUMN IF EXISTS name_chars")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("enterprises", "0007_enterprise_name_trigram_search"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
