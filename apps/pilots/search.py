"""Full-text search of showcase cases.

PostgreSQL's parsers do not segment Chinese: a run of Han characters would be one token and a
query for a word inside it would never match. So the indexed text and the query are both
turned into tokens first: every run of CJK characters becomes its overlapping bigrams (a
single character stays as it is), Latin words and numbers are lower-cased. On PostgreSQL
the tokens go into a ``tsvector`` (``simple`` configuration, GIN index) and a query matches
when the case holds all its tokens (``plainto_tsquery``), newest first. The vector is kept
without positions (``strip``): nothing ranks or searches phrases, and the stripped vector is a
third smaller, which is what a newest-first scan reads for every row it tests. Elsewhere
(SQLite) the fallback is ``icontains`` on the title, problem, solution and enterprise.
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorField
from django.db import connection
from django.db.models import Func, Q

from apps.core.lookups import json_list_has

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9A-Za-z]+")


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for run in _CJK_RUN.findall(text or ""):
        out += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    out += [w.lower() for w in _WORD.findall(text or "")]
    return out


def case_search_text(case) -> str:
    parts = [case.title, case.enterprise_display, case.problem, case.solution]
    parts += [str(r.get("metric", "")) for r in (case.results or []) if isinstance(r, dict)]
    return " ".join(tokens(" ".join(p for p in parts if p)))


def search_vector():
    """The expression stored in ``Case.search_vector`` (PostgreSQL): the tokens of
    ``search_text`` as a position-less tsvector."""
    return Func(SearchVector("search_text", config="simple"), function="strip", output_field=SearchVectorField())


def search_cases(qs, query: str):
    """Filter ``qs`` to the cases matching ``query``; the order stays the caller's (newest
    first). Ranking by ``ts_rank`` was measured and dropped: it must score every match before
    the first page can be sent (a two-character query can match most of the library), while
    the newest-first order lets PostgreSQL stop after one page."""
    query = (query or "").strip()
    if not query:
        return qs
    if connection.vendor == "postgresql":
        terms = tokens(query)
        if not terms:
            return qs.none()
        sq = SearchQuery(" ".join(terms), config="simple", search_type="plain")
        return qs.filter(search_vector=sq)
    words = query.split()
    cond = Q()
    for w in words:
        cond &= Q(title__icontains=w) | Q(problem__icontains=w) | Q(solution__icontains=w) | Q(enterprise_display__icontains=w)
    return qs.filter(cond)


def filter_cases(qs, params):
    """The case library's search and filters (``q``, ``level``, ``industry``, ``element``,
    ``province``) applied to ``qs`` — one rule for the public page and the API."""
    from .models import Element, ScenarioLevel

    qs = search_cases(qs, params.get("q", ""))
    if params.get("level") in ScenarioLevel.values:
        qs = qs.filter(scenario_level=params["level"])
    if params.get("industry"):
        qs = qs.filter(key_industry_id=params["industry"])
    if params.get("element") in Element.values:
        qs = qs.filter(json_list_has("elements", params["element"]))
    if params.get("province"):
        qs = qs.filter(province_code=params["province"])
    return qs
