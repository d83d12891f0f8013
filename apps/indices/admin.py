"""Admin for index runs: progress, counts, timings, errors; publish and start actions."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action

from apps.accounts.permissions import can_read_every_cell

from .models import IndexBase, IndexCell, IndexRun
from .services import index_base_choose, index_run_publish, index_run_start


@admin.register(IndexRun)
class IndexRunAdmin(ModelAdmin):
    list_display = ["id", "period", "status", "progress_bar", "submissions", "cells", "suppressed_cells",
                    "is_published", "stale_since", "created_at", "finished_at", "code_version"]
    list_filter = ["status", "is_published", "period"]
    readonly_fields = [f.name for f in IndexRun._meta.fields]
    actions = ["publish_runs"]
    actions_detail = ["publish_run"]

    @admin.display(description=_("进度"))
    def progress_bar(self, obj):
        return format_html(
            '<div style="width:120px;background:#eee;border-radius:4px"><div style="width:{}%;background:#b3261e;'
            'color:#fff;font-size:11px;border-radius:4px;text-align:center">{}%</div></div>', obj.progress, obj.progress
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("发布所选的指数计算"))
    def publish_runs(self, request, queryset):
        for run in queryset:
            try:
                index_run_publish(run=run, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{run.label}：{' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, _("%(run)s已发布。") % {"run": run.label}, messages.SUCCESS)

    @action(description=_("发布"))
    def publish_run(self, request, object_id):
        from django.shortcuts import redirect

        run = IndexRun.objects.get(pk=object_id)
        try:
            index_run_publish(run=run, user=request.user)
            self.message_user(request, _("%(run)s已发布。") % {"run": run.label}, messages.SUCCESS)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        return redirect("admin:indices_indexrun_change", object_id)


@admin.register(IndexCell)
class IndexCellAdmin(ModelAdmin):
    """Read-only, and only for readers who see every cell unsuppressed (ministry staff,
    administrators): for them the stored values are cells_for's answer."""

    list_display = ["run", "kind", "code", "n", "mean", "median", "rank", "suppressed", "suppression_reason", "stale"]
    list_filter = ["kind", "suppressed", "run"]
    search_fields = ["code"]

    # The admin site itself lets in staff only; this narrows it to readers of every cell.
    def has_module_permission(self, request):
        return can_read_every_cell(request.user)

    def has_view_permission(self, request, obj=None):
        return can_read_every_cell(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def start_runs_action(modeladmin, request, queryset):
    """Admin action on periods: queue an index run for each selected period."""
    for period in queryset:
        try:
            run = index_run_start(period=period, user=request.user)
        except ValidationError as exc:
            modeladmin.message_user(request, f"{period}: {' '.join(exc.messages)}", messages.ERROR)
        else:
            modeladmin.message_user(request, _("%(run)s已排队，等待计算。") % {"run": run.label}, messages.SUCCESS)


start_runs_action.short_description = _("计算所选期次的指数")


@admin.register(IndexBase)
class IndexBaseAdmin(ModelAdmin):
    """The base period of the development index: staff choose it (index_base_choose); every
    choice stays recorded."""

    list_display = ["period", "active", "chosen_at", "chosen_by", "note"]
    fields = ["period", "note"]

    def get_readonly_fields(self, request, obj=None):
        return ["period", "note", "active", "chosen_at", "chosen_by"] if obj else []

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        chosen = index_base_choose(period=obj.period, user=request.user, note=obj.note)
        obj.pk = chosen.pk

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        base_clean = form.clean

        def clean(self_form):
            data = base_clean(self_form)
            period = data.get("period")
            if period is not None and not IndexRun.objects.filter(period=period, is_published=True).exists():
                raise ValidationError(_("基期须为已发布指数的期次。"))
            return data

        form.clean = clean
        return form
