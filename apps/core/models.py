"""Platform health rows."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """When a component last proved it was alive (``worker``: a Celery worker ran the
    scheduled heartbeat task, which needs the broker, a worker and the database)."""

    name = models.CharField(_("组件"), max_length=40, unique=True)
    at = models.DateTimeField(_("最近一次"))

    class Meta:
        verbose_name = _("心跳")
        verbose_name_plural = _("心跳")

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M:%S}"
