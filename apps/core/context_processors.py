"""Template context shared by every page: the navigation for the user's role."""

from functools import lru_cache

from django.urls import NoReverseMatch, get_urlconf, reverse
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
    """The navigation items ``user`` may follow. The items depend only on what the
    permission predicates answer (and the enterprise a filer files for), so the list — a dozen
    ``reverse()`` calls — is built once per answer set and URL configuration in a process
    (issue 13: the page frame of every signed-in request)."""
    if not user.is_authenticated:
        return _nav_items(None, None, get_urlconf())
    flags = (can_file(user), can_read_insights(user), can_review(user), can_list_enterprises(user),
             can_import_enterprises(user), can_run_indices(user), can_use_admin(user))  # fmt: skip
    return _nav_items(flags, user.enterprise_id if flags[0] else None, get_urlconf())


@lru_cache(maxsize=256)
def _nav_items(flags: tuple | None, enterprise_id: int | None, urlconf) -> list[tuple[str, str]]:
    items = [(_("首页"), reverse("core:home"))]
    items += _optional(_("公开数据"), "open:home")
    items += _optional(_("政策跟踪"), "policies:list")
    items += _optional(_("试点示范"), "pilots:home")
    if flags is None:
        items.append((_("企业注册"), reverse("enterprises:register")))
        return items
    files, reads_insights, reviews, lists, imports, runs_indices, uses_admin = flags
    if files:
        items.append((_("诊断填报"), reverse("filings:home")))
        items.append((_("本企业信息"), reverse("enterprises:detail", args=[enterprise_id])))
    if reads_insights:
        items += _optional(_("数据分析"), "insights:dashboard")
    if reviews:
        items.append((_("填报审核"), reverse("filings:queue")))
    if lists:
        items.append((_("企业名录"), reverse("enterprises:list")))
    if imports:
        items.append((_("批量导入"), reverse("enterprises:import")))
    if runs_indices:
        items += _optional(_("指数计算"), "indices:runs")
    if uses_admin:
        items.append((_("管理后台"), reverse("admin:index")))
    items.append((_("接口文档"), reverse("api-docs")))
    items.append((_("API 令牌"), reverse("accounts:api-tokens")))
    return items


def navigation(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav_items": list(_nav_for(user))}
