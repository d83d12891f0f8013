"""django-import-export resource for enterprises: Chinese column headers, look-ups that explain
what is wrong in words a clerk can act on, and the portal's rules (jurisdiction, county level,
duplicates inside one file).

The resource is used by :mod:`apps.enterprises.imports` (the services behind the portal page,
the management commands and the admin). It does not read files itself: the import service
turns a CSV/XLSX file into a ``tablib.Dataset`` whose cells are already stripped strings and
whose headers are the canonical column names below, and attaches the file line number of
every data row as ``dataset.line_numbers``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader

from apps.accounts.scoping import jurisdiction_of, recorded_user
from apps.reference.models import Industry, IndustryLevel, KeyIndustry, Region

from .models import Enterprise
from .services import enterprise_check_region_in_scope
from .validators import normalise_uscc

# --- columns -----------------------------------------------------------------------------

USCC = "统一社会信用代码"
NAME = "企业名称"
PROVINCE = "省级代码"
PREFECTURE = "地级代码"
COUNTY = "区县代码"
INDUSTRY = "行业代码"
KEY_INDUSTRIES = "重点行业"
EMPLOYEES = "从业人员"
REVENUE = "营业收入（万元）"
SIZE = "企业规模"
ADDRESS = "通讯地址"
CONTACT_NAME = "联系人"
CONTACT_PHONE = "联系电话"
CONTACT_EMAIL = "电子邮箱"

#: Columns read on import, in the order of the template.
IMPORT_COLUMNS = (
    USCC, NAME, COUNTY, INDUSTRY, KEY_INDUSTRIES, EMPLOYEES, REVENUE, ADDRESS, CONTACT_NAME, CONTACT_PHONE,
    CONTACT_EMAIL,
)  # fmt: skip
#: A file without one of these header cells is refused before any row is read.
REQUIRED_COLUMNS = (USCC, NAME, COUNTY, INDUSTRY, EMPLOYEES, REVENUE, CONTACT_NAME, CONTACT_PHONE)
#: Written on export only; present in an uploaded file they are ignored (so that an exported
#: file can be edited and imported again).
EXPORT_ONLY_COLUMNS = (PROVINCE, PREFECTURE, SIZE)
ALL_COLUMNS = IMPORT_COLUMNS + EXPORT_ONLY_COLUMNS

#: Other spellings accepted in a header row (developers' files, older templates).
HEADER_ALIASES = {
    "uscc": USCC, "name": NAME, "region": COUNTY, "county_code": COUNTY, "区县": COUNTY,
    "industry": INDUSTRY, "所属行业": INDUSTRY, "key_industries": KEY_INDUSTRIES, "employees": EMPLOYEES,
    "从业人员（人）": EMPLOYEES, "revenue": REVENUE, "营业收入": REVENUE, "address": ADDRESS,
    "contact_name": CONTACT_NAME, "contact_phone": CONTACT_PHONE, "contact_email": CONTACT_EMAIL,
    "email": CONTACT_EMAIL, "province_code": PROVINCE, "prefecture_code": PREFECTURE, "size_class": SIZE,
}  # fmt: skip

# Fields that Enterprise.save() derives from region, industry, employees and revenue: they
# are empty on a new instance and must not be reported as "required" by full_clean().
_DERIVED_FIELDS = ("province_code", "prefecture_code", "county_code", "division_code", "size_class")
# What a row can change; an existing enterprise whose values all equal the row's is left alone.
_COMPARED_ATTRIBUTES = (
    "name", "region_id", "industry_id", "employees", "revenue", "address", "contact_name", "contact_phone",
    "contact_email",
)  # fmt: skip
# Foreign keys the widgets have already looked up (and checked) in the database: full_clean()
# would query each of them again for every row.
_LOOKED_UP_FIELDS = ("region", "industry")

_QUERY_CHUNK = 500  # SQLite limits the number of query parameters; stay far below it


def _chunks(values, size: int = _QUERY_CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- widgets -----------------------------------------------------------------------------
# Every widget raises ValueError with a complete Chinese sentence: django-import-export turns
# a ValueError from a widget into a ValidationError of that field, which the import service
# reports with the column name and the file line number.


def _required(column: str) -> ValueError:
    return ValueError(_("“%(column)s”为必填项，不能为空。") % {"column": column})


class TextWidget(widgets.CharWidget):
    """A stripped string; ``required`` columns may not be empty."""

    def __init__(self, *, column: str, required: bool = False):
        super().__init__(coerce_to_string=True, allow_blank=True)
        self.column = column
        self.required = required

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if self.required and not text:
            raise _required(self.column)
        return text


class UsccWidget(TextWidget):
    """The USCC normalised as the model stores it; its check is the model field's validator."""

    def __init__(self):
        super().__init__(column=USCC, required=True)

    def clean(self, value, row=None, **kwargs):
        return normalise_uscc(super().clean(value, row, **kwargs))


