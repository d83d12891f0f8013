"""Template context shared by every page: the navigation for the user's role."""

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from apps.accounts.permissions import (
    can_file,
    can_import_enterprises,
    can_list_enterprises,
    can_read_insights,
    can_review,
    can_run_indices,
    can_use_admin,
)


def _optional(label, name: str) -> list[tuple[str, str]]:
    """A navigation item for a page that may not be installed yet."""
    try:
        return [(label, reverse(name))]
    except NoReverseMatch:
        return []


def _nav_for(user) -> list[tuple[str, str]]:
    items = [(_("首页"), reverse("core:home"))]
    items += _optional(_("公开数据"), "open:home")
    items += _optional(_("政策跟踪"), "policies:list")
    items += _optional(_("试点示范"), "pilots:home")
    if not user.is_authenticated:
        items.append((_("企业注册"), reverse("enterprises:register")))
        return items
    if can_file(user):
        items.append((_("诊断填报"), reverse("filings:home")))
        items.append((_("本企业信息"), reverse("enterprises:detail", args=[user.enterprise_id])))
    if can_read_insights(user):
        items += _optional(_("数据分析"), "insights:dashboard")
    if can_review(user):
        items.append((_("填报审核"), reverse("filings:queue")))
    if can_list_enterprises(user):
        items.append((_("企业名录"), reverse("enterprises:list")))
    if can_import_enterprises(user):
        items.append((_("批量导入"), reverse("enterprises:import")))
    if can_run_indices(user):
        items += _optional(_("指数计算"), "indices:runs")
    if can_use_admin(user):
        items.append((_("管理后台"), reverse("admin:index")))
    items.append((_("接口文档"), reverse("api-docs")))
    items.append((_("API 令牌"), reverse("accounts:api-tokens")))
    return items


def navigation(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav_items": _nav_for(user)}
