"""Request checks that every view relies on."""

from __future__ import annotations

from django.utils.translation import gettext as _

from .http import bad_request


class RejectNulMiddleware:
    """Answer 400 to a request whose path, query or form data holds a NUL character.

    No field of ours may contain one, and PostgreSQL refuses it in a text value, so it would
    otherwise surface as a server error wherever a parameter reaches a query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            return bad_request(request, _("请求中含有不允许的控制字符（NUL），请检查输入后重试。"))
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path:
            return True
        data = [request.GET]
        if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            data.append(request.POST)
        for query in data:
            for key, values in query.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return True
        return False
