"""RunScore loses its index on enterprise_id alone (issue 13). Every read of scores is by run
(the unique index on run, enterprise_id serves it, also the pilots' look-up of one filing's
score); the extra index was written for every score of every run — a third btree kept up by
each chunk's COPY — and read by nothing."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("indices", "0014_run_stale_marked_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="runscore",
            name="enterprise_id",
            field=models.BigIntegerField(),
        ),
    ]
