"""Services that change enterprises. Views, API, admin and commands call these."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Role
from apps.accounts.permissions import can_confirm_enterprises
from apps.accounts.scoping import jurisdiction_of, recorded_user

from .models import Enterprise


def enterprise_check_region_in_scope(*, user, region) -> None:
    """Refuse to place an enterprise in a region outside the acting user's jurisdiction."""
    if not jurisdiction_of(user).covers_region(region):
        raise ValidationError({"region": _("该区县不在您的管辖范围内，不能把企业登记或调整到这里。")})


@transaction.atomic
def enterprise_register(*, enterprise: Enterprise, username: str, password: str, email: str = ""):
    """Create a self-registered enterprise and its first user in one transaction.

    ``enterprise`` is an unsaved, validated instance (key industries are set after save by
    the caller's form). Returns the new user.
    """
    enterprise.awaiting_confirmation = True  # counts in indices once the authority confirms it
    enterprise.save()
    user = get_user_model().objects.create_user(
        username=username,
        password=password,
        email=email or enterprise.contact_email,
        role=Role.ENTERPRISE,
        enterprise=enterprise,
        first_name=enterprise.contact_name,
    )
    return user


@transaction.atomic
def enterprise_confirm(*, enterprise: Enterprise, user) -> Enterprise:
    """The authority confirms a self-registered enterprise of its jurisdiction: from now on
    it counts in indices and coverage. Idempotent; history records who confirmed it."""
    if not can_confirm_enterprises(user):
        raise PermissionDenied(_("只有主管部门可以确认自行注册的企业。"))
    locked = Enterprise.objects.editable_by(user).select_for_update().filter(pk=enterprise.pk).first()
    if locked is None:
        raise PermissionDenied(_("该企业不在您的管辖范围内。"))
    if locked.awaiting_confirmation:
        locked.awaiting_confirmation = False
        locked.confirmed_at, locked.confirmed_by = timezone.now(), recorded_user(user)
        locked._history_user = recorded_user(user)
        locked._change_reason = _("主管部门确认自行注册的企业")
        locked.save()
    return locked
