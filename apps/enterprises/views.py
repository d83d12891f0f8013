"""Enterprise pages: self-registration, list, profile, edit, change history.

Every lookup goes through ``Enterprise.objects.visible_to`` / ``editable_by``
(apps.accounts.scoping); a profile outside the user's scope is a 404, as if it did not
exist, so that its existence is not disclosed either.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.lockout import client_ip
from apps.accounts.permissions import (
    can_confirm_enterprises,
    can_list_enterprises,
    can_move_enterprise_region,
    requires,
)
from apps.core.http import safe_next

from .filters import EnterpriseFilter
from .forms import EnterpriseEditForm, EnterpriseRegistrationForm
from .history import enterprise_change_log
from .models import Enterprise
from .services import enterprise_check_region_in_scope, enterprise_confirm, enterprise_register

LIST_REFUSED = gettext_lazy("只有主管部门和平台工作人员可以查看企业名录。")


def _registration_throttled(request) -> bool:
    """Count this POST against the client's address; True when over
    ``REGISTRATION_ATTEMPTS_PER_HOUR`` (slows down account farming and USCC probing)."""
    key = f"register-attempts:{client_ip(request)}"
    if not cache.add(key, 1, 3600):
        try:
            count = cache.incr(key)
        except ValueError:
            cache.add(key, 1, 3600)
            count = 1
    else:
        count = 1
    return count > settings.REGISTRATION_ATTEMPTS_PER_HOUR


@require_http_methods(["GET", "POST"])
def register(request):
    """Self-registration of an enterprise and its first user (anonymous visitors)."""
    if request.user.is_authenticated:
        return redirect("core:home")
    if request.method == "POST" and _registration_throttled(request):
        response = render(request, "enterprises/register_throttled.html", status=429)
        response["Retry-After"] = "3600"
        return response
    form = EnterpriseRegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            enterprise = form.save(commit=False)
            enterprise._history_user = None
            user = enterprise_register(
                enterprise=enterprise,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
            enterprise.key_industries.set(form.cleaned_data["key_industries"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("注册成功。欢迎使用，您现在可以维护企业信息并参加诊断填报。"))
        return redirect("enterprises:detail", pk=enterprise.pk)
    return render(request, "enterprises/register.html", {"form": form})


@requires(can_list_enterprises, LIST_REFUSED)
def enterprise_list(request):
    base = Enterprise.objects.visible_to(request.user).select_related("region", "industry")
    filterset = EnterpriseFilter(request.GET or None, queryset=base)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    page = Paginator(qs.order_by("province_code", "name"), 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "enterprises/list.html",
        {"filter": filterset, "page": page, "total": page.paginator.count, "query": params.urlencode(),
         "awaiting": base.filter(awaiting_confirmation=True).count(), "can_confirm": can_confirm_enterprises(request.user)},
    )


@requires(can_confirm_enterprises, gettext_lazy("只有主管部门可以确认自行注册的企业。"))
@require_POST
def enterprise_confirm_view(request, pk: int):
    """Confirm a self-registered enterprise of the jurisdiction (others: 404)."""
    enterprise = get_object_or_404(Enterprise.objects.editable_by(request.user), pk=pk)
    enterprise_confirm(enterprise=enterprise, user=request.user)
    messages.success(request, _("已确认企业“%(name)s”，今后计入指数和覆盖率。") % {"name": enterprise.name})
    return HttpResponseRedirect(safe_next(request, reverse("enterprises:list")))


@login_required
def enterprise_detail(request, pk: int):
    enterprise = get_object_or_404(
        Enterprise.objects.visible_to(request.user).select_related("region__parent__parent", "industry"), pk=pk
    )
    can_edit = Enterprise.objects.editable_by(request.user).filter(pk=pk).exists()
    return render(request, "enterprises/detail.html", {
        "enterprise": enterprise, "can_edit": can_edit, "can_list": can_list_enterprises(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def enterprise_edit(request, pk: int):
    enterprise = get_object_or_404(Enterprise.objects.editable_by(request.user), pk=pk)
    can_move = can_move_enterprise_region(request.user)
    form = EnterpriseEditForm(request.POST or None, instance=enterprise, can_move_region=can_move)
    if request.method == "POST" and form.is_valid():
        try:
            if "region" in form.changed_data:
                enterprise_check_region_in_scope(user=request.user, region=form.cleaned_data["region"])
        except ValidationError as exc:
            form.add_error(None, exc.message_dict.get("region", exc.messages))
        else:
            with transaction.atomic():
                form.save()
            messages.success(request, _("企业信息已保存，变更已记入历史。"))
            return redirect("enterprises:detail", pk=enterprise.pk)
    return render(request, "enterprises/edit.html", {"form": form, "enterprise": enterprise})


@login_required
def enterprise_history(request, pk: int):
    enterprise = get_object_or_404(Enterprise.objects.visible_to(request.user), pk=pk)
    return render(
        request,
        "enterprises/history.html",
        {"enterprise": enterprise, "entries": enterprise_change_log(enterprise=enterprise)},
    )
