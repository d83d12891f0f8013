"""Admin for framework versions (django-unfold).

Staff draft a version here (or import it from JSON), validate it ("校验"), publish it
("发布") and, to change a published model, copy it to a new draft ("复制为新草稿版本").
A version that is not a draft is read-only everywhere: every permission check below asks
``is_editable``, and the services refuse changes as well.
"""

import io
import zipfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.decorators import action
from unfold.enums import ActionVariant
from unfold.overrides import FORMFIELD_OVERRIDES_INLINE
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminTextInputWidget

from . import services
from .exchange import FrameworkFileError
from .models import (
    ChecklistItem,
    Dimension,
    Framework,
    Indicator,
    IndicatorKind,
    IndustryModule,
    MaturityLevel,
    RubricLevel,
)

MAX_PROBLEMS_SHOWN = 30

# The few pages of our own (import, publish confirmation, copy) share one small template,
# kept here so that the admin of this app lives in this file.
PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}{% endblock %}
{% block content %}
<div class="flex flex-col gap-4 max-w-3xl">
  <h1 class="font-semibold text-lg text-font-important-light dark:text-font-important-dark">{{ title }}</h1>
  {% for line in intro %}<p class="leading-relaxed">{{ line }}</p>{% endfor %}
  {% if problems %}
  <div class="errornote px-3 py-2.5 rounded-default bg-red-100 text-red-700 dark:bg-red-500/20 dark:text-red-400">
    <p class="font-semibold mb-2">{{ problems_title }}</p>
    <ul class="list-disc pl-5 flex flex-col gap-1">{% for p in problems %}<li>{{ p }}</li>{% endfor %}</ul>
  </div>
  {% endif %}
  {% if form %}
  <form method="post" enctype="multipart/form-data" novalidate>
    {% csrf_token %}
    {% for field in form %}{% include "unfold/helpers/field.html" %}{% endfor %}
    <div class="flex gap-3 items-center">
      {% if submit_label %}
      <button type="submit" class="bg-primary-600 border border-transparent font-semibold px-3 py-2 rounded-default text-white">{{ submit_label }}</button>
      {% endif %}
      <a href="{{ cancel_url }}" class="border border-base-200 px-3 py-2 rounded-default dark:border-base-700">返回</a>
    </div>
  </form>
  {% endif %}
