"""Filing API: periods, framework versions, submissions with their answers, history and score.

Like the pages, the API reads every submission through ``Submission.objects.visible_to(user)``
(a submission outside the caller's scope is a 404, its existence is not disclosed) and makes
every change through :mod:`apps.filings.services`, so the same rules apply and the same
messages come back: a ``django.core.exceptions.ValidationError`` from a service is a 400
whose ``detail`` is the service's message, ``PermissionDenied`` is a 403, a stale draft
revision is a 409 carrying ``current_revision``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import CanFile, can_see_draft_frameworks
from apps.enterprises.models import Enterprise
from apps.frameworks.exchange import export_framework
from apps.frameworks.models import Framework, FrameworkStatus, IndicatorKind

from . import review, services
from .answers import NOTE_MAX_LENGTH
from .filters import SubmissionFilter
from .models import (
    Answer,
    EventAction,
    Period,
    ReturnReason,
    Submission,
    SubmissionEvent,
    SubmissionScore,
    SubmissionStatus,
)

# --- periods -------------------------------------------------------------------------------------


class PeriodSerializer(serializers.ModelSerializer):
    framework_code = serializers.CharField(source="framework.code", read_only=True)
    framework_version = serializers.CharField(source="framework.version", read_only=True)
    is_open = serializers.SerializerMethodField(help_text="今天是否在填报时间内")

    class Meta:
        model = Period
        fields = [
            "code", "name", "framework", "framework_code", "framework_version",
            "opens_on", "closes_on", "closed_early", "is_open",
        ]

    def get_is_open(self, period: Period) -> bool:
        return period.is_open()


@extend_schema_view(
    list=extend_schema(tags=["filings"], summary="填报期次列表 / Periods"),
    retrieve=extend_schema(tags=["filings"], summary="填报期次 / Period"),
)
class PeriodViewSet(viewsets.ReadOnlyModelViewSet):
    """Assessment campaigns (public to anyone logged in)."""

    queryset = Period.objects.select_related("framework").order_by("-opens_on")
    serializer_class = PeriodSerializer
    lookup_field = "code"


# --- frameworks ----------------------------------------------------------------------------------
# The nested shape is the framework's canonical exchange form (frameworks.exchange), plus id,
# status and publication time. These serializers describe it for the schema and pass it through.


class FrameworkLevelSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    name = serializers.CharField()
    name_en = serializers.CharField()
    description = serializers.CharField()
    min_composite = serializers.FloatField()
    min_dimension = serializers.FloatField()


class FrameworkModuleSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    industries = serializers.ListField(child=serializers.CharField(), help_text="GB/T 4754 行业代码")
    key_industries = serializers.ListField(child=serializers.CharField(), help_text="重点行业代码")


class ChecklistItemOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    weight = serializers.FloatField()


class FrameworkIndicatorSerializer(serializers.Serializer):
    code = serializers.CharField()
    module = serializers.CharField(allow_null=True, help_text="行业模块代码；通用指标为 null")
    kind = serializers.ChoiceField(choices=IndicatorKind.choices)
    question = serializers.CharField()
    question_en = serializers.CharField()
    guidance = serializers.CharField()
    note_prompt = serializers.CharField(
        required=False, help_text="有此项时，本题须（或可）填写说明（answers 的 note），内容为提示语"
    )
    weight = serializers.FloatField(help_text="维度内权重")
    levels = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="rubric：各级描述，下标即级别 0–5"
    )
    evidence_from_level = serializers.IntegerField(
        allow_null=True, required=False, help_text="rubric：达到该级别须附证明材料"
    )
    items = ChecklistItemOutSerializer(many=True, required=False, help_text="checklist：清单项")
    evidence_required = serializers.BooleanField(required=False, help_text="关键项：选“是”须上传证明材料")
    unit = serializers.CharField(required=False, help_text="kpi：单位")
    direction = serializers.CharField(required=False, help_text="kpi：higher / lower")
    min_value = serializers.FloatField(allow_null=True, required=False, help_text="kpi：允许最小值")
    max_value = serializers.FloatField(allow_null=True, required=False, help_text="kpi：允许最大值")
    thresholds = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        required=False, help_text="kpi：评分分段 [[数值, 得分], ...]",
    )


class FrameworkDimensionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField()
    weight = serializers.FloatField()
    description = serializers.CharField()
    indicators = FrameworkIndicatorSerializer(many=True)


class FrameworkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Framework
        fields = ["id", "code", "version", "name", "description", "status", "published_at"]


class FrameworkDetailSerializer(FrameworkSerializer):
    # A plain string here: the same enum on two components would need a settings override.
    status = serializers.CharField(read_only=True, help_text="draft 草稿 / published 已发布 / retired 已停用")
    format = serializers.CharField(read_only=True, help_text="qmd-framework/1")
    levels = FrameworkLevelSerializer(many=True, read_only=True)
    modules = FrameworkModuleSerializer(many=True, read_only=True)
    dimensions = FrameworkDimensionSerializer(many=True, read_only=True)

    class Meta(FrameworkSerializer.Meta):
        fields = [*FrameworkSerializer.Meta.fields, "format", "levels", "modules", "dimensions"]

    def to_representation(self, instance: Framework):
        base = FrameworkSerializer(instance, context=self.context).data
        spec = export_framework(instance)
        nested = {name: self.fields[name].to_representation(spec[name]) for name in ("levels", "modules", "dimensions")}
        return {**base, "format": spec["format"], **nested}


@extend_schema_view(
    list=extend_schema(tags=["filings"], summary="评估框架版本列表 / Framework versions"),
    retrieve=extend_schema(tags=["filings"], summary="评估框架版本（含维度、指标、分级描述、清单项、等级）"),
)
class FrameworkViewSet(viewsets.ReadOnlyModelViewSet):
    """Framework versions. Drafts are visible to staff only; published (and retired,
    once-published) versions to anyone logged in."""

    queryset = Framework.objects.order_by("code", "-created_at")

    def get_queryset(self):
        qs = super().get_queryset()
        if getattr(self, "swagger_fake_view", False) or not can_see_draft_frameworks(self.request.user):
            qs = qs.exclude(status=FrameworkStatus.DRAFT)
        return qs

    def get_serializer_class(self):
        return FrameworkDetailSerializer if self.action == "retrieve" else FrameworkSerializer


# --- submissions ---------------------------------------------------------------------------------


class EnterpriseBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enterprise
        fields = ["id", "uscc", "name"]


class FlagSerializer(serializers.Serializer):
    indicator = serializers.CharField()
    kind = serializers.CharField()
    message = serializers.CharField()


class SubmissionSerializer(serializers.ModelSerializer):
    enterprise = EnterpriseBriefSerializer(read_only=True)
    period = serializers.SlugRelatedField(slug_field="code", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    flags = FlagSerializer(many=True, read_only=True, help_text="自动提示（不阻止提交，供审核参考）")

    class Meta:
        model = Submission
        fields = [
            "id", "enterprise", "period", "framework", "status", "status_display", "revision",
            "province_code", "prefecture_code", "county_code", "division_code", "size_class", "flags",
            "pledged_at", "submitted_at", "passed_on_at", "decided_at", "created_at", "updated_at",
        ]
        read_only_fields = fields


class SubmissionStartSerializer(serializers.Serializer):
    period = serializers.SlugRelatedField(slug_field="code", queryset=Period.objects.all(), help_text="期次代码")


@extend_schema_field(OpenApiTypes.ANY)
class AnswerValueField(serializers.JSONField):
    """rubric: level int; checklist: list of item codes ([] = none of these); kpi: number;
    yesno: bool; null when not answered (or a KPI marked 未统计)."""


class AnswerSerializer(serializers.ModelSerializer):
    indicator = serializers.CharField(source="indicator.code", read_only=True)
    kind = serializers.ChoiceField(source="indicator.kind", choices=IndicatorKind.choices, read_only=True)
    value = AnswerValueField(read_only=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Answer
        fields = ["indicator", "kind", "value", "not_measured", "note", "updated_at", "updated_by"]


class AnswersSaveSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=0, help_text="读取草稿时的修订号")
    answers = serializers.DictField(
        child=AnswerValueField(allow_null=True),
        required=False, default=dict,
        help_text=(
            "{指标代码: 答案}。rubric：0–5；checklist：清单项代码列表，“以上均无”为 [\"__none__\"]；"
            "kpi：数字，未统计为 \"not_measured\"；yesno：true/false 或 \"是\"/\"否\"；null 或 \"\" 清除答案。"
        ),
    )
    notes = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=True),
        required=False, default=dict,
        help_text=(
            "{指标代码: 说明}。只用于框架要求填写说明的指标（框架中的 note_prompt），"
            f"每条最多 {NOTE_MAX_LENGTH} 字；\"\" 清除说明。"
        ),
    )

    def validate(self, attrs):
        if not attrs.get("answers") and not attrs.get("notes"):
            raise serializers.ValidationError(_("请至少提交一个答案或说明（answers 或 notes）。"))
        return attrs


class AnswersSaveResultSerializer(serializers.Serializer):
    revision = serializers.IntegerField(help_text="保存后的修订号（下次保存时带上）")
    saved = serializers.ListField(child=serializers.CharField(), help_text="已保存的指标代码")
    errors = serializers.DictField(child=serializers.CharField(), help_text="{指标代码: 错误说明}，这些答案未保存")


class DraftConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="draft_conflict")
    current_revision = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField(), required=False)


class SubmitSerializer(serializers.Serializer):
    pledge = serializers.BooleanField(help_text="真实性承诺：须为 true")


class SubmitResultSerializer(serializers.Serializer):
    submission = SubmissionSerializer()
    already_submitted = serializers.BooleanField(help_text="重复提交：此前已提交，本次未作改动")
    detail = serializers.CharField()


class SubmitRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField(), help_text="尚未填写的指标代码")


class ReturnSerializer(serializers.Serializer):
    reasons = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict, help_text="{指标代码: 退回原因}"
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", help_text="总体说明")


class AcceptSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ReturnReasonSerializer(serializers.ModelSerializer):
    indicator = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = ReturnReason
        fields = ["indicator", "reason"]


class SubmissionEventSerializer(serializers.ModelSerializer):
    action = serializers.ChoiceField(choices=EventAction.choices, read_only=True)
    action_display = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.SerializerMethodField(help_text="操作人（系统操作为 null）")
    reasons = ReturnReasonSerializer(many=True, read_only=True)

    class Meta:
        model = SubmissionEvent
        fields = ["id", "action", "action_display", "from_status", "to_status", "actor", "at", "note", "reasons"]

    def get_actor(self, event: SubmissionEvent) -> str | None:
        if event.actor is None:
            return None
        return event.actor.get_full_name() or event.actor.username


class SubmissionScoreSerializer(serializers.ModelSerializer):
    level_name = serializers.SerializerMethodField()
    dimension_scores = serializers.DictField(child=serializers.FloatField(), help_text="{维度代码: 得分}")
    indicator_scores = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="{指标代码: 得分}，不适用为 null"
    )

    class Meta:
        model = SubmissionScore
        fields = [
            "composite", "level", "level_name", "dimension_scores", "indicator_scores",
            "framework", "scoring_code_version", "computed_at",
        ]

    def get_level_name(self, score: SubmissionScore) -> str:
        level = score.framework.levels.filter(rank=score.level).first()
        return level.name if level else ""


def _refused(exc: DjangoValidationError, http_status=status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    """A service's ValidationError as a response: its messages, joined, first."""
    return Response({"detail": "；".join(exc.messages), "errors": exc.messages, **extra}, status=http_status)


