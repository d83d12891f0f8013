"""Readable change history of an enterprise profile (who changed what and when).

django-simple-history stores a full row per save; here consecutive rows are diffed into
"field: old → new" lines with the fields' verbose names and display values.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from apps.reference.models import Industry, KeyIndustry, Region
from apps.reference.size import SizeClass

from .models import Enterprise

_HIDDEN = {"id", "updated_at", "created_at", "province_code", "prefecture_code", "county_code", "division_code"}
_TYPE = {"+": _("创建"), "~": _("修改"), "-": _("删除")}


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class LogEntry:
    when: object
    who: str
    kind: str  # simple_history's + ~ -
    action: str
    reason: str
    changes: list[Change] = field(default_factory=list)


def _display(name: str, value) -> str:
    if value in (None, ""):
        return "—"
    if name == "region":
        region = Region.objects.filter(pk=value).first()
        return region.full_name() if region else str(value)
    if name == "industry":
        industry = Industry.objects.filter(pk=value).first()
        return str(industry) if industry else str(value)
    if name == "size_class":
        return str(SizeClass(value).label) if value in SizeClass.values else str(value)
    if name == "key_industries":
        codes = [row.get("keyindustry") for row in value] if isinstance(value, list) else []
        return "、".join(KeyIndustry.objects.filter(pk__in=codes).values_list("name", flat=True)) or "—"
    return str(value)


def _changes_between(old, new) -> list[Change]:
    """Field changes between two history rows. Compared by hand rather than with
    diff_against, which skips derived (editable=False) fields such as size_class."""
    changes = []
    for f in new.tracked_fields:
        if f.name in _HIDDEN:
            continue
        before, after = getattr(old, f.attname), getattr(new, f.attname)
        if before != after:
            label = str(Enterprise._meta.get_field(f.name).verbose_name)
            changes.append(Change(label, _display(f.name, before), _display(f.name, after)))
    for change in new.diff_against(old, included_fields={"key_industries"}).changes:
        label = str(Enterprise._meta.get_field(change.field).verbose_name)
        changes.append(Change(label, _display(change.field, change.old), _display(change.field, change.new)))
    return changes


def enterprise_change_log(*, enterprise: Enterprise) -> list[LogEntry]:
    """Newest first: each save of ``enterprise`` with the fields it changed."""
    records = list(enterprise.history.select_related("history_user").order_by("-history_date", "-history_id"))
    entries = []
    for i, record in enumerate(records):
        previous = records[i + 1] if i + 1 < len(records) else None
        who = record.history_user.get_full_name() or record.history_user.username if record.history_user else _("系统")
        entry = LogEntry(
            when=record.history_date, who=who, kind=record.history_type, action=_TYPE.get(record.history_type, record.history_type),
            reason=record.history_change_reason or "",
        )
        if previous is not None:
            entry.changes = _changes_between(previous, record)
        entries.append(entry)
    return entries
