"""Malformed input never causes a server error: every URL of the portal (walked from the
URLconf), as every role, with hostile shapes in every query parameter the code reads and in
every field of every form the page shows. A clerk gets a 4xx with a message, never a 500.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from apps.core.middleware import RejectNulMiddleware
from tests.core.conftest import Forms, urls

pytestmark = pytest.mark.django_db

NUL = "\x00"
SHAPES = [NUL, "abc", "", "NaN", "-1", "9" * 30, "'\"<x>", "０１"]
# Every query parameter name read by a view, a filter set or the API (grep request.GET /
# filter fields); the walker sends each shape in all of them at once, then each alone.
PARAMS = [
    "region", "parent", "province", "prefecture", "selected", "period", "page", "sort", "tab",
    "status", "industry", "division", "size", "level", "score_min", "score_max", "peers", "kind",
    "q", "search", "revision", "next", "code", "enterprise", "county", "key_industry", "format",
    "uscc", "name", "submitted_after", "submitted_before", "flagged", "order", "fmt", "lang",
    "year", "dimension", "instrument", "notice", "pilot", "round",
]
EVERY = "*"  # parameters_read: the request went through all parameters (or asked whether there were any)


@contextmanager
def parameters_read():
    """The names of the parameters the code read from any QueryDict inside the block, or
    ``EVERY`` among them when it iterated one, copied it (links that carry the query on) or
    asked whether it was empty.

    A request with only parameter P set runs exactly as the request without parameters
    until the code first reads P, so a parameter the plain request never read cannot change
    what the page does alone; checking one parameter at a time only for those read keeps
    the check whole with a fraction of the requests. The NUL guard
    (``RejectNulMiddleware._has_nul``) reads every parameter alike, whatever its name, so
    its reads do not count."""
    read: set[str] = set()
    guard = RejectNulMiddleware._has_nul.__code__

    def counted() -> bool:
        return sys._getframe(2).f_code is not guard

    def by_key(method):
        def recorded(self, key, *args, **kwargs):
            if counted():
                read.add(key)
            return method(self, key, *args, **kwargs)
        return recorded

    def whole(method):
        def recorded(self, *args, **kwargs):
            if counted():
                read.add(EVERY)
            return method(self, *args, **kwargs)
        return recorded

    wrapped = {"__getitem__": by_key, "get": by_key, "getlist": by_key, "__contains__": by_key,
               "__iter__": whole, "__len__": whole, "keys": whole, "items": whole, "lists": whole, "values": whole,
               "dict": whole, "copy": whole, "__copy__": whole, "__deepcopy__": whole, "urlencode": whole}
    own = {name: QueryDict.__dict__[name] for name in wrapped if name in QueryDict.__dict__}
    for name, wrap in wrapped.items():
        setattr(QueryDict, name, wrap(getattr(QueryDict, name)))
    try:
        yield read
    finally:
        for name in wrapped:
            if name in own:
                setattr(QueryDict, name, own[name])
            else:
                delattr(QueryDict, name)


def check(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code}"


@pytest.mark.parametrize("role", ["anonymous", "enterprise", "authority", "ministry"])
def test_hostile_query_and_form_values_never_cause_a_server_error(client, portal, role):
    user = portal["users"][role]
    if user is not None:
        client.force_login(user)
    for _name, url in urls(portal["ids"]):
        with parameters_read() as read:
            page = client.get(url)
        check(page, f"GET {url}")
        forms = []
        if page.status_code == 200 and page.get("Content-Type", "").startswith("text/html"):
            parser = Forms()
            parser.feed(page.content.decode())
            forms = parser.forms
        # every listed parameter at once, unless the page reads none of them (the request
        # would then run as the plain one above: parameters_read)
        listed = EVERY in read or not read.isdisjoint(PARAMS)
        for shape in SHAPES:
            if listed:
                check(client.get(url + "?" + urlencode(dict.fromkeys(PARAMS, shape))), f"GET {url} all={shape!r}")
            for form in forms:
                action = form["action"] or url
                if action.startswith("/i18n/") or action.startswith("/accounts/logout"):
                    continue
                data = dict.fromkeys(form["fields"], shape)
                if form["method"] == "post":
                    check(client.post(action, data), f"POST {action} form of {url} {shape!r}")
                else:
                    check(client.get(action, data), f"GET {action} form of {url} {shape!r}")
        if role == "authority" and page.status_code == 200:
            # one parameter at a time, so that an early 404 on one cannot hide another
            # (a number too large for the database: the shape most likely to pass a form check);
            # only those the page reads (parameters_read), and every one it reads, listed
            # above or not
            for param in sorted((set(PARAMS) if EVERY in read else set()) | (read - {EVERY})):
                check(client.get(url + "?" + urlencode({param: "9" * 30})), f"GET {url} {param}=9…9")


@pytest.mark.parametrize("value", ["abc", "", "NaN", "1.5", "9" * 30, NUL])
def test_malformed_revision_is_a_400_with_a_message(client, portal, value):
    client.force_login(portal["users"]["enterprise"])
    sub_pk = portal["ids"][("filings", "pk")]
    for name in ("step", "autosave"):
        response = client.post(f"/filings/{sub_pk}/{name}/D1/", {"revision": value})
        assert response.status_code == 400, (name, value)
        body = response.content.decode()
        assert "修订号" in body or "NUL" in body, body[:500]


def test_nul_in_parameters_is_a_400_everywhere(client, portal):
    client.force_login(portal["users"]["authority"])
    for url in ("/reference/regions/options/?parent=%00", "/insights/?region=%00", "/insights/export/regions.csv?region=%00",
                "/insights/enterprises/export.csv?region=%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "NUL" in response.content.decode()
    client.logout()
    assert client.get("/reference/regions/options/?parent=%00").status_code == 400
    api = client.get("/api/v1/public/periods/?x=%00")
    assert api.status_code == 400 and "NUL" in api.json()["detail"]
