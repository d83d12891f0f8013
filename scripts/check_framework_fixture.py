#!/usr/bin/env python3
"""Check an assessment-framework fixture (format ``qmd-framework/1``).

Standalone on purpose (standard library only, no Django), so it can run before the
fixture is loaded and in CI:

    python scripts/check_framework_fixture.py fixtures/frameworks/qmd-2026.1.json

It prints one line per problem and exits 1 if there is any; warnings (style and content
guidelines) are printed but do not fail the check. With ``--summary`` it also prints the
indicator counts per dimension and kind. If the reference fixtures are found next to the
framework fixture (``../reference/``), module industries and key industries are checked
against them as well.

The rules follow apps/frameworks/models.py and fixtures/frameworks/README.md:

* five maturity levels, ranks 1..5, named 经验级 检验级 保证级 预防级 卓越级, rank 1 at 0/0,
  ``min_composite`` and ``min_dimension`` strictly increasing;
* dimension weights sum to 1; weights of the core indicators (no ``module``) of each
  dimension sum to 1; module indicators carry their own weights (scoring renormalises over
  the indicators that apply to an enterprise); weights fit DecimalField(6, 4);
* indicator codes unique in the framework; kinds rubric / checklist / kpi / yesno with
  the fields of their kind and no others;
* rubric: exactly six level descriptors (levels 0..5), distinct, 15–60 characters;
* checklist: 3–10 items, unique codes, positive weights;
* kpi: unit, direction, min_value < max_value, at least three thresholds [value, score]
  with values strictly ascending inside [min_value, max_value] and scores in 0..100,
  strictly increasing for ``higher`` and strictly decreasing for ``lower``;
* Chinese text uses full-width punctuation (no ASCII , ; : ? ! ( ) in Chinese fields).
"""

import json
import math
import re
import sys
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path

FORMAT = "qmd-framework/1"
LEVEL_NAMES = ["经验级", "检验级", "保证级", "预防级", "卓越级"]
KINDS = ("rubric", "checklist", "kpi", "yesno")
DIRECTIONS = ("higher", "lower")
TOLERANCE = 1e-6

COMMON_KEYS = {"code", "kind", "question", "question_en", "guidance", "note_prompt", "weight", "module"}
KIND_KEYS = {
    "rubric": {"evidence_from_level", "levels"},
    "checklist": {"items"},
    "kpi": {"unit", "direction", "min_value", "max_value", "thresholds"},
    "yesno": {"evidence_required"},
}
REQUIRED_KEYS = {
    "rubric": {"levels"},
    "checklist": {"items"},
    "kpi": {"unit", "direction", "min_value", "max_value", "thresholds"},
    "yesno": set(),
}

SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
CJK = re.compile(r"[\u3400-\u9fff]")
ASCII_PUNCT = re.compile(r"[,;:?!()]")


class Report:
    def __init__(self):
        self.problems = []
        self.warnings = []

    def problem(self, where, msg):
        self.problems.append(f"{where}: {msg}")

    def warn(self, where, msg):
        self.warnings.append(f"{where}: {msg}")


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_weight(rep, where, value, field="weight"):
    """A positive number that fits DecimalField(max_digits=6, decimal_places=4)."""
    if not is_number(value):
        rep.problem(where, f"{field} must be a number, got {value!r}")
        return False
    if value <= 0:
        rep.problem(where, f"{field} must be positive, got {value}")
        return False
    if value >= 100:
        rep.problem(where, f"{field} {value} does not fit DecimalField(6, 4)")
        return False
    if abs(value * 10000 - round(value * 10000)) > 1e-6:
        rep.problem(where, f"{field} {value} has more than 4 decimal places")
        return False
    return True


