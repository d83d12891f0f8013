"""Users and their roles. What a user may see is decided in :mod:`apps.accounts.scoping`."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ENTERPRISE = "enterprise", _("企业填报员")
    AUTHORITY = "authority", _("地方主管部门")
    MINISTRY = "ministry", _("部委工作人员")
    EXPERT = "expert", _("评审专家")
    ADMIN = "admin", _("系统管理员")


class User(AbstractUser):
    """A person who logs in. Enterprise users belong to one enterprise; authority users
    to one region (their jurisdiction is that region and everything below it)."""

    role = models.CharField(_("角色"), max_length=12, choices=Role.choices, default=Role.ENTERPRISE)
    enterprise = models.ForeignKey(
        "enterprises.Enterprise",
        verbose_name=_("所属企业"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    region = models.ForeignKey(
        "reference.Region",
        verbose_name=_("管辖地区"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="authority_users",
    )
    organisation = models.CharField(_("工作单位"), max_length=200, blank=True)
    phone = models.CharField(_("联系电话"), max_length=30, blank=True)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="enterprise") | models.Q(enterprise__isnull=False) | models.Q(is_superuser=True),
                name="enterprise_user_has_enterprise",
            ),
            models.CheckConstraint(
                condition=~models.Q(role="authority") | models.Q(region__isnull=False),
                name="authority_user_has_region",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.role == Role.ENTERPRISE and not self.enterprise_id and not self.is_superuser:
            raise ValidationError({"enterprise": _("企业填报员必须关联一家企业。")})
        if self.role == Role.AUTHORITY and not self.region_id:
            raise ValidationError({"region": _("地方主管部门用户必须指定管辖地区。")})
