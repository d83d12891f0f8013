"""Beat schedule of the index engine, kept in the database (editable in the admin):
the stalled-run reaper every minute and a nightly run for every period with filings."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name="指数计算：检查中断的批次", defaults={"task": "apps.indices.tasks.reap_stalled_runs", "interval": every_minute}
    )
    PeriodicTask.objects.get_or_create(
        name="指数计算：每晚计算各期次", defaults={"task": "apps.indices.tasks.compute_open_periods", "crontab": nightly}
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__startswith="apps.indices.tasks.").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("indices", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
