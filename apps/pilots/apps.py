from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PilotsConfig(AppConfig):
    name = "apps.pilots"
    verbose_name = _("试点示范遴选")
