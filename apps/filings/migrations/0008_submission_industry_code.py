"""Submission.industry_code: the enterprise's industry when it filed (issue 8).

Filings submitted before this migration did not record it: they are filled from the
enterprise's industry today when that still lies inside the division the filing recorded
(the best record there is; docs/METHOD.md "按期口径"), and left "" otherwise — index runs
then decide the filing's modules from its recorded division alone."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce


def fill_from_today(apps, schema_editor):
    Submission = apps.get_model("filings", "Submission")
    Enterprise = apps.get_model("enterprises", "Enterprise")
    today = Enterprise.objects.filter(pk=OuterRef("enterprise_id"))
    # one UPDATE per recorded division: today's industry if it lies inside it, else ""
    divisions = Submission.objects.exclude(division_code="").values_list("division_code", flat=True).distinct()
    for division in list(divisions):
        # (a lookup on the industry's own code: Django refuses ``industry_id__startswith``)
        inside = today.filter(industry__code__startswith=division).values("industry_id")[:1]
        Submission.objects.filter(industry_code="", division_code=division).update(
            industry_code=Coalesce(Subquery(inside), models.Value(""))
        )


class Migration(migrations.Migration):

    dependencies = [
        ("filings", "0007_answer_not_measured"),
        ("enterprises", "0005_lean_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="industry_code",
            field=models.CharField(blank=True, default="", db_default="", max_length=4, verbose_name="行业代码"),
        ),
        migrations.RunPython(fill_from_today, migrations.RunPython.noop),
    ]