</div>
{% endblock %}"""
)


def _problem_list(header: str, problems: list[str]):
    shown = problems[:MAX_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    return format_html(
        "{}<ul class=\"list-disc pl-5\">{}</ul>{}",
        header,
        format_html_join("", "<li>{}</li>", ((p,) for p in shown)),
        f"……另有 {more} 处问题" if more else "",
    )


def _framework_of(obj) -> Framework | None:
    if isinstance(obj, Framework):
        return obj
    return getattr(obj, "framework", None)


class DraftOnlyInlineMixin:
    """Inline rows are added, changed and deleted only while their framework is a draft."""

    def _editable(self, obj) -> bool:
        framework = _framework_of(obj)
        return framework is None or framework.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


# Descriptions in table rows are short; a one-line input keeps the rows readable.
ONE_LINE_TEXT = {**FORMFIELD_OVERRIDES_INLINE, models.TextField: {"widget": UnfoldAdminTextInputWidget}}


class MaturityLevelInline(DraftOnlyInlineMixin, TabularInline):
    model = MaturityLevel
    formfield_overrides = ONE_LINE_TEXT
    fields = ["rank", "name", "name_en", "min_composite", "min_dimension", "description"]
    extra = 0


class DimensionInline(DraftOnlyInlineMixin, TabularInline):
    model = Dimension
    formfield_overrides = ONE_LINE_TEXT
    fields = ["order", "code", "name", "name_en", "weight", "description"]
    extra = 0


class IndustryModuleInline(DraftOnlyInlineMixin, StackedInline):
    model = IndustryModule
    fields = ["code", "name", "industries", "key_industries"]
    filter_horizontal = ["industries", "key_industries"]
    extra = 0


class IndicatorListInline(TabularInline):
    """The version's indicators at a glance; each is edited on its own page (the row's link)."""

    model = Indicator
    fields = ["code", "dimension_name", "module", "kind", "weight", "order"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0

    @admin.display(description=_("维度"))
    def dimension_name(self, obj):
        return obj.dimension

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("dimension", "module")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ImportForm(forms.Form):
    file = forms.FileField(
        label="框架文件（JSON，qmd-framework/1）", widget=UnfoldAdminFileFieldWidget,
        help_text="导入后为草稿版本，可在校验、修改后发布。",
    )
    version = forms.CharField(
        label="版本号（可选）", required=False, max_length=20, widget=UnfoldAdminTextInputWidget,
        help_text="留空则使用文件中的版本号；填写则以此版本号导入。",
    )


class CopyForm(forms.Form):
    version = forms.CharField(label="新版本号", max_length=20, widget=UnfoldAdminTextInputWidget)
    name = forms.CharField(label="名称", max_length=200, widget=UnfoldAdminTextInputWidget)


class ConfirmForm(forms.Form):
    pass


@admin.register(Framework)
class FrameworkAdmin(ModelAdmin):
    list_display = ["code", "version", "name", "status", "indicator_count", "published_at", "based_on"]
    list_filter = ["status", "code"]
    search_fields = ["code", "version", "name"]
    readonly_fields = ["status", "based_on", "published_at", "published_by", "created_at"]
    fields = ["code", "version", "name", "description", *readonly_fields]
    inlines = [MaturityLevelInline, DimensionInline, IndustryModuleInline, IndicatorListInline]
    actions = ["validate_selected", "publish_selected", "copy_selected", "export_selected"]
    actions_list = ["import_json"]
    actions_detail = ["validate_detail", "publish_detail", "copy_detail", "export_detail"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("based_on")

    @admin.display(description=_("指标数"))
    def indicator_count(self, obj):
        return obj.indicators.count()

    # --- permissions: read-only unless draft ------------------------------------------------

    def _object(self, obj_or_id) -> Framework | None:
        if obj_or_id is None or isinstance(obj_or_id, Framework):
            return obj_or_id
        return Framework.objects.filter(pk=obj_or_id).first()

    def has_change_permission(self, request, obj=None):
        framework = self._object(obj)
        return super().has_change_permission(request, obj) and (framework is None or framework.is_editable)

    def has_delete_permission(self, request, obj=None):
        framework = self._object(obj)
        return super().has_delete_permission(request, obj) and (framework is None or framework.is_editable)

    def has_validate_permission(self, request, obj=None):
        return self.has_view_permission(request)

    def has_export_permission(self, request, obj=None):
        return self.has_view_permission(request)

    def has_copy_permission(self, request, obj=None):
        return self.has_add_permission(request)

    def has_import_permission(self, request, obj=None):
        return self.has_add_permission(request)

    def has_publish_permission(self, request, obj=None):
        # Model-level change permission; the version itself must still be a draft.
        framework = self._object(obj)
        allowed = super().has_change_permission(request)
        return allowed and (framework is None or framework.is_editable)

    def _change_url(self, framework: Framework) -> str:
        return reverse("admin:frameworks_framework_change", args=[framework.pk])

    def _page(self, request, *, title, cancel_url, **context):
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
            "cancel_url": cancel_url, **context,
        }
        return HttpResponse(PAGE.render(context, request))

    # --- validate ---------------------------------------------------------------------------

    def _report_validation(self, request, framework: Framework) -> None:
        problems = services.framework_validate(framework=framework)
        if problems:
            messages.error(request, _problem_list(f"{framework} 校验发现 {len(problems)} 处问题：", problems))
        else:
            messages.success(request, f"{framework} 校验通过，可以发布。")

    @action(description=_("校验"), permissions=["validate"])
    def validate_selected(self, request, queryset):
        for framework in queryset:
            self._report_validation(request, framework)

    @action(description=_("校验"), permissions=["validate"], icon="rule")
    def validate_detail(self, request, object_id):
        framework = get_object_or_404(Framework, pk=object_id)
        self._report_validation(request, framework)
        return HttpResponseRedirect(self._change_url(framework))

    # --- publish ----------------------------------------------------------------------------

    def _publish(self, request, framework: Framework) -> bool:
        try:
            services.framework_publish(framework=framework, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, _problem_list(f"{framework} 未发布：", exc.messages))
            return False
        self.log_change(request, framework, "发布")
        messages.success(request, f"{framework} 已发布，此后只读；如需修改请复制为新草稿版本。")
        return True

    @action(description=_("发布"), permissions=["publish"])
    def publish_selected(self, request, queryset):
        for framework in queryset:
            self._publish(request, framework)

    @action(description=_("发布"), permissions=["publish"], icon="publish", variant=ActionVariant.PRIMARY)
    def publish_detail(self, request, object_id):
        framework = get_object_or_404(Framework, pk=object_id)
        if request.method == "POST":
            self._publish(request, framework)
            return HttpResponseRedirect(self._change_url(framework))
        problems = services.framework_validate(framework=framework)
        intro = [f"发布 {framework} 后，该版本即可用于填报期次，并且不能再修改。"]
        if not problems:
            intro.append("校验通过。确认发布吗？")
        return self._page(
            request, title=f"发布 {framework}", cancel_url=self._change_url(framework), intro=intro,
            problems=problems, problems_title=f"校验发现 {len(problems)} 处问题，修正后才能发布：",
            form=ConfirmForm(), submit_label="" if problems else "确认发布",
        )

    # --- copy -------------------------------------------------------------------------------

    def _copy(self, request, framework: Framework, **kwargs) -> Framework | None:
        try:
            copy = services.framework_copy(framework=framework, **kwargs)
        except ValidationError as exc:
            messages.error(request, _problem_list(f"未能复制 {framework}：", exc.messages))
            return None
        self.log_addition(request, copy, f"复制自 {framework}")
        messages.success(request, f"已复制为新草稿版本 {copy.version}。")
        return copy

    @action(description=_("复制为新草稿版本"), permissions=["copy"])
    def copy_selected(self, request, queryset):
        for framework in queryset:
            self._copy(request, framework)

    @action(description=_("复制为新草稿版本"), permissions=["copy"], icon="content_copy")
    def copy_detail(self, request, object_id):
        framework = get_object_or_404(Framework, pk=object_id)
        form = CopyForm(
            request.POST or None,
            initial={"version": services.framework_suggest_version(framework=framework), "name": framework.name},
        )
        if request.method == "POST" and form.is_valid():
            copy = self._copy(request, framework, **form.cleaned_data)
            if copy is not None:
                return HttpResponseRedirect(self._change_url(copy))
        return self._page(
            request, title=f"复制 {framework} 为新草稿版本", cancel_url=self._change_url(framework),
            intro=["新版本与原版本内容相同，状态为草稿，可以修改、校验后发布。"],
            form=form, submit_label="复制",
        )

    # --- export / import --------------------------------------------------------------------

    def _download(self, framework: Framework) -> HttpResponse:
        response = HttpResponse(
            services.framework_export(framework=framework), content_type="application/json; charset=utf-8"
        )
        name = services.framework_export_filename(framework=framework)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @action(description=_("导出 JSON"), permissions=["export"])
    def export_selected(self, request, queryset):
        frameworks = list(queryset)
        if len(frameworks) == 1:
            return self._download(frameworks[0])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for framework in frameworks:
                archive.writestr(
                    services.framework_export_filename(framework=framework),
                    services.framework_export(framework=framework),
                )
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="frameworks.zip"'
        return response

    @action(description=_("导出 JSON"), permissions=["export"], icon="download")
    def export_detail(self, request, object_id):
        return self._download(get_object_or_404(Framework, pk=object_id))

    @action(description=_("导入 JSON"), permissions=["import"], icon="upload", url_path="import-json")
    def import_json(self, request):
        changelist = reverse("admin:frameworks_framework_changelist")
        form = ImportForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            try:
                framework = services.framework_import_file(
                    file=form.cleaned_data["file"], version=form.cleaned_data["version"] or None
                )
            except FrameworkFileError as exc:
                problems = exc.problems
            else:
                self.log_addition(request, framework, f"从文件 {form.cleaned_data['file'].name} 导入")
                messages.success(request, f"已导入 {framework}（草稿）。请校验后发布。")
                return HttpResponseRedirect(self._change_url(framework))
        return self._page(
            request, title="导入评估框架（JSON）", cancel_url=changelist,
            intro=["上传 qmd-framework/1 格式的框架文件。文件有任何问题时不会导入任何内容，并列出每处问题的位置。"],
            problems=problems, problems_title=f"文件有 {len(problems)} 处问题，未导入：",
            form=form, submit_label="导入",
        )


class RubricLevelInline(DraftOnlyInlineMixin, TabularInline):
    model = RubricLevel
    fields = ["level", "descriptor"]
    max_num = 6
    formfield_overrides = ONE_LINE_TEXT

    def get_extra(self, request, obj=None, **kwargs):
        if obj is None:
            return 6
        return max(0, 6 - obj.rubric_levels.count()) if obj.kind == IndicatorKind.RUBRIC else 0


class ChecklistItemInline(DraftOnlyInlineMixin, TabularInline):
    model = ChecklistItem
    fields = ["order", "code", "label", "weight"]

    def get_extra(self, request, obj=None, **kwargs):
        return 2 if obj is None else 0


class IndicatorAdminForm(forms.ModelForm):
    class Meta:
        model = Indicator
        fields = [
            "framework", "dimension", "module", "code", "order", "kind", "weight", "question", "question_en",
            "guidance", "note_prompt", "unit", "direction", "min_value", "max_value", "thresholds", "evidence_required",
            "evidence_from_level",
        ]
        labels = {"framework": _("框架版本"), "dimension": _("维度")}

    def clean(self):
        cleaned = super().clean()
        framework = cleaned.get("framework") or getattr(self.instance, "framework", None)
        if framework is None:
            return cleaned
        if not framework.is_editable:
            raise ValidationError("只有草稿版本的框架可以修改指标。")
        dimension, module = cleaned.get("dimension"), cleaned.get("module")
        if dimension is not None and dimension.framework_id != framework.pk:
            self.add_error("dimension", "所选维度不属于该框架版本。")
        if module is not None and module.framework_id != framework.pk:
            self.add_error("module", "所选行业模块不属于该框架版本。")
        return cleaned


@admin.register(Indicator)
class IndicatorAdmin(ModelAdmin):
    form = IndicatorAdminForm
    list_display = ["code", "short_question", "framework", "dimension", "kind", "weight", "module"]
    list_filter = ["framework", "kind", "module"]
    list_select_related = ["framework", "dimension", "module"]
    search_fields = ["code", "question"]
    inlines = [RubricLevelInline, ChecklistItemInline]
    KPI_FIELDS = ["unit", "direction", "min_value", "max_value", "thresholds"]

    @admin.display(description=_("问题"))
    def short_question(self, obj):
        return obj.question[:40]

    @admin.display(description=_("框架版本"))
    def framework_version(self, obj):
        return obj.framework

    def get_fieldsets(self, request, obj=None):
        """Only the fields of the indicator's kind once it has one (all of them when adding)."""
        kind = obj.kind if obj is not None else None
        first = ["framework_version" if obj is not None else "framework", "dimension", "module", "code", "order",
                 "kind", "weight"]
        fieldsets = [(None, {"fields": first}), (_("问题"), {"fields": ["question", "question_en", "guidance", "note_prompt"]})]
        if kind in (None, IndicatorKind.KPI):
            fieldsets.append((_("量化指标"), {"fields": self.KPI_FIELDS}))
        evidence = {
            None: ["evidence_required", "evidence_from_level"], IndicatorKind.RUBRIC: ["evidence_from_level"],
        }.get(kind, ["evidence_required"])
        fieldsets.append((_("证明材料"), {"fields": evidence}))
        return fieldsets

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if obj is None:
            return inlines
        wanted = {IndicatorKind.RUBRIC: RubricLevelInline, IndicatorKind.CHECKLIST: ChecklistItemInline}.get(obj.kind)
        return [inline for inline in inlines if type(inline) is wanted]

    def _editable(self, obj) -> bool:
        return obj is None or obj.framework.is_editable

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._editable(obj)

    def get_readonly_fields(self, request, obj=None):
        return ["framework_version"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if object_id:
            framework_id = Indicator.objects.filter(pk=object_id).values_list("framework_id", flat=True).first()
        else:  # "add indicator" links may pass ?framework=<id>
            framework_id = request.GET.get("framework", "")
            framework_id = int(framework_id) if framework_id.isdigit() else None
        if db_field.name == "framework":
            kwargs["queryset"] = Framework.objects.filter(status="draft")
        elif db_field.name in ("dimension", "module") and framework_id:
            kwargs["queryset"] = db_field.related_model.objects.filter(framework_id=framework_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.framework_assert_editable(framework=obj.framework)
        super().save_model(request, obj, form, change)
