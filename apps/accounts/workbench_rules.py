"""Rules of the workbenches and of platform work, on top of :mod:`apps.accounts.permissions`
(the one place roles are compared): which workbench the home page shows, who may publish
runs and see platform health, and exactly which admin rights ministry staff hold.

Jurisdiction (what part of the enterprise population a user sees) stays in
:mod:`apps.accounts.scoping`.
"""

from __future__ import annotations

from .models import Role
from .permissions import can_run_indices, is_platform_staff, role_of

__all__ = [
    "MINISTRY_GROUP", "MINISTRY_RIGHTS", "WorkbenchKind", "can_publish_indices", "can_run_indices",
    "can_see_platform_health", "holds_ministry_rights", "is_platform_staff", "ministry_group_sync",
    "ministry_permissions", "workbench_of",
]

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


def holds_ministry_rights(user) -> bool:
    """Whether ``user`` holds the ministry group's permissions by role (active ministry staff)."""
    return role_of(user) == Role.MINISTRY


def can_publish_indices(user) -> bool:
    """May publish a computed run or roll back to the previous one."""
    return can_run_indices(user)


def can_see_platform_health(user) -> bool:
    """May see worker heartbeat, queue length and failed jobs."""
    return is_platform_staff(user)


def workbench_of(user) -> str | None:
    """Which workbench the home page shows ``user`` (None: the public home)."""
    role = role_of(user)
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
