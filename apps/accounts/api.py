"""API authentication: exchange a user name and password for a token (axes lock-out applies)."""

from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.views import ObtainAuthToken


@extend_schema(tags=["auth"], summary="用用户名和密码换取 API 令牌 / Obtain an API token")
class ObtainTokenView(ObtainAuthToken):
    pass