class _CachedLookupWidget(widgets.ForeignKeyWidget):
    """A code look-up against an in-memory map filled once per import by :meth:`prime`."""

    def __init__(self, model, *, column: str):
        super().__init__(model, field="pk")
        self.column = column
        self.cache: dict[str, object] = {}

    def prime(self, codes) -> None:
        raise NotImplementedError

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value.pk


class RegionWidget(_CachedLookupWidget):
    """区县代码 → an active county-level Region."""

    def __init__(self):
        super().__init__(Region, column=COUNTY)

    def prime(self, codes) -> None:
        wanted = {c for c in codes if c and c not in self.cache}
        for chunk in _chunks(wanted):
            self.cache.update({r.code: r for r in Region.objects.filter(code__in=chunk)})

    def clean(self, value, row=None, **kwargs):
        code = "" if value is None else str(value).strip()
        if not code:
            raise _required(self.column)
        if not re.fullmatch(r"\d{6}", code):
            raise ValueError(_("区县代码“%(code)s”应为6位数字的行政区划代码，例如 320102。") % {"code": code})
        region = self.cache.get(code)
        if region is None:
            self.prime([code])
            region = self.cache.get(code)
        if region is None:
            raise ValueError(
                _("区县代码“%(code)s”不存在，请按《中华人民共和国行政区划代码》核对现行的区县代码。") % {"code": code}
            )
        if not region.is_placeable:  # a county, or a city without counties (东莞, 中山, 儋州)
            raise ValueError(
                _("“%(name)s”（%(code)s）是%(level)s区划，请填写到区县一级的代码。")
                % {"name": region.name, "code": code, "level": region.get_level_display()}
            )
        if not region.is_active:
            raise ValueError(
                _("区县代码 %(code)s（%(name)s）已撤销，请改用现行的区县代码。") % {"code": code, "name": region.name}
            )
        return region


class IndustryWidget(_CachedLookupWidget):
    """行业代码 → a GB/T 4754-2017 division (2 digits) or group (3 digits)."""

    def __init__(self):
        super().__init__(Industry, column=INDUSTRY)

    def prime(self, codes=None) -> None:
        # The manufacturing classes are a few hundred rows: load them all once.
        if not self.cache:
            self.cache = {i.code: i for i in Industry.objects.all()}

    def clean(self, value, row=None, **kwargs):
        code = "" if value is None else str(value).strip().upper()
        if not code:
            raise _required(self.column)
        if len(code) > 1 and code.startswith("C") and code[1:].isdigit():
            code = code[1:]  # "C39" as printed in some statistical forms
        self.prime()
        industry = self.cache.get(code)
        hint = _("请填写GB/T 4754-2017 制造业的大类（2位，如 39）或中类（3位，如 391）代码。")
        if industry is None:
            raise ValueError(_("行业代码“%(code)s”不存在。") % {"code": code} + hint)
        if industry.level not in (IndustryLevel.DIVISION, IndustryLevel.GROUP):
            raise ValueError(_("行业代码“%(code)s”是门类，不够具体。") % {"code": code} + hint)
        if not industry.is_active:
            raise ValueError(_("行业代码“%(code)s”已停用。") % {"code": code} + hint)
        return industry


class KeyIndustriesWidget(widgets.ManyToManyWidget):
    """重点行业: codes or names separated by ; ； 、 , or ，(empty: none)."""

    SPLIT = re.compile(r"[;；、,，]")

    def __init__(self):
        super().__init__(KeyIndustry, separator="、", field="name")
        self.by_key: dict[str, KeyIndustry] = {}

    def prime(self) -> None:
        if not self.by_key:
            for ki in KeyIndustry.objects.all():
                self.by_key[ki.code.casefold()] = ki
                self.by_key[ki.name.casefold()] = ki

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if not text:
            return []
        self.prime()
        found, unknown = [], []
        for part in (p.strip() for p in self.SPLIT.split(text)):
            if not part:
                continue
            ki = self.by_key.get(part.casefold())
            if ki is None:
                unknown.append(part)
            elif ki not in found:
                found.append(ki)
        if unknown:
            known = "、".join(sorted({ki.name for ki in self.by_key.values()})) or _("（尚未配置）")
            raise ValueError(
                _("重点行业“%(unknown)s”不存在。可填写的重点行业：%(known)s（名称或代码，多个用“；”或“、”分隔）。")
                % {"unknown": "、".join(unknown), "known": known}
            )
        return found

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return "、".join(ki.name for ki in value.all())


