"""Policy API under /api/v1/policies/: the same scoping as the pages.

* ``/api/v1/policies/`` and ``/<id>/`` — policies the caller may read (public ones
  anonymously), each with its measures, targets and their latest progress in the view the
  caller gets (public: a suppressed cell has ``actual`` null and ``hidden`` true);
* ``/api/v1/policies/support-records/`` — support records of the enterprises the caller may
  see (ministry, admin and authority users only).
"""

from django.urls import include, path
from rest_framework import permissions, serializers, viewsets
from rest_framework.routers import SimpleRouter

from apps.accounts.policy_rules import can_see_support_records, policies_visible_q

from .models import Measure, Policy, SupportRecord, Target
from .selectors import policies_for, tracks_for


class TargetSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Target
        fields = ["id", "metric", "level_min", "cell_kind", "cell_code", "baseline_period", "target_year", "comparison",
                  "value", "progress"]

    def get_progress(self, target) -> list[dict]:
        tracks = self.context.get("tracks") or {}
        track = tracks.get(target.pk) or tracks_for(self.context["request"].user, [target])[0]
        return [
            {"period_year": p.period_year, "actual": p.actual, "hidden": p.hidden, "expected": p.expected,
             "status": p.status, "projection": p.projection, "projection_low": p.projection_low,
             "projection_high": p.projection_high}
            for p in track.series
        ]


class MeasureSerializer(serializers.ModelSerializer):
    targets = TargetSerializer(many=True, read_only=True)

    class Meta:
        model = Measure
        fields = ["id", "title", "description", "instrument", "targets"]


class PolicySerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", read_only=True)
    key_industries = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    measures = MeasureSerializer(many=True, read_only=True)
    superseded_by = serializers.SerializerMethodField()
    supersedes = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = ["id", "title", "doc_number", "issuing_body", "level", "region", "issued_on", "in_force_on",
                  "expires_on", "status", "superseded_by", "supersedes", "instrument", "key_industries", "dimensions",
                  "link", "is_public", "measures"]

    def _visible(self) -> set[int]:
        if not hasattr(self, "_visible_ids"):
            self._visible_ids = set(policies_for(self.context["request"].user).values_list("pk", flat=True))
        return self._visible_ids

    def get_superseded_by(self, policy) -> int | None:
        """The replacing policy, if the caller may read it."""
        return policy.superseded_by_id if policy.superseded_by_id in self._visible() else None

    def get_supersedes(self, policy) -> list[int]:
        """The policies this one replaced that the caller may read."""
        return [p.pk for p in policy.supersedes.all() if p.pk in self._visible()]


class PolicyViewSet(viewsets.ReadOnlyModelViewSet):
    """Policies the caller may read."""

    serializer_class = PolicySerializer
    permission_classes = [permissions.AllowAny]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return policies_for(self.request.user).prefetch_related("key_industries", "supersedes", "measures__targets")

    def get_serializer(self, *args, **kwargs):
        # the progress of every target on the page in two queries, not two per target
        if args:
            policies = args[0] if isinstance(args[0], list) else [args[0]]
            targets = [t for p in policies for m in p.measures.all() for t in m.targets.all()]
            self._tracks = {tr.target.pk: tr for tr in tracks_for(self.request.user, targets)}
        return super().get_serializer(*args, **kwargs)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tracks": getattr(self, "_tracks", None)}


class SupportRecordSerializer(serializers.ModelSerializer):
    uscc = serializers.CharField(source="enterprise.uscc", read_only=True)
    enterprise_name = serializers.CharField(source="enterprise.name", read_only=True)

    class Meta:
        model = SupportRecord
        fields = ["id", "uscc", "enterprise_name", "measure", "granted_on", "amount", "note"]


class CanSeeSupport(permissions.BasePermission):
    def has_permission(self, request, view):
        return can_see_support_records(request.user)


class SupportRecordViewSet(viewsets.ReadOnlyModelViewSet):
    """Support records of the enterprises the caller may see."""

    serializer_class = SupportRecordSerializer
    permission_classes = [permissions.IsAuthenticated, CanSeeSupport]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return (SupportRecord.objects.visible_to(self.request.user)
                .filter(policies_visible_q(self.request.user, "measure__policy"))
                .select_related("enterprise").order_by("-granted_on", "pk"))


router = SimpleRouter()
router.register("support-records", SupportRecordViewSet, basename="policy-support-record")
router.register("", PolicyViewSet, basename="policy")
urlpatterns = [path("", include(router.urls))]