def check_text(rep, where, value, field, *, required=True, max_len=None, chinese=True):
    if value is None or value == "":
        if required:
            rep.problem(where, f"{field} is missing or empty")
        return
    if not isinstance(value, str):
        rep.problem(where, f"{field} must be a string")
        return
    if value != value.strip():
        rep.problem(where, f"{field} has leading or trailing whitespace")
    if max_len is not None and len(value) > max_len:
        rep.problem(where, f"{field} is {len(value)} characters, the model allows {max_len}")
    if chinese and CJK.search(value):
        bad = sorted(set(ASCII_PUNCT.findall(value)))
        if bad:
            rep.problem(where, f"{field} uses ASCII punctuation {' '.join(bad)} in Chinese text (use full-width)")


def check_levels(rep, levels):
    if not isinstance(levels, list) or len(levels) != 5:
        rep.problem("levels", "there must be exactly 5 maturity levels")
        return
    previous = None
    for index, level in enumerate(levels):
        where = f"levels[{index}]"
        if not isinstance(level, dict):
            rep.problem(where, "must be an object")
            continue
        if level.get("rank") != index + 1:
            rep.problem(where, f"rank must be {index + 1} (levels in order 1..5), got {level.get('rank')!r}")
        if level.get("name") != LEVEL_NAMES[index]:
            rep.problem(where, f"name must be {LEVEL_NAMES[index]}, got {level.get('name')!r}")
        check_text(rep, where, level.get("name_en"), "name_en", required=False, max_len=40, chinese=False)
        check_text(rep, where, level.get("description"), "description")
        values = {}
        for field in ("min_composite", "min_dimension"):
            value = level.get(field)
            if not is_number(value) or not 0 <= value <= 100:
                rep.problem(where, f"{field} must be a number in 0..100, got {value!r}")
            else:
                values[field] = value
        if len(values) < 2:
            previous = None
            continue
        if index == 0 and (values["min_composite"] != 0 or values["min_dimension"] != 0):
            rep.problem(where, "rank 1 must have min_composite 0 and min_dimension 0")
        if values["min_dimension"] > values["min_composite"]:
            rep.warn(where, "min_dimension is above min_composite")
        if previous is not None:
            for field in ("min_composite", "min_dimension"):
                if values[field] <= previous[field]:
                    rep.problem(where, f"{field} {values[field]} must be above the lower level's {previous[field]}")
        previous = values


