from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilingsConfig(AppConfig):
    name = "apps.filings"
    verbose_name = _("诊断填报")
