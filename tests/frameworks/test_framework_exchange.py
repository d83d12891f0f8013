"""JSON import/export of framework versions: problems with their paths, all-or-nothing, round trip."""

import json

import pytest

from apps.frameworks import exchange
from apps.frameworks.compiled import compile_framework
from apps.frameworks.exchange import FrameworkFileError, export_framework, import_framework
from apps.frameworks.models import (
    ChecklistItem,
    Dimension,
    Framework,
    FrameworkStatus,
    Indicator,
    IndustryModule,
    MaturityLevel,
    RubricLevel,
)
from apps.frameworks.scoring import score_answers
from apps.frameworks.services import framework_export, framework_import_file, framework_publish
from tests.frameworks.framework_specs import REAL_FILE, indicator, reference_rows, small_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reference():
    reference_rows()


def row_counts():
    return [
        m.objects.count()
        for m in (Framework, Dimension, IndustryModule, Indicator, RubricLevel, ChecklistItem, MaturityLevel)
    ]


def import_problems(data, **kwargs) -> list[str]:
    before = row_counts()
    with pytest.raises(FrameworkFileError) as caught:
        import_framework(data, **kwargs)
    assert row_counts() == before  # nothing left behind
    return caught.value.problems


def test_import_creates_a_draft_with_everything():
    framework = import_framework(small_spec())
    assert framework.status == FrameworkStatus.DRAFT
    assert (framework.code, framework.version, framework.name) == ("demo", "t1", "测试框架")
    assert framework.levels.count() == 5
    assert list(framework.dimensions.values_list("code", "order")) == [("D1", 1), ("D2", 2)]
    m01 = framework.indicators.get(code="M.01")
    assert m01.module.code == "bio" and m01.dimension.code == "D1"
    assert list(m01.module.industries.values_list("code", flat=True)) == ["27"]
    assert list(m01.module.key_industries.values_list("code", flat=True)) == ["biomedicine"]
    d103 = framework.indicators.get(code="D1.03")
    assert list(d103.checklist_items.values_list("code", "order")) == [("a", 1), ("b", 2), ("c", 3)]
    assert framework.indicators.get(code="D1.01").rubric_levels.count() == 6
    assert framework.indicators.get(code="D2.02").thresholds == [[100.0, 100.0], [1000.0, 60.0], [10000.0, 0.0]]


def test_import_reports_every_problem_with_its_path_and_writes_nothing():
    spec = small_spec()
    indicator(spec, "D1.01")["levels"] = ["只有一级"]
    indicator(spec, "D1.03")["weight"] = "0.3"
    indicator(spec, "D2.01")["thresholds"] = [[80, 0], "95:70"]
    spec["dimensions"][1]["indicators"].append({"code": "D2.03", "kind": "score", "question": "?", "weight": 0.1})
    spec["modules"][0]["industries"] = ["27", "99"]
    spec["dimensions"][0]["wieght"] = 0.4
    problems = import_problems(spec)
    assert problems == [
        # first what could not be read ...
        "modules[0].industries：行业代码 99 不存在（国民经济行业分类 GB/T 4754-2017）",
        "dimensions[0].wieght：未知字段“wieght”",
        "dimensions[0].indicators[2].weight：应为数值，现为 \"0.3\"",
        "dimensions[1].indicators[0].thresholds[1]：每个分段应为 [数值, 得分]",
        "dimensions[1].indicators[2].kind：类型须为 rubric、checklist、kpi 或 yesno 之一",
        # then the rules, in the order of the file (a weight that could not be read is not summed)
        "dimensions[0].indicators[0].levels：分级描述类指标须有0–5共6个级别描述",
        "dimensions[1].indicators[0].thresholds：量化指标至少须有 2 个评分分段点",
        "dimensions[1].indicators：通用指标的权重之和须为 1（现为 1.1）",
    ]


