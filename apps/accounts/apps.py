from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    verbose_name = _("用户与权限")

    def ready(self) -> None:
        from . import lockout  # noqa: F401  (connects the failed-log-in counter)
        from .workbench_rules import ministry_group_sync

        # After every app's migrate (each app's permissions exist once its own signal ran).
        post_migrate.connect(ministry_group_sync, dispatch_uid="accounts.ministry_group_sync")
