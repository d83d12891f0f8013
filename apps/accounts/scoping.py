"""The one place that decides what a user may see and change.

Every model that holds enterprise data uses :class:`ScopedQuerySet` (directly or through a
subclass) and is read through ``Model.objects.visible_to(user)`` or
``Model.objects.editable_by(user)``. Pages, the admin and the API all call these, so the
rule is applied inside the query and no view can forget it.

Rules
-----
* system admin, ministry staff: everything;
* regional authority: enterprises whose region lies in its jurisdiction — the region and
  everything below it (one indexed equality on the denormalised province / prefecture /
  county code), or, for 新疆生产建设兵团, the prefecture-level code it oversees;
* enterprise user: its own enterprise only (may edit its own profile);
* expert, anonymous: no enterprise data;
* the system actor :data:`SYSTEM` (management commands without ``--as-user``, scheduled
  tasks): everything. It is passed explicitly — ``None`` is nobody, never "everything".

What a role may *do* (review, import, read insights...) is decided by the named predicates
in :mod:`apps.accounts.permissions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.db.models import Q

from apps.reference.models import RegionLevel

from .models import Role

_LEVEL_FIELD = {
    RegionLevel.PROVINCE: "province_code",
    RegionLevel.PREFECTURE: "prefecture_code",
    RegionLevel.COUNTY: "county_code",
}


@dataclass(frozen=True)
class Jurisdiction:
    """What part of the enterprise population a user may see.

    ``everything`` — all of it; ``region_field``/``region_code`` — enterprises whose
    denormalised code ``region_field`` equals ``region_code``; ``enterprise_id`` — one
    enterprise; none of them set — nothing.
    """

    everything: bool = False
    region_field: str | None = None
    region_code: str | None = None
    enterprise_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.everything or self.region_code or self.enterprise_id)

    def enterprise_q(self, prefix: str = "") -> Q:
        """A Q over an enterprise reached through ``prefix`` ("" for Enterprise itself)."""
        p = f"{prefix}__" if prefix else ""
        if self.everything:
            return Q()
        if self.region_code:
            return Q(**{f"{p}{self.region_field}": self.region_code})
        if self.enterprise_id:
            return Q(**{f"{p}pk": self.enterprise_id})
        return Q(pk__in=[])

    def covers_region(self, region) -> bool:
        """Whether a region (county, prefecture or province) lies inside this jurisdiction."""
        return region is not None and self.covers_region_code(region.code)

    def covers_region_code(self, code: str) -> bool:
        """Whether the region with GB/T 2260 ``code`` (province, prefecture or county) lies in
        this jurisdiction, from the code alone (used for aggregate cells, which carry codes)."""
        if self.everything:
            return True
        if not self.region_code or not code or len(code) != 6:
            return False
        field, own = self.region_field, self.region_code
        if field == "province_code":
            return code[:2] == own[:2]
        if field == "prefecture_code":
            return code[:4] == own[:4] and not code.endswith("0000")
        return code == own


NOTHING = Jurisdiction()
EVERYTHING = Jurisdiction(everything=True)


class SystemActor:
    """The platform acting on its own (a management command without ``--as-user``, a
    scheduled task): sees and may change everything; history rows record no user.

    One instance, :data:`SYSTEM`, passed where a service takes the acting user, so that
    "unrestricted" is written down at the call site instead of being what ``None`` means.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False
    is_staff = False
    role = "system"
    pk = id = None
    enterprise_id = region_id = None
    enterprise = region = None
    username = "system"

    def get_full_name(self) -> str:
        return "system"

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()


def is_system(user) -> bool:
    """Whether ``user`` is the system actor."""
    return user is SYSTEM


def recorded_user(user):
    """The user to record on a history row or foreign key: ``None`` for the system actor."""
    return None if is_system(user) else user


