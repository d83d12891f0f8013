"""Beat schedule: take the register snapshot of each period once its filing window closes
(apps.indices.tasks.snapshot_closed_periods, hourly; editable in the admin)."""

from django.db import migrations

NAME = "指数计算：截止后保存企业名录快照"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=NAME, defaults={"task": "apps.indices.tasks.snapshot_closed_periods", "interval": hourly}
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="apps.indices.tasks.snapshot_closed_periods").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("indices", "0009_indexcell_not_measured_share"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
