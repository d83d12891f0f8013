"""Rows written once for every test of a module (see ``rows_kept_for_the_module``)."""

from __future__ import annotations

# the module fixtures whose rows are in an open transaction now (read by tests/conftest.py
# _tests_beside_kept_rows; a module of its own so that conftest and the test modules share it)
kept_now: list[str] = []


def rows_kept_for_the_module(django_db_blocker, build, name: str):
    """Write the rows ``build()`` makes once, for every test of a module; yield its value.

    For a module-scoped fixture whose tests only read a large world (a population with two
    published index runs takes seconds to build and dozens of tests read it)::

        @pytest.fixture(scope="module")
        def world_rows(django_db_setup, django_db_blocker):
            yield from rows_kept_for_the_module(django_db_blocker, make_world, "world_rows")

        @pytest.fixture
        def world(world_rows, db):
            return copy.deepcopy(world_rows)

    The rows are written inside a transaction that stays open until the module's last test
    and is then rolled back (the pattern of Django's ``setUpTestData``; pytest-django's
    non-transactional ``db`` nests each test in a savepoint of it, so what a test writes is
    undone after it as before). Two rules, enforced by ``_tests_beside_kept_rows (tests/conftest.py)``:

    * every test of the module that runs while the rows exist must ask for the fixture
      (a test that expects an empty database would see them);
    * none of them may be transactional: a live server or a Celery worker reads through
      its own connection and would not see uncommitted rows.
    """
    from django.db import transaction

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer._from_testcase = True  # as TestCase's class atomics: durable blocks inside stay legal
        outer.__enter__()
    kept_now.append(name)
    try:
        with django_db_blocker.unblock():
            value = build()
        yield value
    finally:
        kept_now.remove(name)
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
