"""URL map of the portal."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("enterprises/", include("apps.enterprises.urls")),
    path("filings/", include("apps.filings.urls")),
    path("insights/", include("apps.insights.urls")),
    path("open/", include("apps.insights.public_urls")),
    path("api/v1/public/", include("apps.insights.public_api")),
    path("api/v1/", include("apps.pilots.api")),
    path("reference/", include("apps.reference.urls")),
    path("pilots/", include("apps.pilots.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api_urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("policies/", include("apps.policies.urls")),
    path("api/v1/policies/", include("apps.policies.api")),
    path("index-runs/", include("apps.indices.urls")),
    path("notices/", include("apps.notifications.urls")),
]
