"""Migration operations shared by the apps' migrations.

CREATE/DROP INDEX CONCURRENTLY keeps a national table writable while an index is built or
dropped (a plain statement holds off every insert and update meanwhile); it exists only on
PostgreSQL. Each operation below does it concurrently there and, elsewhere (SQLite for
``make run``), the plain operation of its ``elsewhere`` or nothing. A migration using one
must set ``atomic = False``."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class _ConcurrentlyOnPostgres:
    elsewhere: type | None = None  # the plain operation off PostgreSQL; None: nothing

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        if self.elsewhere is not None:
            return self.elsewhere.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        if self.elsewhere is not None:
            return self.elsewhere.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere."""

    elsewhere = migrations.AddIndex


class AddPostgresIndexConcurrently(_ConcurrentlyOnPostgres, AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY of an index only PostgreSQL has (GIN, trigram operator
    classes); nothing elsewhere — SQLite answers the same queries without it, by scanning."""


class RemoveIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL (filings stay writable while a replaced index
    goes), a plain DROP INDEX elsewhere."""

    elsewhere = migrations.RemoveIndex
