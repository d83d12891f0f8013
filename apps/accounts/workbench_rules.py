"""Who may do which piece of platform work: run and publish indices, administer the
framework and periods, see platform health, read notices.

Every predicate here is the one place its rule is written; views, templates (through the
context the views build), the admin and tasks call these names and never compare roles
themselves. Jurisdiction (what part of the enterprise population a user sees) stays in
:mod:`apps.accounts.scoping`.
"""

from __future__ import annotations

from .models import Role

# The auth Group whose permissions every ministry user holds (through
# apps.accounts.backends.RoleGroupBackend, without being a member). Staff may widen or narrow
# it in the admin; ``ministry_group_sync`` (run after every migrate) adds what is listed below.
MINISTRY_GROUP = "ministry"

# Exactly the admin rights ministry work needs: the assessment framework (draft → validate →
# publish), periods, index runs (read, publish) and their cells (read), reference data and
# enterprise profiles (read and maintain). Not Celery's scheduler (django_celery_beat), not
# users and groups, not submissions (those are reviewed in the portal).
MINISTRY_RIGHTS: dict[str, dict[str, tuple[str, ...]]] = {
    "frameworks": {"*": ("add", "change", "delete", "view")},
    "filings": {"period": ("add", "change", "view")},
    "indices": {"indexrun": ("change", "view"), "indexcell": ("view",)},
    "reference": {"*": ("view",)},
    "enterprises": {"*": ("add", "change", "view")},
}


class WorkbenchKind:
    ENTERPRISE = "enterprise"
    AUTHORITY = "authority"
    EXPERT = "expert"
    MINISTRY = "ministry"


def _role(user) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Role.ADMIN if user.is_superuser else user.role


def is_platform_staff(user) -> bool:
    """Ministry staff and system administrators: the people who run the platform."""
    return _role(user) in (Role.MINISTRY, Role.ADMIN)


def holds_ministry_rights(user) -> bool:
    """Whether ``user`` holds the ministry group's permissions by role (active ministry staff)."""
    return _role(user) == Role.MINISTRY


def can_run_indices(user) -> bool:
    """May start index runs and watch them (the portal's 指数计算 page)."""
    return is_platform_staff(user)


def can_publish_indices(user) -> bool:
    """May publish a computed run or roll back to the previous one."""
    return is_platform_staff(user)


def can_see_platform_health(user) -> bool:
    """May see worker heartbeat, queue length and failed jobs."""
    return is_platform_staff(user)


def workbench_of(user) -> str | None:
    """Which workbench the home page shows ``user`` (None: the public home)."""
    role = _role(user)
    if role in (Role.MINISTRY, Role.ADMIN):
        return WorkbenchKind.MINISTRY
    if role == Role.AUTHORITY and user.region_id:
        return WorkbenchKind.AUTHORITY
    if role == Role.ENTERPRISE and user.enterprise_id:
        return WorkbenchKind.ENTERPRISE
    if role == Role.EXPERT:
        return WorkbenchKind.EXPERT
    return None


def ministry_permissions():
    """The Permission rows listed in MINISTRY_RIGHTS (a queryset)."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    condition = Q(pk__in=[])
    for app_label, models in MINISTRY_RIGHTS.items():
        for model, actions in models.items():
            q = Q(content_type__app_label=app_label, codename__regex=rf"^({'|'.join(actions)})_")
            if model != "*":
                q &= Q(content_type__model=model)
            condition |= q
    return Permission.objects.filter(condition)


def ministry_group_sync(**kwargs) -> None:
    """Create the ``ministry`` group and give it the rights above (idempotent; connected to
    post_migrate, so a fresh database and a flushed test database both have it)."""
    from django.contrib.auth.models import Group

    group, _created = Group.objects.get_or_create(name=MINISTRY_GROUP)
    group.permissions.add(*ministry_permissions())
