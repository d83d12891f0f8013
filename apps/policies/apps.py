from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PoliciesConfig(AppConfig):
    name = "apps.policies"
    verbose_name = _("政策跟踪")

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects to apps.indices.signals)