def _number_text(value) -> str:
    # Clerks paste numbers with thousands separators and sometimes full-width digits;
    # the reader has already turned XLSX numbers into plain strings.
    return str(value).strip().replace(",", "").replace("，", "").replace(" ", "")


class EmployeesWidget(widgets.IntegerWidget):
    """从业人员: a whole, non-negative number of people."""

    MAX = 2_147_483_647  # PositiveIntegerField on PostgreSQL

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else _number_text(value)
        if not text:
            raise _required(EMPLOYEES)
        if not re.fullmatch(r"-?\d+(\.0*)?", text):
            raise ValueError(_("从业人员应为整数（人数），当前为“%(value)s”。") % {"value": value})
        number = int(Decimal(text))
        if number < 0:
            raise ValueError(_("从业人员不能为负数，当前为 %(value)s。") % {"value": number})
        if number > self.MAX:
            raise ValueError(_("从业人员 %(value)s 超出了合理范围，请核对。") % {"value": number})
        return number

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value if kwargs.get("force_native_type") else str(value)


class RevenueWidget(widgets.DecimalWidget):
    """营业收入（万元）: a non-negative amount with at most two decimals."""

    MAX = Decimal("999999999999.99")  # max_digits=14, decimal_places=2

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else _number_text(value)
        if not text:
            raise _required(REVENUE)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            raise ValueError(_("营业收入应为数字（单位：万元），当前为“%(value)s”。") % {"value": value})
        if amount < 0:
            raise ValueError(_("营业收入不能为负数，当前为 %(value)s 万元。") % {"value": text})
        if amount != amount.quantize(Decimal("0.01")):
            raise ValueError(_("营业收入最多保留两位小数（单位：万元），当前为 %(value)s。") % {"value": text})
        if amount > self.MAX:
            raise ValueError(_("营业收入 %(value)s 万元超出了合理范围，请确认单位是“万元”而不是“元”。") % {"value": text})
        return amount.quantize(Decimal("0.01"))

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value if kwargs.get("force_native_type") else f"{value:.2f}"


# --- instance loader ---------------------------------------------------------------------


class UsccInstanceLoader(BaseInstanceLoader):
    """Finds the existing enterprise of every row by its USCC, in a few queries for the whole file.

    Unlike import_export's CachedInstanceLoader it normalises the codes itself (a malformed
    code must not break the look-up; it is reported by the row's validation) and queries in
    chunks (SQLite's parameter limit).
    """

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        codes = {normalise_uscc(v) for v in (dataset[USCC] if dataset is not None and dataset.height else [])}
        codes.discard("")
        self.instances: dict[str, Enterprise] = {}
        for chunk in _chunks(codes):
            qs = (
                Enterprise.objects.filter(uscc__in=chunk)
                .select_related("region", "industry")
                .prefetch_related("key_industries")
            )
            self.instances.update({e.uscc: e for e in qs})

    def get_instance(self, row):
        return self.instances.get(normalise_uscc(row.get(USCC) or ""))


# --- resource ----------------------------------------------------------------------------


