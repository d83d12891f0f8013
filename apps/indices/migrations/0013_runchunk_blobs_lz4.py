"""A chunk's hand-over blobs (RunChunk.join_columns, indicator_sums) compressed with lz4
instead of PostgreSQL's default pglz when they are moved out of line (TOAST).

The join columns are an uncompressed .npz of about 90 bytes a filing (8 MB for a chunk of
85,000 filings): an INSERT of such a blob took 0.75–0.9 s with pglz and 0.16–0.2 s with
lz4 (load average 6; the chunk's commit waits for it), stored 4.06 MB against 4.25 MB;
reading them back costs the same (docs/PERFORMANCE.md, engineer c). Only on PostgreSQL built with lz4 (14+, the Debian and
official packages are); elsewhere nothing changes. Storage only: no model state."""

from django.db import migrations

COLUMNS = ("join_columns", "indicator_sums")


def _set_compression(method: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = apps.get_model("indices", "RunChunk")._meta.db_table
        for column in COLUMNS:
            # a server built without lz4 refuses the method (feature_not_supported): keep pglz
            schema_editor.execute(
                "DO $$ BEGIN "
                f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}; "
                "EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL; END $$"
            )

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("indices", "0012_runchunk_join_columns"),
    ]

    operations = [
        migrations.RunPython(_set_compression("lz4"), _set_compression("pglz")),
    ]
