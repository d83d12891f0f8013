"""Log-in pages and the user's API tokens. Lock-out after repeated failures: django-axes per
user name and client, :mod:`apps.accounts.lockout` per user name (see its docstring)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .lockout import remember_device, retry_after_seconds, username_held_back
from .models import ApiToken


def held_back_response(request):
    """The answer to a log-in attempt held back by the per-user-name limit (429)."""
    response = render(request, "accounts/held_back.html", {"minutes": retry_after_seconds() // 60}, status=429)
    response["Retry-After"] = str(retry_after_seconds())
    return response


class PortalLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if username_held_back(request, request.POST.get("username", "")):
            return held_back_response(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        remember_device(response, form.get_user().get_username())
        return response


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """The user's API tokens with their last use; POST makes a new one (its key shown once)."""
    new_key = None
    if request.method == "POST":
        _token, new_key = ApiToken.issue(user=request.user, name=request.POST.get("name", "").strip())
        messages.success(request, _("已创建新令牌。请立即复制保存，离开本页后将无法再次查看。"))
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "accounts/api_tokens.html", {"tokens": tokens, "new_key": new_key,
                                                        "ttl_days": settings.API_TOKEN_TTL_DAYS})


@login_required
@require_POST
def api_token_revoke(request, pk: int):
    """Revoke one of the user's own tokens (someone else's is a 404)."""
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    token.revoke(ApiToken.REVOKED_USER)
    messages.success(request, _("令牌 %(prefix)s… 已撤销。") % {"prefix": token.prefix})
    return redirect("accounts:api-tokens")
