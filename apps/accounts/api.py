"""API authentication: exchange a user name and password for a token (axes lock-out applies).

Every call makes a new :class:`~apps.accounts.models.ApiToken`; it expires after
``API_TOKEN_TTL_DAYS`` and is listed (with its last use) and revocable on the user's
「API 令牌」 page and in the admin site.
"""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from .lockout import retry_after_seconds, username_held_back
from .models import ApiToken


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="令牌（仅此一次显示）")
    expires_at = serializers.DateTimeField(help_text="到期时间")


def _too_many(detail: str, retry_after: int) -> Response:
    return Response({"detail": detail}, status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": str(retry_after)})


@extend_schema(tags=["auth"], summary="用用户名和密码换取 API 令牌 / Obtain an API token",
               responses={200: TokenSerializer, 400: OpenApiResponse(description="用户名或密码错误"),
                          429: OpenApiResponse(description="登录失败次数过多，账号已临时锁定（见 Retry-After）")})
class ObtainTokenView(ObtainAuthToken):
    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", "")) if hasattr(request.data, "get") else ""
        credentials = {"username": username}
        if username and AxesProxyHandler.is_locked(request._request, credentials):
            return _too_many(_("登录失败次数过多，账号已临时锁定，请稍后再试。"),
                             int(settings.AXES_COOLOFF_TIME.total_seconds()))
        if username_held_back(request._request, username):
            return _too_many(_("该账号近期登录失败过多，请稍后再试。"), retry_after_seconds())
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False):
                return _too_many(_("登录失败次数过多，账号已临时锁定，请稍后再试。"),
                                 int(settings.AXES_COOLOFF_TIME.total_seconds()))
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        token, key = ApiToken.issue(user=serializer.validated_data["user"], name="API")
        return Response({"token": key, "expires_at": token.expires_at})