def test_import_refuses_wrong_format_and_missing_fields():
    problems = import_problems({"format": "other/2", "code": "x y", "levels": [], "dimensions": []})
    assert "format：应为 \"qmd-framework/1\"（现为 \"other/2\"）" in problems
    assert "version：不能为空" in problems
    assert "name：不能为空" in problems
    assert "code：框架代码只能包含字母、数字、下划线和连字符" in problems
    assert "dimensions：至少须有一个维度" in problems
    assert import_problems([1, 2]) == ["文件内容应为一个 JSON 对象（{…}），格式见 qmd-framework/1"]


def test_import_refuses_unknown_module_key_industry_and_too_long_text():
    spec = small_spec()
    indicator(spec, "M.01")["module"] = "aero"
    spec["modules"][0]["key_industries"] = ["biomedicine", "space"]
    indicator(spec, "D2.01")["unit"] = "单" * 31
    problems = import_problems(spec)
    assert "modules[0].key_industries：重点行业 space 不存在" in problems
    assert "dimensions[0].indicators[3].module：行业模块 aero 未在 modules 中定义" in problems
    assert "dimensions[1].indicators[0].unit：不能超过30个字符（现为31个）" in problems


def test_import_refuses_an_existing_version():
    import_framework(small_spec())
    assert import_problems(small_spec()) == ["version：框架 demo 的版本 t1 已存在，请换一个版本号"]
    assert import_framework(small_spec(), version="t2").version == "t2"


def test_import_file_refuses_bad_json_and_bad_encoding():
    with pytest.raises(FrameworkFileError) as caught:
        framework_import_file(file=b'{"format": "qmd-framework/1",\n "code": }')
    assert caught.value.problems == ["不是有效的 JSON：第 2 行第 10 列，Expecting value"]
    with pytest.raises(FrameworkFileError) as caught:
        framework_import_file(file="测试".encode("gbk"))
    assert caught.value.problems == ["文件须为 UTF-8 编码的 JSON 文本"]


def test_weights_with_more_than_four_decimals_are_refused():
    spec = small_spec()
    indicator(spec, "D1.01")["weight"] = 0.49999
    assert "dimensions[0].indicators[0].weight：权重须小于100且最多4位小数（现为 0.49999）" in import_problems(spec)


def test_export_import_round_trip():
    original = import_framework(small_spec())
    first = export_framework(original)
    copy = import_framework(json.loads(exchange.dumps(first)), version="t2")
    second = export_framework(copy)
    assert second.pop("version") == "t2"
    assert first.pop("version") == "t1"
    assert second == first
    assert exchange.dumps(second) == exchange.dumps(first)


def test_export_is_the_canonical_form_of_the_file():
    framework = import_framework(small_spec())
    parsed, problems = exchange.parse_spec(small_spec())
    assert problems == []
    assert export_framework(framework) == parsed


def test_the_real_framework_file_imports_validates_and_publishes():
    data = json.loads(REAL_FILE.read_text(encoding="utf-8"))
    framework = framework_import_file(file=REAL_FILE.read_bytes())
    assert (framework.code, framework.version) == (data["code"], data["version"])
    # round trip on the real content
    text = framework_export(framework=framework)
    copy = framework_import_file(file=text, version="2026.1-rt")
    assert json.loads(framework_export(framework=copy)) | {"version": data["version"]} == json.loads(text)
    framework_publish(framework=framework)
    compiled = compile_framework(framework)
    assert compiled.n_indicators == sum(len(d["indicators"]) for d in data["dimensions"])
    assert compiled.n_dimensions == len(data["dimensions"])
    # an enterprise that answers nothing is level 1; one at the top of every scale is level 5
    assert score_answers(compiled, {}).level[0] == 1
    best = {}
    for j, code in enumerate(compiled.indicator_codes):
        kind = compiled.kind_of(j)
        if kind == "rubric":
            best[code] = 5
        elif kind == "yesno":
            best[code] = True
        elif kind == "checklist":
            best[code] = list(compiled.checklist_items[j])
        else:
            values, scores = compiled.kpi_thresholds[j]
            best[code] = float(values[scores.argmax()])
    top = score_answers(compiled, best, compiled.module_codes)
    assert top.composite[0] == pytest.approx(100)
    assert top.level[0] == 5
