"""``python manage.py load_reference``: load regions, industries and key industries.

Idempotent: run it as often as you like (``make run`` and the test setup do). Without
``--regions`` it loads the newest committed edition under fixtures/reference/, unless the
database already reflects a newer one.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from apps.reference.loaders import ReferenceDataError, current_region_file, load_all


class Command(BaseCommand):
    help = "Load reference data: region edition (GB/T 2260), industries (GB/T 4754-2017), key industries."

    def add_arguments(self, parser):
        parser.add_argument(
            "--regions",
            metavar="FILE",
            help="region edition file to load instead of the newest one in fixtures/reference/",
        )
        parser.add_argument(
            "--allow-older",
            action="store_true",
            help="apply a region edition older than the current one (rolls names back, deactivates newer codes)",
        )

    def handle(self, *args, regions=None, allow_older=False, **options):
        started = time.perf_counter()
        try:
            region_file = regions or current_region_file()
            results = load_all(regions, allow_older=allow_older)
        except ReferenceDataError as exc:
            raise CommandError(f"nothing loaded: {exc}") from exc
        elapsed = time.perf_counter() - started

        labels = {"regions": f"regions ({region_file})", "industries": "industries", "key_industries": "key industries"}
        for key, result in results.items():
            line = f"{labels[key]}: {result}"
            self.stdout.write(line)
            for note in result.notes:
                self.stdout.write(f"  {note}")
        self.stdout.write(self.style.SUCCESS(f"reference data loaded in {elapsed:.2f} s"))
