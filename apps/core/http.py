"""Answers to malformed input: a 400 with a message a clerk can act on, never a 500.

``bad_request`` renders the message on a page (or as JSON ``{"detail": ...}`` for the API
and htmx fragments); ``int_field`` reads an integer form or query value and raises
:class:`BadInput` with such a message when it is not one.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

# PostgreSQL's integer range: a larger number would fail in the database, not here.
MAX_INT = 2**31 - 1


class BadInput(ValueError):
    """A request value that cannot be used; ``message`` says which and why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    """A 400 answer carrying ``message``: JSON for the API, a small page otherwise, plain
    text for an htmx request (it is swapped into a status line)."""
    if wants_json(request):
        return JsonResponse({"detail": message}, status=400)
    if request.headers.get("HX-Request"):
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    return render(request, "core/bad_request.html", {"message": message}, status=400)


def int_field(data, name: str, *, label: str | None = None, default: int | None = None) -> int:
    """The integer ``data[name]`` (a QueryDict); ``default`` when absent; :class:`BadInput`
    when present but not a whole number in the database's range."""
    raw = data.get(name)
    if raw is None and default is not None:
        return default
    text = (raw or "").strip()
    if text.lstrip("-").isdigit() and text.isascii():
        value = int(text)
        if -MAX_INT <= value <= MAX_INT:
            return value
    raise BadInput(_("“%(field)s”应为整数，收到的是“%(value)s”。请刷新页面后重试。") % {
        "field": label or name, "value": text[:20]})


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The ``next`` of a POST (or GET) when it is a path on this site, else ``fallback``.

    ``url_has_allowed_host_and_scheme`` refuses other hosts (``//evil.example/x``,
    ``https://evil.example/``, ``/\\evil.example``); requiring a leading "/" also refuses
    relative names, which ``redirect()`` would try to resolve as URL names.
    """
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
