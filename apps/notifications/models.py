"""Notices to one user: shown in the portal (with an unread count in the header) and sent
by e-mail when the user has an address."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class NoticeKind(models.TextChoices):
    RETURNED = "returned", _("填报被退回")
    ACCEPTED = "accepted", _("填报审核通过")
    DEADLINE = "deadline", _("填报截止提醒")


# What each kind says; filled from the notice's params in the reader's language.
MESSAGES = {
    NoticeKind.RETURNED: _("%(period)s的诊断填报被退回修改（%(items)s 项需修改），请在截止日期前修改后重新提交。"),
    NoticeKind.ACCEPTED: _("%(period)s的诊断填报已审核通过，可以查看诊断报告。"),
    NoticeKind.DEADLINE: _("%(period)s的诊断填报将于 %(date)s 截止（还剩 %(n)s 天），贵企业尚未提交。"),
}


class Notice(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("接收人"), on_delete=models.CASCADE, related_name="notices"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=NoticeKind.choices)
    params = models.JSONField(_("内容参数"), default=dict)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    # Set for notices that must reach a user once only (e.g. one deadline reminder per period).
    dedupe_key = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("邮件发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], condition=~Q(dedupe_key=""), name="one_notice_per_dedupe_key"
            )
        ]

    def __str__(self) -> str:
        return self.text[:50]

    @property
    def text(self) -> str:
        """The message in the active language."""
        return str(MESSAGES[self.kind]) % self.params
