"""Signals of the index engine, for apps that follow what readers see.

``run_published`` (kwargs: ``run_id``) is sent after the transaction that published a run
commits — also when an earlier run is published again (a rollback)."""

from django.dispatch import Signal

run_published = Signal()
