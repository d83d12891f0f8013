"""Query conditions that need one form per database."""

from django.db import connection
from django.db.models import Q


def json_list_has(field: str, value: str) -> Q:
    """``field`` (a JSONField holding a list of codes) has ``value``: PostgreSQL's
    containment (``@>``, served by a GIN index where there is one); elsewhere (SQLite, the
    database of ``make run``, has no JSON containment) the quoted code in the JSON text —
    exact for codes, which hold no quote or backslash."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": [value]})
    return Q(**{f"{field}__icontains": f'"{value}"'})