class EnterpriseResource(resources.ModelResource):
    """Enterprise rows keyed on the USCC: an existing enterprise is updated, a new one created.

    ``user`` is the importing/exporting user; the system actor ``SYSTEM`` (management command
    without ``--as-user``), which is not limited to a jurisdiction and leaves the history
    user empty. ``change_reason`` is written to every history row. With ``annotate_lines``
    messages start with the file line ("第 7 行："), for screens (the admin) that only know
    the data row index.
    """

    uscc = fields.Field(attribute="uscc", column_name=USCC, widget=UsccWidget())
    name = fields.Field(attribute="name", column_name=NAME, widget=TextWidget(column=NAME, required=True))
    province_code = fields.Field(attribute="province_code", column_name=PROVINCE, readonly=True)
    prefecture_code = fields.Field(attribute="prefecture_code", column_name=PREFECTURE, readonly=True)
    region = fields.Field(attribute="region", column_name=COUNTY, widget=RegionWidget())
    industry = fields.Field(attribute="industry", column_name=INDUSTRY, widget=IndustryWidget())
    key_industries = fields.Field(attribute="key_industries", column_name=KEY_INDUSTRIES, widget=KeyIndustriesWidget())
    employees = fields.Field(attribute="employees", column_name=EMPLOYEES, widget=EmployeesWidget())
    revenue = fields.Field(attribute="revenue", column_name=REVENUE, widget=RevenueWidget())
    size_class = fields.Field(attribute="get_size_class_display", column_name=SIZE, readonly=True)
    address = fields.Field(attribute="address", column_name=ADDRESS, widget=TextWidget(column=ADDRESS))
    contact_name = fields.Field(
        attribute="contact_name", column_name=CONTACT_NAME, widget=TextWidget(column=CONTACT_NAME, required=True)
    )
    contact_phone = fields.Field(
        attribute="contact_phone", column_name=CONTACT_PHONE, widget=TextWidget(column=CONTACT_PHONE, required=True)
    )
    contact_email = fields.Field(
        attribute="contact_email", column_name=CONTACT_EMAIL, widget=TextWidget(column=CONTACT_EMAIL)
    )

    class Meta:
        model = Enterprise
        name = "企业"
        fields = (
            "uscc", "name", "province_code", "prefecture_code", "region", "industry", "key_industries",
            "employees", "revenue", "size_class", "address", "contact_name", "contact_phone", "contact_email",
        )  # fmt: skip
        export_order = fields
        import_id_fields = ("uscc",)
        instance_loader_class = UsccInstanceLoader
        use_transactions = True
        # History rows and key industries need Model.save() per row, not bulk_create().
        use_bulk = False
        # The diff (a deep copy and an HTML rendering per row) is only for the admin's
        # preview table; the import report lists errors, not diffs.
        skip_diff = True
        clean_model_instances = True

    def __init__(self, *, user, change_reason: str = "", annotate_lines: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.change_reason = change_reason[:100]  # simple_history's change-reason column
        self.annotate_lines = annotate_lines
        self.jurisdiction = jurisdiction_of(user)
        self.line_numbers: list[int] = []
        self.duplicates: dict[str, list[int]] = {}
        self.editable_usccs: set[str] | None = None
        self._row: dict = {}
        self._line = 0
        self._new = True
        self._before: tuple = ()

    # Column name of a model attribute, for the report.
    def column_of(self, attribute: str) -> str:
        for field in self.fields.values():
            if field.attribute == attribute:
                return field.column_name
        return ""

    def before_import(self, dataset, **kwargs):
        self.line_numbers = list(getattr(dataset, "line_numbers", None) or range(2, dataset.height + 2))
        headers = set(dataset.headers or ())
        if COUNTY in headers:
            self.fields["region"].widget.prime(dataset[COUNTY])
        self.fields["industry"].widget.prime()
        self.fields["key_industries"].widget.prime()

        lines_by_uscc: dict[str, list[int]] = defaultdict(list)
        if USCC in headers:
            for line, value in zip(self.line_numbers, dataset[USCC], strict=False):
                code = normalise_uscc(value or "")
                if code:
                    lines_by_uscc[code].append(line)
        self.duplicates = {code: lines for code, lines in lines_by_uscc.items() if len(lines) > 1}

        # Which of the file's enterprises this user may change (one query per chunk instead
        # of one per row). The system user may change all of them.
        if self.jurisdiction.everything:
            self.editable_usccs = None
        else:
            self.editable_usccs = set()
            for chunk in _chunks(lines_by_uscc):
                self.editable_usccs.update(
                    Enterprise.objects.editable_by(self.user).filter(uscc__in=chunk).values_list("uscc", flat=True)
                )

    def before_import_row(self, row, **kwargs):
        number = kwargs.get("row_number") or 0
        self._row = row
        self._line = self.line_numbers[number - 1] if 0 < number <= len(self.line_numbers) else number + 1

    def after_init_instance(self, instance, new, row, **kwargs):
        self._new = new
        self._before = () if new else tuple(getattr(instance, a) for a in _COMPARED_ATTRIBUTES)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """Leave an existing enterprise alone when the row would not change it.

        Re-importing a corrected file then writes (and records in the history) only the
        enterprises that really changed. Rows with any doubt — errors, duplicates, an
        enterprise outside the user's scope — are not skipped, so that they are reported.
        """
        if self._new or import_validation_errors:
            return False
        if instance.uscc in self.duplicates:
            return False
        if self.editable_usccs is not None and instance.uscc not in self.editable_usccs:
            return False
        if tuple(getattr(instance, a) for a in _COMPARED_ATTRIBUTES) != self._before:
            return False
        if KEY_INDUSTRIES in row:
            try:
                wanted = {ki.pk for ki in self.fields["key_industries"].clean(row)}
            except ValueError:
                return False
            # prefetched by UsccInstanceLoader
            if wanted != {ki.pk for ki in instance.key_industries.all()}:
                return False
        return True

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """Combine the widgets' errors with the portal's own rules and the model's validation.

        Key industries are checked here although they are saved after the instance: an error
        raised while saving them could no longer be reported against the row.
        """
        errors: dict[str, list] = {k: list(v) for k, v in (import_validation_errors or {}).items()}

        def add(attribute: str, message: str) -> None:
            errors.setdefault(attribute, []).append(message)

        if KEY_INDUSTRIES in self._row and "key_industries" not in errors:
            try:
                self.fields["key_industries"].clean(self._row)
            except ValueError as exc:
                add("key_industries", str(exc))

        lines = self.duplicates.get(instance.uscc)
        if lines:
            add(
                "uscc",
                _("统一社会信用代码 %(uscc)s 在文件中出现了 %(n)d 次（第 %(lines)s 行），每家企业只能有一行，请合并后再导入。")
                % {"uscc": instance.uscc, "n": len(lines), "lines": "、".join(map(str, lines))},
            )

        if not self._new and self.editable_usccs is not None and instance.uscc not in self.editable_usccs:
            add(
                "uscc",
                _("统一社会信用代码 %(uscc)s 对应的企业登记在您管辖范围以外的地区，不能通过导入修改。")
                % {"uscc": instance.uscc},
            )

        if "region" not in errors and instance.region_id and not self.jurisdiction.everything:
            try:
                enterprise_check_region_in_scope(user=self.user, region=instance.region)
            except ValidationError as exc:
                for message in exc.message_dict.get("region", exc.messages):
                    add("region", message)

        if self._meta.clean_model_instances:
            try:
                # Uniqueness of the USCC is the instance loader's business (an existing code
                # updates) plus the duplicate check above; asking the database again per
                # row would only cost a query.
                instance.full_clean(
                    exclude=set(errors) | set(_DERIVED_FIELDS) | set(_LOOKED_UP_FIELDS), validate_unique=False
                )
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)

        if errors:
            if self.annotate_lines:
                prefix = _("第 %(line)d 行：") % {"line": self._line}
                errors = {
                    key: [prefix + m for item in values for m in ValidationError(item).messages]
                    for key, values in errors.items()
                }
            raise ValidationError(errors)

    def save_m2m(self, instance, row, **kwargs):
        """Set the key industries when the file has the column (an absent column changes nothing)."""
        if KEY_INDUSTRIES not in row or (self._is_dry_run(kwargs) and not self._is_using_transactions(kwargs)):
            return
        wanted = self.fields["key_industries"].clean(row)
        if self._new:
            # A new enterprise has none yet: add() saves set()'s query for the current ones,
            # and writes no extra history row when the cell is empty.
            if wanted:
                instance.key_industries.add(*wanted)
        else:
            # set() only adds/removes the difference, so an unchanged cell writes no history.
            instance.key_industries.set(wanted)

    def before_save_instance(self, instance, row, **kwargs):
        # simple_history reads these when it writes the history row of this save (and of the
        # key-industry change that follows); there is no request in a worker or a command.
        instance._history_user = recorded_user(self.user)
        if self.change_reason:
            instance._change_reason = self.change_reason

    def after_import(self, dataset, result, **kwargs):
        # ModelResource.after_import resets the primary-key sequence to max(id) on PostgreSQL,
        # which is only needed when a file supplies ids. Ours never does, and resetting the
        # sequence while another transaction inserts enterprises could hand out an id twice.
        return None

    def export(self, queryset=None, **kwargs):
        if queryset is None:
            queryset = Enterprise.objects.visible_to(self.user)
        return super().export(queryset=queryset, **kwargs)
