"""Who may see and change policies, targets and support records (apps.policies).

The same jurisdiction as everywhere (:mod:`apps.accounts.scoping`):

* public policies: everyone, anonymous included; internal policies: ministry staff and
  system admins, and an authority for a policy of a region inside its jurisdiction;
* changing policies, measures and targets: ministry staff / admins (all), an authority for
  policies of regions inside its jurisdiction (not national ones);
* support records: rows of enterprises the user may see (``SupportRecord.objects.visible_to``),
  only for ministry, admin and authority users; the public sees counts only;
* progress notes: whoever may change the target's policy;
* a target's unsuppressed progress: readers whose jurisdiction holds the target's cell,
  exactly the rule of ``apps.indices.readers.cells_for`` (it is computed from it).
"""

from __future__ import annotations

from django.db.models import Q

from .models import Role
from .permissions import SYSTEM_ROLE, role_of
from .scoping import jurisdiction_of


def _role(user) -> str | None:
    return role_of(user)


def is_policy_staff(user) -> bool:
    """Ministry staff and system administrators: every policy, every region."""
    return _role(user) in (Role.MINISTRY, Role.ADMIN, SYSTEM_ROLE)


def is_policy_reader(user) -> bool:
    """Users with policy work pages (tracking dashboard, support records, impact)."""
    return _role(user) in (Role.MINISTRY, Role.ADMIN, Role.AUTHORITY, SYSTEM_ROLE)


def policy_region_q(user, prefix: str = "") -> Q:
    """Policies (reached through ``prefix``) whose region lies in the user's jurisdiction."""
    j = jurisdiction_of(user)
    p = f"{prefix}__" if prefix else ""
    if j.everything:
        return Q()
    if not j.region_code:
        return Q(pk__in=[])
    field, own = j.region_field, j.region_code
    if field == "province_code":
        return Q(**{f"{p}region__province_code": own})
    if field == "prefecture_code":
        return Q(**{f"{p}region__prefecture_code": own}) | Q(**{f"{p}region__code": own})
    return Q(**{f"{p}region__code": own})


def policies_visible_q(user, prefix: str = "") -> Q:
    """A Q over policies (through ``prefix``) that ``user`` may read."""
    p = f"{prefix}__" if prefix else ""
    public = Q(**{f"{p}is_public": True})
    if is_policy_staff(user):
        return Q()
    if _role(user) == Role.AUTHORITY:
        return public | policy_region_q(user, prefix)
    return public


def policies_editable_q(user, prefix: str = "") -> Q:
    """A Q over policies (through ``prefix``) that ``user`` may change."""
    if is_policy_staff(user):
        return Q()
    if _role(user) == Role.AUTHORITY:
        p = f"{prefix}__" if prefix else ""
        return policy_region_q(user, prefix) & Q(**{f"{p}region__isnull": False})
    return Q(pk__in=[])


def can_edit_policy(user, policy) -> bool:
    from apps.policies.models import Policy

    return Policy.objects.filter(policies_editable_q(user), pk=policy.pk).exists()


def can_see_support_records(user) -> bool:
    """Whether ``user`` may list supported enterprises at all (then scoped by visible_to)."""
    return is_policy_reader(user)


def sees_full_cell(user, kind: str, code: str) -> bool:
    """Whether ``user`` reads the cell (kind, code) unsuppressed — the rule of cells_for."""
    from apps.indices.readers import Reader, is_inside

    return is_inside(Reader.of(user), kind, code)


def regions_covered_q(user, field: str) -> Q:
    """A Q over rows whose region code column ``field`` lies in the user's jurisdiction
    (targets' cell regions on the tracking dashboard)."""
    j = jurisdiction_of(user)
    if j.everything:
        return Q()
    if not j.region_code:
        return Q(pk__in=[])
    own = j.region_code
    if j.region_field == "province_code":
        return Q(**{f"{field}__startswith": own[:2]})
    if j.region_field == "prefecture_code":
        return Q(**{f"{field}__startswith": own[:4]}) & ~Q(**{f"{field}__endswith": "0000"})
    return Q(**{field: own})
