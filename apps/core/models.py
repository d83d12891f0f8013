"""Platform health rows, and the abstract transition record that workflow events share."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TransitionEvent(models.Model):
    """One recorded transition of a workflow object: who (``actor``), when (``at``) and why
    (``note``). A subclass adds the object it belongs to and ``action`` / ``from_status`` /
    ``to_status`` with its own choices and lengths (filings.SubmissionEvent,
    pilots.ApplicationEvent). Abstract: no table of its own."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("时间"), default=timezone.now)
    note = models.TextField(_("说明"), blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"


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
