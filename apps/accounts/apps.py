from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    verbose_name = _("用户与权限")

    def ready(self) -> None:
        from . import lockout  # noqa: F401  (connects the failed-log-in counter)
