"""API authentication: exchange a user name and password for a token (axes lock-out applies).

Every call makes a new :class:`~apps.accounts.models.ApiToken`; it expires after
``API_TOKEN_TTL_DAYS`` and is listed (with its last use) and revocable on the user's
「API 令牌」 page and in the admin site.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from .models import ApiToken


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="令牌（仅此一次显示）")
    expires_at = serializers.DateTimeField(help_text="到期时间")


@extend_schema(tags=["auth"], summary="用用户名和密码换取 API 令牌 / Obtain an API token",
               responses={200: TokenSerializer})
class ObtainTokenView(ObtainAuthToken):
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = ApiToken.issue(user=serializer.validated_data["user"], name="API")
        return Response({"token": key, "expires_at": token.expires_at})
