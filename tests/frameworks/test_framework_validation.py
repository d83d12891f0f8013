"""Validation rules of a framework version: one test per rule, on files and on database rows."""

from decimal import Decimal

import pytest

from apps.frameworks.exchange import check_spec, import_framework, parse_spec
from apps.frameworks.models import ChecklistItem, Indicator, MaturityLevel, RubricLevel
from apps.frameworks.services import framework_validate
from tests.frameworks.framework_specs import indicator, reference_rows, small_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reference():
    reference_rows()


def problems_of(spec) -> list[str]:
    parsed, structural = parse_spec(spec)
    assert structural == [], structural
    return [p.for_file() for p in check_spec(parsed)]


def test_the_small_example_is_valid():
    assert problems_of(small_spec()) == []


def test_dimension_weights_sum_to_one():
    spec = small_spec()
    spec["dimensions"][1]["weight"] = 0.5
    assert problems_of(spec) == ["dimensions：各维度权重之和须为 1（现为 0.9）"]


def test_dimension_weights_sum_within_tolerance():
    spec = small_spec()
    # 0.4 and 0.6 as 4-decimal weights sum exactly; a float sum that is off by 1e-12 is fine
    spec["dimensions"][0]["weight"] = 0.4
    spec["dimensions"][1]["weight"] = 0.6
    assert problems_of(spec) == []


def test_core_indicator_weights_in_a_dimension_sum_to_one():
    spec = small_spec()
    indicator(spec, "D1.02")["weight"] = 0.1
    assert problems_of(spec) == ["dimensions[0].indicators：通用指标的权重之和须为 1（现为 0.9）"]


def test_module_indicator_weights_are_not_part_of_the_core_sum():
    spec = small_spec()
    indicator(spec, "M.01")["weight"] = 0.7
    assert problems_of(spec) == []


def test_rubric_needs_six_levels():
    spec = small_spec()
    indicator(spec, "D1.01")["levels"] = indicator(spec, "D1.01")["levels"][:5]
    assert problems_of(spec) == ["dimensions[0].indicators[0].levels：分级描述类指标须有0–5共6个级别描述"]


def test_rubric_levels_are_not_empty():
    spec = small_spec()
    indicator(spec, "D1.01")["levels"][2] = "  "
    assert problems_of(spec) == ["dimensions[0].indicators[0].levels[2]：第 2 级的描述不能为空"]


def test_checklist_needs_two_items():
    spec = small_spec()
    indicator(spec, "D1.03")["items"] = indicator(spec, "D1.03")["items"][:1]
    assert problems_of(spec) == ["dimensions[0].indicators[2].items：清单类指标至少须有 2 个清单项"]


def test_checklist_item_weights_are_positive():
    spec = small_spec()
    indicator(spec, "D1.03")["items"][1]["weight"] = 0
    assert problems_of(spec) == ["dimensions[0].indicators[2].items[1].weight：清单项 b 的权重须大于 0"]


def test_checklist_has_at_most_24_items():
    spec = small_spec()
    indicator(spec, "D1.03")["items"] = [{"code": f"i{k}", "label": f"项{k}", "weight": 1} for k in range(25)]
    assert problems_of(spec) == ["dimensions[0].indicators[2].items：清单类指标最多 24 个清单项"]


def test_kpi_needs_a_unit():
    spec = small_spec()
    indicator(spec, "D2.01")["unit"] = ""
    assert problems_of(spec) == ["dimensions[1].indicators[0].unit：量化指标须填写单位"]


def test_kpi_needs_a_direction():
    spec = small_spec()
    indicator(spec, "D2.01")["direction"] = "up"
    assert problems_of(spec) == ["dimensions[1].indicators[0].direction：方向须为 higher（越高越好）或 lower（越低越好）"]


def test_kpi_min_below_max():
    spec = small_spec()
    indicator(spec, "D2.01")["min_value"] = 100
    assert "dimensions[1].indicators[0].min_value：允许最小值须小于允许最大值（现为 100 与 100）" in problems_of(spec)


def test_kpi_needs_min_and_max():
    spec = small_spec()
    del indicator(spec, "D2.01")["max_value"]
    assert problems_of(spec) == [
        "dimensions[1].indicators[0]：量化指标须填写允许最小值 min_value 和允许最大值 max_value"
    ]


def test_kpi_needs_two_thresholds():
    spec = small_spec()
    indicator(spec, "D2.01")["thresholds"] = [[90, 50]]
    assert problems_of(spec) == ["dimensions[1].indicators[0].thresholds：量化指标至少须有 2 个评分分段点"]


def test_kpi_threshold_values_ascend():
    spec = small_spec()
    indicator(spec, "D2.01")["thresholds"] = [[95, 0], [80, 70], [99, 100]]
    assert problems_of(spec) == ["dimensions[1].indicators[0].thresholds[1]：分段点数值须严格递增"]