def jurisdiction_of(user) -> Jurisdiction:
    """Return the jurisdiction of ``user`` (anonymous users get nothing, the system actor
    everything)."""
    if user is SYSTEM:
        return EVERYTHING
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser or user.role in (Role.ADMIN, Role.MINISTRY):
        return EVERYTHING
    if user.role == Role.AUTHORITY and user.region_id:
        region = user.region
        if region.oversees_prefecture_code:
            return Jurisdiction(region_field="prefecture_code", region_code=region.oversees_prefecture_code)
        return Jurisdiction(region_field=_LEVEL_FIELD[region.level], region_code=region.code)
    if user.role == Role.ENTERPRISE and user.enterprise_id:
        return Jurisdiction(enterprise_id=user.enterprise_id)
    return NOTHING


def enterprise_filers():
    """The active log-ins that file for an enterprise: who a filing deadline concerns."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(role=Role.ENTERPRISE, is_active=True, enterprise__isnull=False)


def can_edit_enterprises(user) -> bool:
    """Roles that may change enterprise profiles (inside what they can see)."""
    return jurisdiction_of(user).is_empty is False and getattr(user, "role", None) != Role.EXPERT


class ScopedQuerySet(models.QuerySet):
    """A queryset that knows how to reach the enterprise a row belongs to.

    Subclasses set ``enterprise_path``: "" for Enterprise itself, "enterprise" for rows
    with a foreign key to it, "submission__enterprise" and so on further away.
    """

    enterprise_path: str = ""

    def visible_to(self, user):
        return self.filter(jurisdiction_of(user).enterprise_q(self.enterprise_path))

    def editable_by(self, user):
        if not can_edit_enterprises(user):
            return self.none()
        return self.visible_to(user)


# --- pilot selection: the recommending channel (推荐渠道) ------------------------------------
#
# Pilot calls are recommended through a channel that differs from the statistical hierarchy
# above: the recommending units are the provinces, the 计划单列市 and 新疆生产建设兵团. A
# province recommends its enterprises *except* those of its 计划单列市 (and 新疆 except those
# of the 兵团), which recommend for themselves. ``jurisdiction_of`` (who may read filings and
# indices) is unchanged: there a province includes them.


def recommending_unit_for(enterprise):
    """The region row of the unit that recommends ``enterprise`` to a pilot call: the 兵团
    authority row for the corps' cities, the 计划单列市 for its enterprises, else the province."""
    from apps.reference.models import Region

    if enterprise.prefecture_code:
        unit = (
            Region.objects.filter(
                Q(oversees_prefecture_code=enterprise.prefecture_code)
                | Q(code=enterprise.prefecture_code, is_separately_planned=True)
            )
            .order_by("-oversees_prefecture_code")
            .first()
        )
        if unit is not None:
            return unit
    return Region.objects.get(code=enterprise.province_code)


def is_recommending_unit(region) -> bool:
    """Whether ``region`` is a pilot recommending unit (province-level row, 计划单列市 or 兵团)."""
    return region is not None and (
        region.level == RegionLevel.PROVINCE or region.is_separately_planned or bool(region.oversees_prefecture_code)
    )


def recommending_unit_of(user):
    """The recommending unit an authority user speaks for, or None (other roles, or a
    prefecture / county authority that is not a 计划单列市)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.role != Role.AUTHORITY or not user.region_id:
        return None
    return user.region if is_recommending_unit(user.region) else None


def pilot_channel_q(unit, prefix: str = "") -> Q:
    """A Q over enterprises (reached through ``prefix``) in the recommending channel of ``unit``."""
    from apps.reference.models import Region

    p = f"{prefix}__" if prefix else ""
    if unit.oversees_prefecture_code:
        return Q(**{f"{p}prefecture_code": unit.oversees_prefecture_code})
    if unit.is_separately_planned:
        return Q(**{f"{p}prefecture_code": unit.code})
    carved_out = list(
        Region.objects.filter(province_code=unit.code, is_separately_planned=True).values_list("code", flat=True)
    ) + list(
        Region.objects.exclude(oversees_prefecture_code="")
        .filter(oversees_prefecture_code__startswith=unit.code[:2])
        .values_list("oversees_prefecture_code", flat=True)
    )
    return Q(**{f"{p}province_code": unit.code}) & ~Q(**{f"{p}prefecture_code__in": carved_out})
