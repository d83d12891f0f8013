"""Services that change enterprises. Views, API, admin and commands call these."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.models import Role
from apps.accounts.scoping import jurisdiction_of

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
