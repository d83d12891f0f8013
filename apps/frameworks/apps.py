from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FrameworksConfig(AppConfig):
    name = "apps.frameworks"
    verbose_name = _("评估框架")
