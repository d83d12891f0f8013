"""``note_prompt`` in the framework format: optional per indicator, checked, exported and
imported; the 2026.2 file asks for a 说明 on D5.06 and D5.08 and loads beside the published
2026.1, which stays as it was (a published version never changes)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.frameworks import exchange
from apps.frameworks.exchange import FrameworkFileError, export_framework, import_framework
from apps.frameworks.models import Framework, FrameworkStatus, Indicator
from tests.frameworks.framework_specs import indicator, reference_rows, small_spec

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "fixtures" / "frameworks"
PROMPT = "按估算填报的，请说明估算方法。"


@pytest.fixture(autouse=True)
def _reference():
    reference_rows()


def test_note_prompt_is_imported_and_exported_only_where_set():
    spec = small_spec()
    indicator(spec, "D2.01")["note_prompt"] = PROMPT
    framework = import_framework(spec)
    assert Indicator.objects.get(framework=framework, code="D2.01").note_prompt == PROMPT
    out = export_framework(framework)
    exported = {i["code"]: i for d in out["dimensions"] for i in d["indicators"]}
    assert exported["D2.01"]["note_prompt"] == PROMPT
    assert "note_prompt" not in exported["D2.02"]  # files without the key stay as they were
    again = import_framework(json.loads(exchange.dumps(out)), version="t2")
    assert export_framework(again) | {"version": "t1"} == out


def test_a_bad_note_prompt_is_refused_with_its_path():
    spec = small_spec()
    indicator(spec, "D2.01")["note_prompt"] = "长" * 201
    indicator(spec, "D2.02")["note_prompt"] = 5
    with pytest.raises(FrameworkFileError) as caught:
        import_framework(spec)
    assert "dimensions[1].indicators[0].note_prompt：不能超过200个字符（现为201个）" in caught.value.problems
    assert "dimensions[1].indicators[1].note_prompt：应为文本" in caught.value.problems
    assert not Framework.objects.exists()


def test_the_2026_2_file_asks_for_notes_and_loads_beside_the_published_2026_1(capsys, tmp_path):
    call_command("load_framework", str(FILES / "qmd-2026.1.json"), "--publish")
    call_command("load_framework", str(FILES / "qmd-2026.2.json"), "--publish")
    old, new = Framework.objects.get(version="2026.1"), Framework.objects.get(version="2026.2")
    assert old.status == new.status == FrameworkStatus.PUBLISHED
    asked = dict(new.indicators.exclude(note_prompt="").values_list("code", "note_prompt"))
    assert set(asked) == {"D5.06", "D5.08"} and all("请说明" in text for text in asked.values())
    assert not old.indicators.exclude(note_prompt="").exists()
    # the scoring content is the same: only the prompts differ
    strip = {"version", "dimensions"}
    a, b = export_framework(old), export_framework(new)
    assert {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
    for da, db in zip(a["dimensions"], b["dimensions"], strict=True):
        assert da["indicators"] == [{k: v for k, v in i.items() if k != "note_prompt"} for i in db["indicators"]]
    # loading again changes nothing; putting the prompts into the published 2026.1 is refused
    call_command("load_framework", str(FILES / "qmd-2026.2.json"), "--publish")
    assert "内容相同，未作改动" in capsys.readouterr().out
    changed = json.loads((FILES / "qmd-2026.2.json").read_text(encoding="utf-8")) | {"version": "2026.1"}
    path = tmp_path / "qmd-2026.1-changed.json"
    path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match="已发布的版本不能修改"):
        call_command("load_framework", str(path))


def test_the_standalone_checker_accepts_the_file_and_checks_the_prompt(tmp_path):
    script = ROOT / "scripts" / "check_framework_fixture.py"
    ok = subprocess.run([sys.executable, str(script), str(FILES / "qmd-2026.2.json")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    data = json.loads((FILES / "qmd-2026.2.json").read_text(encoding="utf-8"))
    next(i for d in data["dimensions"] for i in d["indicators"] if i["code"] == "D5.06")["note_prompt"] = "长" * 201
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    refused = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True)
    assert refused.returncode == 1 and "note_prompt is 201 characters" in refused.stdout
