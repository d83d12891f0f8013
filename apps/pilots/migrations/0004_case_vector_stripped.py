from django.db import migrations


def strip_vectors(apps, schema_editor):
    # Search vectors are kept without positions from now on (apps/pilots/search.py); the
    # existing ones are stripped the same way. Only PostgreSQL has them.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("UPDATE pilots_case SET search_vector = strip(search_vector) WHERE search_vector IS NOT NULL")


class Migration(migrations.Migration):

    dependencies = [
        ("pilots", "0003_case_published_index"),
    ]

    operations = [
        migrations.RunPython(strip_vectors, migrations.RunPython.noop),
    ]
