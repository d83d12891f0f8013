"""Permissions that come with a role.

Ministry staff hold the permissions of the ``ministry`` group
(:data:`apps.accounts.workbench_rules.MINISTRY_GROUP`) because of their role, without a
membership to keep in step: a user whose role changes loses them at once.
"""

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.models import Permission

from .workbench_rules import MINISTRY_GROUP, holds_ministry_rights


class RoleGroupBackend(BaseBackend):
    """Authenticates nobody; answers permission questions for role-bound groups."""

    _cache_name = "_role_group_perm_cache"

    def get_group_permissions(self, user_obj, obj=None):
        if obj is not None or not holds_ministry_rights(user_obj):
            return set()
        if not hasattr(user_obj, self._cache_name):
            perms = Permission.objects.filter(group__name=MINISTRY_GROUP).values_list(
                "content_type__app_label", "codename"
            )
            setattr(user_obj, self._cache_name, {f"{app}.{code}" for app, code in perms})
        return getattr(user_obj, self._cache_name)

    def has_module_perms(self, user_obj, app_label):
        return any(p.startswith(f"{app_label}.") for p in self.get_all_permissions(user_obj))
