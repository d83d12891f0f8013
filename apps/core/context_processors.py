"""Template context shared by every page: the navigation for the user's role."""

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Role
from apps.accounts.workbench_rules import can_run_indices


def _optional(label, name: str) -> list[tuple[str, str]]:
    """A navigation item for a page that may not be installed yet."""
    try:
        return [(label, reverse(name))]
    except NoReverseMatch:
        return []


def _nav_for(user) -> list[tuple[str, str]]:
    items = [(_("首页"), reverse("core:home"))]
    items += _optional(_("公开数据"), "open:home")
    if not user.is_authenticated:
        items.append((_("企业注册"), reverse("enterprises:register")))
        return items
    role = "admin" if user.is_superuser else user.role
    if role == Role.ENTERPRISE:
        items.append((_("诊断填报"), reverse("filings:home")))
        items.append((_("本企业信息"), reverse("enterprises:detail", args=[user.enterprise_id])))
    if role in (Role.AUTHORITY, Role.MINISTRY, Role.ADMIN):
        items += _optional(_("数据分析"), "insights:dashboard")
        items.append((_("填报审核"), reverse("filings:queue")))
        items.append((_("企业名录"), reverse("enterprises:list")))
        items.append((_("批量导入"), reverse("enterprises:import")))
    if can_run_indices(user):
        items += _optional(_("指数计算"), "indices:runs")
    if role in (Role.MINISTRY, Role.ADMIN) or user.is_staff:
        items.append((_("管理后台"), reverse("admin:index")))
    items.append((_("接口文档"), reverse("api-docs")))
    return items


def navigation(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav_items": _nav_for(user)}