_SCOPE_404 = OpenApiResponse(description="不存在或不在您的管辖范围内")


@extend_schema_view(
    list=extend_schema(tags=["filings"], summary="诊断填报列表（按可见范围）"),
    retrieve=extend_schema(tags=["filings"], summary="诊断填报", responses={200: SubmissionSerializer, 404: _SCOPE_404}),
)
class SubmissionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Submissions the caller may see: an enterprise its own, an authority those of its
    jurisdiction, ministry staff all. Anything else is a 404."""

    serializer_class = SubmissionSerializer
    filterset_class = SubmissionFilter

    def get_permissions(self):
        if self.action == "create":
            return [*super().get_permissions(), CanFile()]
        return super().get_permissions()

    def get_queryset(self):
        return (
            Submission.objects.visible_to(self.request.user)
            .select_related("enterprise", "period", "framework")
            .order_by("-updated_at", "-pk")
        )

    # -- create ------------------------------------------------------------------------------------

    @extend_schema(
        tags=["filings"],
        summary="企业开始填报（已有则返回原填报）",
        request=SubmissionStartSerializer,
        responses={201: SubmissionSerializer, 200: SubmissionSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def create(self, request):
        user = request.user
        serializer = SubmissionStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        period = serializer.validated_data["period"]
        try:
            sub, created = services.submission_open(enterprise=user.enterprise, period=period, user=user)
        except DjangoValidationError as exc:
            return _refused(exc)
        return Response(SubmissionSerializer(sub).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    # -- answers -----------------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"], tags=["filings"], summary="填报的全部答案",
        responses={200: AnswerSerializer(many=True), 404: _SCOPE_404},
    )
    @extend_schema(
        methods=["POST"], tags=["filings"],
        summary="保存部分答案（带修订号；部分有误时其余照常保存）",
        request=AnswersSaveSerializer,
        responses={
            200: AnswersSaveResultSerializer,
            400: OpenApiResponse(AnswersSaveResultSerializer, description="没有保存任何答案（全部有误或填报不可修改）"),
            403: ErrorSerializer, 404: _SCOPE_404,
            409: OpenApiResponse(DraftConflictSerializer, description="草稿已在别处保存过，请重新读取"),
        },
    )
    # A plain list (not paginated, no filters): all answers of one filing.
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def answers(self, request, pk=None):
        sub = self.get_object()
        if request.method == "GET":
            answers = sub.answers.select_related("indicator", "updated_by").order_by(
                "indicator__dimension__order", "indicator__order", "indicator__code"
            )
            return Response(AnswerSerializer(answers, many=True).data)
        serializer = AnswersSaveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answers, notes = serializer.validated_data["answers"], serializer.validated_data["notes"]
        try:
            sub, errors = services.submission_save_answers(
                submission=sub, user=request.user, answers=answers, revision=serializer.validated_data["revision"],
                notes=notes,
            )
        except services.DraftConflict as conflict:
            return Response(
                {
                    "detail": _("保存冲突：此草稿已在其他窗口或设备上保存过（当前修订号 %(revision)d），本次修改没有保存。请重新读取后再修改。")
                    % {"revision": conflict.current_revision},
                    "code": "draft_conflict",
                    "current_revision": conflict.current_revision,
                },
                status=status.HTTP_409_CONFLICT,
            )
        except DjangoValidationError as exc:
            return _refused(exc)
        saved = [code for code in dict.fromkeys([*answers, *notes]) if code not in errors]
        body = {"revision": sub.revision, "saved": saved, "errors": errors}
        if errors and not saved:
            body["detail"] = _("没有保存任何答案：") + "；".join(errors.values())
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body)

    # -- submit ------------------------------------------------------------------------------------

    @extend_schema(
        tags=["filings"], summary="提交审核（真实性承诺；重复提交不作改动）",
        request=SubmitSerializer,
        responses={200: SubmitResultSerializer, 400: SubmitRefusedSerializer, 403: ErrorSerializer, 404: _SCOPE_404},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        sub = self.get_object()
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.submission_submit(submission=sub, user=request.user, pledge=serializer.validated_data["pledge"])
        except DjangoValidationError as exc:
            missing = [i.code for i in services.missing_answers(submission=sub)]
            return Response(
                {"detail": _("未能提交：") + "；".join(exc.messages), "errors": exc.messages, "missing": missing},
                status=status.HTTP_400_BAD_REQUEST,
            )
        detail = _("该填报此前已提交，无需重复提交。") if result.already_submitted else _("已提交，等待主管部门审核。")
        return Response(
            {"submission": SubmissionSerializer(result.submission).data, "already_submitted": result.already_submitted,
             "detail": detail}
        )

    # -- review ------------------------------------------------------------------------------------

    @extend_schema(
        tags=["filings"], summary="退回修改（主管部门；按指标给出原因）",
        request=ReturnSerializer,
        responses={200: SubmissionEventSerializer, 400: ErrorSerializer, 403: ErrorSerializer, 404: _SCOPE_404},
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_(self, request, pk=None):
        sub = self.get_object()
        serializer = ReturnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            event = services.submission_return(
                submission=sub, user=request.user,
                reasons=serializer.validated_data["reasons"], note=serializer.validated_data["note"],
            )
        except DjangoValidationError as exc:
            return _refused(exc)
        return Response(SubmissionEventSerializer(event).data)

    @extend_schema(
        tags=["filings"], summary="审核通过（主管部门；随后计算得分）",
        request=AcceptSerializer,
        responses={200: SubmissionSerializer, 400: ErrorSerializer, 403: ErrorSerializer, 404: _SCOPE_404},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        sub = self.get_object()
        serializer = AcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            sub = services.submission_accept(submission=sub, user=request.user, note=serializer.validated_data["note"])
        except DjangoValidationError as exc:
            return _refused(exc)
        return Response(SubmissionSerializer(sub).data)

    @extend_schema(
        tags=["filings"], summary="初审通过，转报上级（两级审核期次的县级主管部门）",
        request=AcceptSerializer,
        responses={200: SubmissionSerializer, 400: ErrorSerializer, 403: ErrorSerializer, 404: _SCOPE_404},
    )
    @action(detail=True, methods=["post"], url_path="pass-on")
    def pass_on(self, request, pk=None):
        sub = self.get_object()
        serializer = AcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            sub = review.submission_pass_on(submission=sub, user=request.user, note=serializer.validated_data["note"])
        except DjangoValidationError as exc:
            return _refused(exc)
        return Response(SubmissionSerializer(sub).data)

    # -- history and score -------------------------------------------------------------------------

    @extend_schema(
        tags=["filings"], summary="填报记录（含退回原因）",
        responses={200: SubmissionEventSerializer(many=True), 404: _SCOPE_404},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        sub = self.get_object()
        events = sub.events.select_related("actor").prefetch_related("reasons__indicator")
        return Response(SubmissionEventSerializer(events, many=True).data)

    @extend_schema(
        tags=["filings"], summary="诊断得分（审核通过并完成评分后才有）",
        responses={200: SubmissionScoreSerializer, 404: OpenApiResponse(description="尚未评分，或不在管辖范围内")},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def score(self, request, pk=None):
        sub = self.get_object()
        score = (
            SubmissionScore.objects.filter(submission=sub, submission__status=SubmissionStatus.ACCEPTED)
            .select_related("framework")
            .first()
        )
        if score is None:
            raise Http404(_("该填报尚未评分。"))
        return Response(SubmissionScoreSerializer(score).data)
