"""Pilot selection and showcase case API, mounted at /api/v1/ (``pilots/…`` and ``cases/…``).

The same rules as the pages: applications through ``pilot_rules.applications_visible_to``
(404 outside), reviews through ``selectors.reviews_visible`` (an expert sees others' scores
only after submitting its own), changes through the services. Public endpoints (no log-in,
throttled per address like the open-data API): published cases, and the lists on notice or
announced.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import include, path
from django.utils import timezone
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from apps.accounts import pilot_rules
from apps.insights.public_api import PublicRateThrottle, PublicThrottled

from . import selectors, services
from .models import Application, Assignment, Call, CallStatus, Case, Review
from .search import filter_cases


def _call_service(fn, **kwargs):
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.messages) from exc
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc


class CallSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = [
            "id", "title", "year", "description", "status", "scenario_levels", "applications_open_on",
            "applications_close_on", "recommendation_closes_on", "eligibility_closes_on", "review_closes_on",
            "defence_required", "defence_closes_on", "notice_starts_on", "notice_ends_on", "decision_on",
            "quota_per_unit", "industry_quotas", "rubric_scale", "reviewers_per_application", "aggregation",
            "disagreement_threshold", "min_diagnosis_level", "announced_at",
        ]


class ApplicationSerializer(serializers.ModelSerializer):
    enterprise = serializers.CharField(source="enterprise.name")
    scenarios = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = [
            "id", "call", "enterprise", "recommending_unit", "key_industry", "status", "diagnosis_score",
            "diagnosis_level", "recommend_rank", "submitted_at", "eligibility_checks", "scenarios",
        ]

    def get_scenarios(self, obj) -> list[dict]:
        return [{"title": s.title, "level": s.level, "elements": s.elements, "text": s.text} for s in obj.scenarios.all()]


class ReviewSerializer(serializers.ModelSerializer):
    expert = serializers.CharField(source="assignment.expert.name")

    class Meta:
        model = Review
        fields = ["id", "expert", "scores", "comment", "total", "submitted_at"]


class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CallSerializer

    def get_queryset(self):
        qs = Call.objects.all()
        return qs if pilot_rules.is_pilot_staff(self.request.user) else qs.exclude(status=CallStatus.DRAFT)


class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Applications the caller may see; recommend / return (its recommending unit) and the
    reviews it may read."""

    serializer_class = ApplicationSerializer

    def get_queryset(self):
        return (pilot_rules.applications_visible_to(self.request.user).distinct()
                .select_related("enterprise").prefetch_related("scenarios").order_by("pk"))

    @action(detail=True, methods=["get"])
    def reviews(self, request, pk=None):
        app = self.get_object()
        return Response(ReviewSerializer(selectors.reviews_visible(user=request.user, application=app), many=True).data)

    @action(detail=True, methods=["post"])
    def recommend(self, request, pk=None):
        app = _call_service(services.application_recommend, application=self.get_object(), user=request.user)
        return Response(ApplicationSerializer(app).data)

    @action(detail=True, methods=["post"], url_path="return")
    def return_(self, request, pk=None):
        app = _call_service(services.application_return, application=self.get_object(), user=request.user,
                            reason=str(request.data.get("reason", "")))
        return Response(ApplicationSerializer(app).data)


class AssignmentSerializer(serializers.ModelSerializer):
    application = serializers.IntegerField(source="application_id")
    enterprise = serializers.CharField(source="application.enterprise.name")
    submitted_at = serializers.DateTimeField(source="review.submitted_at", default=None)

    class Meta:
        model = Assignment
        fields = ["id", "application", "enterprise", "assigned_at", "submitted_at"]


class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's own review assignments (experts); POST review saves or submits scores."""

    serializer_class = AssignmentSerializer

    def get_queryset(self):
        return selectors.assigned_reviews_for(self.request.user)

    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        asg = self.get_object()
        scores = request.data.get("scores") or {}
        if not isinstance(scores, dict):
            raise ValidationError({"scores": "须为 {要点代码: 分数}"})
        review = _call_service(services.review_save, assignment=asg, user=request.user, scores=scores,
                               comment=str(request.data.get("comment", "")), submit=bool(request.data.get("submit")))
        return Response(ReviewSerializer(review).data)


# --- public ---------------------------------------------------------------------------------------


class PublicMixin:
    """No log-in needed; the open-data API's per-address throttle (scope ``public``). A
    signed-in caller is still recognised, so its responses are marked not-to-be-stored like
    every signed-in page."""

    permission_classes = [AllowAny]
    throttle_classes = [PublicRateThrottle]
    throttle_scope = "public"

    def throttled(self, request, wait):
        raise PublicThrottled(wait)


class CaseSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.name", default="")

    class Meta:
        model = Case
        fields = [
            "id", "title", "enterprise_display", "scenario_level", "key_industry", "industry", "elements", "region",
            "province_code", "problem", "solution", "results", "published_at",
        ]


class CaseViewSet(PublicMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Published showcase cases: ?q= full-text, ?level=, ?industry=, ?element=, ?province=."""

    serializer_class = CaseSerializer
    filter_backends: list = []

    def get_queryset(self):
        return filter_cases(Case.objects.published().select_related("region"), self.request.query_params)


class NoticeSerializer(serializers.ModelSerializer):
    entries = serializers.SerializerMethodField()
    stage = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = ["id", "title", "year", "notice_starts_on", "notice_ends_on", "announced_at", "stage", "entries"]

    def get_stage(self, obj) -> str:
        return "announced" if obj.announced_at else "notice"

    def get_entries(self, obj) -> list[dict]:
        return [{"enterprise": a.enterprise.name, "recommending_unit": a.recommending_unit.name,
                 "scenarios": [s.title for s in a.scenarios.all()]} for a in selectors.public_list(obj)]


class NoticeViewSet(PublicMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Lists on public notice (from the first day of the notice) and announced lists."""

    serializer_class = NoticeSerializer
    filter_backends: list = []

    def get_queryset(self):
        today = timezone.localdate()
        return Call.objects.exclude(status=CallStatus.DRAFT).filter(notice_starts_on__lte=today).order_by("-notice_starts_on")

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


router = SimpleRouter()
router.register("pilots/calls", CallViewSet, basename="pilot-call")
router.register("pilots/applications", ApplicationViewSet, basename="pilot-application")
router.register("pilots/assignments", AssignmentViewSet, basename="pilot-assignment")
router.register("pilots/notices", NoticeViewSet, basename="pilot-notice")
router.register("cases", CaseViewSet, basename="case")

urlpatterns = [path("", include(router.urls))]
