"""Request checks that every view relies on."""

from __future__ import annotations

from csp.constants import UNSAFE_EVAL
from csp.middleware import CSPMiddleware
from django.utils.cache import add_never_cache_headers, patch_cache_control
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


class PortalCSPMiddleware(CSPMiddleware):
    """django-csp's middleware with one exception: the admin site (staff only) runs
    django-unfold's Alpine.js components, which evaluate expressions and need
    ``'unsafe-eval'``. Inline script stays forbidden there too."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only and request.path_info.startswith("/admin/"):
            parts.update = {**(parts.update or {}), "script-src": [UNSAFE_EVAL]}
        return parts


class NoStoreForSignedInMiddleware:
    """``Cache-Control: no-store`` on every response to a signed-in user (pages and the
    files they download carry personal and enterprise data; a shared or browser cache must
    not keep them), whatever a view set. Anonymous responses keep their own headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if "Cache-Control" in response:
                del response["Cache-Control"]
            add_never_cache_headers(response)
            patch_cache_control(response, private=True)
        return response
