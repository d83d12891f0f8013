"""Request checks that every view relies on."""

from __future__ import annotations

from csp.constants import HEADER, HEADER_REPORT_ONLY, UNSAFE_EVAL
from csp.middleware import CheckableLazyObject, CSPMiddleware
from django.conf import settings
from django.http import HttpResponse
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

    # what a view may set to change the policy of one response (django-csp's decorators)
    PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plain: dict[bool, dict[str, str]] = {}

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only and request.path_info.startswith("/admin/"):
            parts.update = {**(parts.update or {}), "script-src": [UNSAFE_EVAL]}
        return parts

    def process_response(self, request, response):
        """The policy of a response no view changed and no nonce entered depends on the
        settings and on whether it is the admin's only: built once per process (django-csp
        builds it twice per response, a third of the CPU of a cached API request)."""
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in self.PER_RESPONSE)
            or (settings.DEBUG and response.status_code in (404, 500))
            or any((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
                   for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"))
        ):
            return super().process_response(request, response)
        admin = request.path_info.startswith("/admin/")
        headers = self._plain.get(admin)
        if headers is None:
            probe = super().process_response(request, HttpResponse())
            headers = self._plain[admin] = {h: probe[h] for h in (HEADER, HEADER_REPORT_ONLY) if h in probe}
        for header, exempt in ((HEADER, "_csp_exempt"), (HEADER_REPORT_ONLY, "_csp_exempt_ro")):
            if header in headers and header not in response and not getattr(response, exempt, False):
                response[header] = headers[header]
        # as django-csp: a nonce asked for after the header is written is an error
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


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