def load_reference(path):
    """Industry and key-industry codes from ../reference/ next to the fixture, if present."""
    ref = path.resolve().parent.parent / "reference"
    industries = key_industries = None
    try:
        data = json.loads((ref / "industries-gbt4754-2017.json").read_text(encoding="utf-8"))
        industries = {row["code"] for row in data["industries"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        data = json.loads((ref / "key-industries.json").read_text(encoding="utf-8"))
        key_industries = {row["code"] for row in data["key_industries"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return industries, key_industries


def check_modules(rep, modules, path):
    codes = set()
    if modules is None:
        return codes
    if not isinstance(modules, list):
        rep.problem("modules", "must be a list")
        return codes
    industries_ref, key_ref = load_reference(path)
    for index, module in enumerate(modules):
        where = f"modules[{index}]"
        if not isinstance(module, dict):
            rep.problem(where, "must be an object")
            continue
        code = module.get("code")
        if not isinstance(code, str) or not SLUG.match(code) or len(code) > 40:
            rep.problem(where, f"code must be a slug of at most 40 characters, got {code!r}")
        elif code in codes:
            rep.problem(where, f"duplicate module code {code}")
        else:
            codes.add(code)
            where = f"module {code}"
        check_text(rep, where, module.get("name"), "name", max_len=100)
        for field, ref in (("industries", industries_ref), ("key_industries", key_ref)):
            values = module.get(field, [])
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                rep.problem(where, f"{field} must be a list of codes")
                continue
            if len(set(values)) != len(values):
                rep.problem(where, f"{field} has duplicates")
            if ref is not None:
                unknown = [v for v in values if v not in ref]
                if unknown:
                    rep.problem(where, f"{field} not in the reference fixtures: {', '.join(unknown)}")
        if not module.get("industries") and not module.get("key_industries"):
            rep.problem(where, "names neither industries nor key_industries, so it applies to no one")
    return codes


def check_rubric(rep, where, ind):
    levels = ind.get("levels")
    if not isinstance(levels, list) or len(levels) != 6:
        rep.problem(where, "rubric must have exactly 6 level descriptors (levels 0..5)")
        return
    for level, text in enumerate(levels):
        check_text(rep, where, text, f"level {level}")
        if isinstance(text, str) and not 15 <= len(text) <= 60:
            rep.problem(where, f"level {level} descriptor is {len(text)} characters (15–60 expected)")
        if isinstance(text, str) and text and not text.endswith("。"):
            rep.warn(where, f"level {level} descriptor does not end with 。")
    if len({t for t in levels if isinstance(t, str)}) != 6:
        rep.problem(where, "rubric level descriptors must be distinct")
    ev = ind.get("evidence_from_level")
    if ev is not None and (not isinstance(ev, int) or isinstance(ev, bool) or not 1 <= ev <= 5):
        rep.problem(where, f"evidence_from_level must be null or an integer 1..5, got {ev!r}")


def check_checklist(rep, where, ind):
    items = ind.get("items")
    if not isinstance(items, list) or not 3 <= len(items) <= 10:
        rep.problem(where, "checklist must have 3 to 10 items")
        return
    codes, labels = set(), set()
    for index, item in enumerate(items):
        iwhere = f"{where} item {index}"
        if not isinstance(item, dict):
            rep.problem(iwhere, "must be an object")
            continue
        code = item.get("code")
        if not isinstance(code, str) or not code or len(code) > 20:
            rep.problem(iwhere, f"code must be a non-empty string of at most 20 characters, got {code!r}")
        elif code in codes:
            rep.problem(iwhere, f"duplicate item code {code}")
        else:
            codes.add(code)
        label = item.get("label")
        check_text(rep, iwhere, label, "label", max_len=300)
        if isinstance(label, str):
            if label in labels:
                rep.problem(iwhere, "duplicate item label")
            labels.add(label)
        check_weight(rep, iwhere, item.get("weight"))


def check_kpi(rep, where, ind):
    check_text(rep, where, ind.get("unit"), "unit", max_len=30)
    direction = ind.get("direction")
    if direction not in DIRECTIONS:
        rep.problem(where, f"direction must be higher or lower, got {direction!r}")
    low, high = ind.get("min_value"), ind.get("max_value")
    bounds_ok = is_number(low) and is_number(high) and low < high
    if not bounds_ok:
        rep.problem(where, f"min_value and max_value must be numbers with min < max, got {low!r}, {high!r}")
    points = ind.get("thresholds")
    if not isinstance(points, list) or len(points) < 3:
        rep.problem(where, "thresholds must be a list of at least 3 [value, score] points")
        return
    if not all(isinstance(p, list) and len(p) == 2 and is_number(p[0]) and is_number(p[1]) for p in points):
        rep.problem(where, "every threshold must be a [value, score] pair of numbers")
        return
    values = [p[0] for p in points]
    scores = [p[1] for p in points]
    if any(b <= a for a, b in pairwise(values)):
        rep.problem(where, f"threshold values must be strictly ascending: {values}")
    if any(not 0 <= s <= 100 for s in scores):
        rep.problem(where, f"threshold scores must be within 0..100: {scores}")
    if direction == "higher" and any(b <= a for a, b in pairwise(scores)):
        rep.problem(where, f"direction higher needs strictly increasing scores: {scores}")
    if direction == "lower" and any(b >= a for a, b in pairwise(scores)):
        rep.problem(where, f"direction lower needs strictly decreasing scores: {scores}")
    if bounds_ok and (values[0] < low or values[-1] > high):
        rep.problem(where, f"threshold values {values[0]}..{values[-1]} fall outside [{low}, {high}]")
    if min(scores) != 0 or max(scores) != 100:
        rep.warn(where, f"threshold scores span {min(scores)}..{max(scores)}, not 0..100")


def check_yesno(rep, where, ind):
    if "evidence_required" in ind and not isinstance(ind["evidence_required"], bool):
        rep.problem(where, "evidence_required must be true or false")


CHECKERS = {"rubric": check_rubric, "checklist": check_checklist, "kpi": check_kpi, "yesno": check_yesno}


def check_indicator(rep, ind, dim_code, module_codes, seen_codes, seen_questions):
    code = ind.get("code") if isinstance(ind, dict) else None
    where = f"{dim_code} indicator {code or '?'}"
    if not isinstance(ind, dict):
        rep.problem(where, "must be an object")
        return None
    if not isinstance(code, str) or not code or len(code) > 20:
        rep.problem(where, f"code must be a non-empty string of at most 20 characters, got {code!r}")
    elif code in seen_codes:
        rep.problem(where, f"duplicate indicator code (also in {seen_codes[code]})")
    else:
        seen_codes[code] = dim_code
    kind = ind.get("kind")
    if kind not in KINDS:
        rep.problem(where, f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return None
    allowed = COMMON_KEYS | KIND_KEYS[kind]
    unknown = sorted(set(ind) - allowed)
    if unknown:
        rep.problem(where, f"fields not allowed for kind {kind}: {', '.join(unknown)}")
    missing = sorted(REQUIRED_KEYS[kind] - set(ind))
    if missing:
        rep.problem(where, f"missing fields for kind {kind}: {', '.join(missing)}")
    question = ind.get("question")
    check_text(rep, where, question, "question")
    if isinstance(question, str) and question:
        key = re.sub(r"\s+", "", question)
        if key in seen_questions:
            rep.problem(where, f"same question as {seen_questions[key]}")
        else:
            seen_questions[key] = code
        if not question.endswith("？"):
            rep.warn(where, "question does not end with ？")
    check_text(rep, where, ind.get("question_en"), "question_en", required=False, chinese=False)
    check_text(rep, where, ind.get("guidance"), "guidance", required=kind != "yesno")
    if "note_prompt" in ind:  # optional: asks for a free-text 说明 beside the answer
        check_text(rep, where, ind.get("note_prompt"), "note_prompt", max_len=200)
    check_weight(rep, where, ind.get("weight"))
    module = ind.get("module")
    if module is not None:
        if module not in module_codes:
            rep.problem(where, f"module {module!r} is not defined in modules")
        if isinstance(code, str) and not code.startswith("M-"):
            rep.warn(where, "module indicator codes are expected to start with M-")
    elif isinstance(code, str) and not code.startswith(dim_code + "."):
        rep.warn(where, f"core indicator codes are expected to start with {dim_code}.")
    CHECKERS[kind](rep, where, ind)
    return kind


def check(data, path):
    rep = Report()
    counts = defaultdict(Counter)  # dimension code -> Counter of kind (core) and "module:<code>"
    if not isinstance(data, dict):
        rep.problem("file", "top level must be an object")
        return rep, counts
    if data.get("format") != FORMAT:
        rep.problem("format", f"must be {FORMAT!r}, got {data.get('format')!r}")
    code = data.get("code")
    if not isinstance(code, str) or not SLUG.match(code) or len(code) > 40:
        rep.problem("code", f"must be a slug of at most 40 characters, got {code!r}")
    check_text(rep, "version", data.get("version"), "version", max_len=20, chinese=False)
    check_text(rep, "name", data.get("name"), "name", max_len=200)
    check_text(rep, "description", data.get("description"), "description", required=False)
    check_levels(rep, data.get("levels"))
    module_codes = check_modules(rep, data.get("modules"), path)

    dimensions = data.get("dimensions")
    if not isinstance(dimensions, list) or not dimensions:
        rep.problem("dimensions", "must be a non-empty list")
        return rep, counts
    if len(dimensions) != 5:
        rep.warn("dimensions", f"{len(dimensions)} dimensions, the design has 5")
    dim_codes = set()
    total = 0.0
    seen_codes, seen_questions = {}, {}
    module_use = Counter()
    for index, dim in enumerate(dimensions):
        if not isinstance(dim, dict):
            rep.problem(f"dimensions[{index}]", "must be an object")
            continue
        dcode = dim.get("code")
        where = f"dimension {dcode or index}"
        if not isinstance(dcode, str) or not dcode or len(dcode) > 10:
            rep.problem(where, f"code must be a non-empty string of at most 10 characters, got {dcode!r}")
        elif dcode in dim_codes:
            rep.problem(where, "duplicate dimension code")
        dim_codes.add(dcode)
        check_text(rep, where, dim.get("name"), "name", max_len=100)
        check_text(rep, where, dim.get("name_en"), "name_en", required=False, max_len=120, chinese=False)
        check_text(rep, where, dim.get("description"), "description", required=False)
        if check_weight(rep, where, dim.get("weight")):
            total += dim["weight"]
        indicators = dim.get("indicators")
        if not isinstance(indicators, list) or not indicators:
            rep.problem(where, "indicators must be a non-empty list")
            continue
        core_sum = 0.0
        core_count = 0
        for ind in indicators:
            kind = check_indicator(rep, ind, dcode, module_codes, seen_codes, seen_questions)
            if kind is None:
                continue
            if ind.get("module") is None:
                core_count += 1
                counts[dcode][kind] += 1
                if is_number(ind.get("weight")):
                    core_sum += ind["weight"]
            else:
                counts[dcode]["module:" + str(ind["module"])] += 1
                module_use[ind["module"]] += 1
        if core_count == 0:
            rep.problem(where, "has no core indicators")
        elif abs(core_sum - 1) > TOLERANCE:
            rep.problem(where, f"core indicator weights sum to {core_sum:.6f}, not 1")
    if abs(total - 1) > TOLERANCE:
        rep.problem("dimensions", f"weights sum to {total:.6f}, not 1")
    for mcode in sorted(module_codes):
        n = module_use[mcode]
        if n == 0:
            rep.problem(f"module {mcode}", "has no indicators")
        elif not 3 <= n <= 5:
            rep.warn(f"module {mcode}", f"has {n} indicators, the design has 3 to 5")
    core_total = sum(sum(v for k, v in c.items() if not k.startswith("module:")) for c in counts.values())
    if not 55 <= core_total <= 75:
        rep.warn("dimensions", f"{core_total} core indicators, the design has 55 to 75")
    return rep, counts


def print_summary(counts):
    columns = list(KINDS)
    modules = sorted({k for c in counts.values() for k in c if k.startswith("module:")})
    header = ["dim"] + columns + ["core"] + [m.split(":", 1)[1] for m in modules]
    print("\t".join(header))
    totals = Counter()
    for dcode, c in counts.items():
        core = sum(c[k] for k in columns)
        row = [dcode] + [str(c[k]) for k in columns] + [str(core)] + [str(c[m]) for m in modules]
        print("\t".join(row))
        totals.update(c)
    core = sum(totals[k] for k in columns)
    print("\t".join(["all"] + [str(totals[k]) for k in columns] + [str(core)] + [str(totals[m]) for m in modules]))
    if core:
        print("mix: " + ", ".join(f"{k} {totals[k] / core:.0%}" for k in columns))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    summary = "--summary" in argv
    if len(args) != 1:
        print("usage: check_framework_fixture.py [--summary] FIXTURE.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: cannot read JSON: {exc}")
        return 1
    rep, counts = check(data, path)
    for line in rep.warnings:
        print(f"warning: {line}")
    for line in rep.problems:
        print(f"problem: {line}")
    if summary:
        print_summary(counts)
    if rep.problems:
        print(f"{path}: {len(rep.problems)} problem(s), {len(rep.warnings)} warning(s)")
        return 1
    print(f"{path}: OK ({len(rep.warnings)} warning(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
