"""Users and their roles, and their API tokens. What a user may see is decided in
:mod:`apps.accounts.scoping`, what they may do in :mod:`apps.accounts.permissions`."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
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

    def save(self, *args, **kwargs):
        # set_password() keeps the new raw password in _password until the next save: a
        # changed password revokes every API token of the user (a stolen token dies with it).
        password_changed = self.pk is not None and getattr(self, "_password", None) is not None
        super().save(*args, **kwargs)
        if password_changed:
            ApiToken.objects.filter(user=self, revoked_at__isnull=True).update(
                revoked_at=timezone.now(), revoked_reason=ApiToken.REVOKED_PASSWORD
            )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A bearer token for the API (``Authorization: Token <key>``).

    Only a SHA-256 of the key is stored: the key is shown once, when it is made. A token
    expires after ``API_TOKEN_TTL_DAYS``, and is revoked when its user changes password, by
    its user on the 「API 令牌」 page, or by a system admin in the admin site.
    """

    REVOKED_USER = "user"
    REVOKED_ADMIN = "admin"
    REVOKED_PASSWORD = "password"
    REVOKED_CHOICES = [
        (REVOKED_USER, _("用户撤销")),
        (REVOKED_ADMIN, _("管理员撤销")),
        (REVOKED_PASSWORD, _("修改密码后失效")),
    ]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("用户"), on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(_("名称"), max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("令牌前缀"), max_length=8, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_reason = models.CharField(_("撤销原因"), max_length=10, choices=REVOKED_CHOICES, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, *, user, name: str = "") -> tuple["ApiToken", str]:
        """Make a token for ``user``; returns it and its key (the only time the key is known)."""
        key = secrets.token_hex(20)
        days = getattr(settings, "API_TOKEN_TTL_DAYS", 30)
        token = cls.objects.create(user=user, name=name[:100], key_hash=_hash(key), prefix=key[:8],
                                   expires_at=timezone.now() + timedelta(days=days))
        return token, key

    @classmethod
    def find(cls, key: str) -> "ApiToken | None":
        return cls.objects.select_related("user").filter(key_hash=_hash(key)).first()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def revoke(self, reason: str) -> None:
        if self.revoked_at is None:
            self.revoked_at, self.revoked_reason = timezone.now(), reason
            self.save(update_fields=["revoked_at", "revoked_reason"])