def test_kpi_threshold_values_inside_the_allowed_range():
    spec = small_spec()
    indicator(spec, "D2.01")["thresholds"] = [[80, 0], [95, 70], [120, 100]]
    assert problems_of(spec) == ["dimensions[1].indicators[0].thresholds[2]：分段点数值 120 须在允许范围 [0, 100] 内"]


def test_kpi_threshold_scores_within_0_100():
    spec = small_spec()
    indicator(spec, "D2.01")["thresholds"] = [[80, 0], [95, 70], [99, 110]]
    assert problems_of(spec) == ["dimensions[1].indicators[0].thresholds[2]：得分 110 须在 0–100 之间"]


def test_kpi_higher_scores_do_not_decrease():
    spec = small_spec()
    indicator(spec, "D2.01")["thresholds"] = [[80, 0], [95, 70], [99, 60]]
    assert problems_of(spec) == ["dimensions[1].indicators[0].thresholds[2]：“越高越好”的指标，得分须随数值不减"]


def test_kpi_lower_scores_do_not_increase():
    spec = small_spec()
    indicator(spec, "D2.02")["thresholds"] = [[100, 100], [1000, 60], [10000, 70]]
    assert problems_of(spec) == ["dimensions[1].indicators[1].thresholds[2]：“越低越好”的指标，得分须随数值不增"]


def test_exactly_five_levels_ranked_one_to_five():
    spec = small_spec()
    spec["levels"] = spec["levels"][:4]
    assert problems_of(spec) == ["levels：须恰好有 5 个等级，等级序号为 1–5 各一个"]
    spec = small_spec()
    spec["levels"][4]["rank"] = 4
    assert "levels：须恰好有 5 个等级，等级序号为 1–5 各一个" in problems_of(spec)


def test_level_thresholds_do_not_decrease():
    spec = small_spec()
    spec["levels"][3]["min_composite"] = 45  # L4 below L3's 50
    spec["levels"][4]["min_dimension"] = 40  # L5 below L4's 50
    assert problems_of(spec) == [
        "levels[3].min_composite：综合得分下限不能低于 L3 的下限（50）",
        "levels[4].min_dimension：各维度得分下限不能低于 L4 的下限（50）",
    ]


def test_level_one_starts_at_zero():
    spec = small_spec()
    spec["levels"][0]["min_composite"] = 10
    assert problems_of(spec) == ["levels[0]：第 1 级的综合得分下限和各维度得分下限须为 0（任何企业至少为第 1 级）"]


def test_every_dimension_has_a_core_indicator():
    spec = small_spec()
    spec["dimensions"][1]["indicators"] = [{**indicator(spec, "D2.01"), "module": "bio", "weight": 1}]
    spec["dimensions"][1]["indicators"][0]["code"] = "M.02"
    assert problems_of(spec) == ["dimensions[1].indicators：每个维度至少须有一个通用指标（不属于行业模块的指标）"]


def test_indicator_codes_unique():
    spec = small_spec()
    indicator(spec, "D2.02")["code"] = "D1.01"
    assert problems_of(spec) == ["dimensions[1].indicators[1].code：指标代码 D1.01 重复"]


def test_dimension_codes_unique():
    spec = small_spec()
    spec["dimensions"][1]["code"] = "D1"
    assert problems_of(spec) == ["dimensions[1].code：维度代码 D1 重复"]


def test_checklist_item_codes_unique():
    spec = small_spec()
    indicator(spec, "D1.03")["items"][2]["code"] = "a"
    assert problems_of(spec) == ["dimensions[0].indicators[2].items[2].code：清单项代码 a 重复"]


def test_weights_are_positive():
    spec = small_spec()
    indicator(spec, "M.01")["weight"] = 0
    assert problems_of(spec) == ["dimensions[0].indicators[3].weight：指标权重须大于 0"]


def test_module_applies_to_some_industry():
    spec = small_spec()
    spec["modules"][0]["industries"] = []
    spec["modules"][0]["key_industries"] = []
    assert problems_of(spec) == ["modules[0]：须至少指定一个适用行业或重点行业，否则该模块不适用于任何企业"]


def test_validate_a_database_row_names_indicators_by_code():
    framework = import_framework(small_spec())
    assert framework_validate(framework=framework) == []
    Indicator.objects.filter(framework=framework, code="D1.02").update(weight=Decimal("0.1"))
    RubricLevel.objects.filter(indicator__framework=framework, indicator__code="D1.01", level=5).delete()
    ChecklistItem.objects.filter(indicator__code="D1.03", code="c").update(weight=0)
    MaturityLevel.objects.filter(framework=framework, rank=5).delete()
    Indicator.objects.filter(framework=framework, code="D2.01").update(thresholds=[[80, 0], [95, 70, 1]])
    assert framework_validate(framework=framework) == [
        "等级：须恰好有 5 个等级，等级序号为 1–5 各一个",
        "指标 D1.01：第 5 级的描述不能为空",
        "指标 D1.03：清单项 c 的权重须大于 0",
        "维度 D1：通用指标的权重之和须为 1（现为 0.9）",
        "指标 D2.01：评分分段须为列表，每个分段应为 [数值, 得分]",
    ]
