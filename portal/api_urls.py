"""API v1: one router for every app's viewsets, mounted at /api/v1/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from apps.accounts.api import ObtainTokenView
from apps.enterprises.api import EnterpriseViewSet
from apps.filings.api import FrameworkViewSet, PeriodViewSet, SubmissionViewSet
from apps.reference.api import IndustryViewSet, KeyIndustryViewSet, RegionViewSet

router = DefaultRouter()
router.register("enterprises", EnterpriseViewSet, basename="enterprise")
router.register("regions", RegionViewSet, basename="region")
router.register("industries", IndustryViewSet, basename="industry")
router.register("key-industries", KeyIndustryViewSet, basename="key-industry")
router.register("periods", PeriodViewSet, basename="period")
router.register("frameworks", FrameworkViewSet, basename="framework")
router.register("submissions", SubmissionViewSet, basename="submission")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("", include(router.urls)),
]
