"""Publishing freezes a valid draft; copying makes a new draft; load_framework is idempotent."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apps.frameworks.exchange import export_framework, import_framework
from apps.frameworks.models import Framework, FrameworkStatus, Indicator
from apps.frameworks.services import (
    framework_assert_editable,
    framework_copy,
    framework_publish,
    framework_replace_draft,
    framework_suggest_version,
)
from tests.factories import UserFactory
from tests.frameworks.framework_specs import indicator, reference_rows, small_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reference():
    reference_rows()


def test_publish_refuses_an_invalid_draft():
    framework = import_framework(small_spec())
    Indicator.objects.filter(framework=framework, code="D2.02").update(weight=Decimal("0.3"))
    with pytest.raises(ValidationError) as caught:
        framework_publish(framework=framework)
    assert caught.value.messages == ["维度 D2：通用指标的权重之和须为 1（现为 0.9）"]
    framework.refresh_from_db()
    assert framework.status == FrameworkStatus.DRAFT and framework.published_at is None


def test_publish_freezes_a_valid_draft():
    user = UserFactory()
    framework = import_framework(small_spec())
    framework_publish(framework=framework, acting_user=user)
    framework.refresh_from_db()
    assert framework.status == FrameworkStatus.PUBLISHED
    assert framework.published_at is not None and framework.published_by == user
    assert not framework.is_editable
    with pytest.raises(ValidationError, match="已发布，不能修改"):
        framework_assert_editable(framework=framework)
    with pytest.raises(ValidationError, match="只有草稿可以发布"):
        framework_publish(framework=framework)
    with pytest.raises(ValidationError):
        framework_replace_draft(framework=framework, spec=export_framework(framework))


def test_copy_makes_a_new_draft_based_on_the_original():
    framework = import_framework(small_spec())
    framework_publish(framework=framework)
    assert framework_suggest_version(framework=framework) == "t1-draft"
    copy = framework_copy(framework=framework)
    assert (copy.version, copy.status, copy.based_on) == ("t1-draft", FrameworkStatus.DRAFT, framework)
    assert framework_suggest_version(framework=framework) == "t1-draft2"
    original, copied = export_framework(framework), export_framework(copy)
    assert copied.pop("version") == "t1-draft" and original.pop("version") == "t1"
    assert copied == original
    named = framework_copy(framework=framework, version="2027.1", name="新版")
    assert (named.version, named.name) == ("2027.1", "新版")
    with pytest.raises(ValidationError, match="已存在"):
        framework_copy(framework=framework, version="2027.1")


# --- manage.py load_framework ---------------------------------------------------------------


@pytest.fixture
def write_file(tmp_path):
    def write(spec, name="framework.json"):
        path = tmp_path / name
        path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        return str(path)

    return write


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("load_framework", *args, stdout=out)
    return out.getvalue()


def test_load_framework_is_idempotent(write_file):
    path = write_file(small_spec())
    assert "已创建草稿" in run(path)
    framework = Framework.objects.get(code="demo", version="t1")
    assert "内容相同，未作改动" in run(path)
    assert Framework.objects.count() == 1
    assert "已发布" in run(path, "--publish")
    framework.refresh_from_db()
    assert framework.status == FrameworkStatus.PUBLISHED
    published_at = framework.published_at
    assert "内容相同，未作改动" in run(path, "--publish")
    framework.refresh_from_db()
    assert framework.published_at == published_at


def test_load_framework_replaces_a_draft_and_refuses_to_change_a_published_version(write_file):
    run(write_file(small_spec()))
    changed = small_spec()
    indicator(changed, "D1.01")["question"] = "最高管理者的领导作用"
    assert "已用文件内容替换草稿" in run(write_file(changed, "changed.json"))
    framework = Framework.objects.get(code="demo", version="t1")
    assert framework.indicators.get(code="D1.01").question == "最高管理者的领导作用"
    framework_publish(framework=framework)
    with pytest.raises(CommandError, match="已发布，且与文件内容不同"):
        run(write_file(small_spec(), "original.json"))
    assert framework.indicators.get(code="D1.01").question == "最高管理者的领导作用"


def test_load_framework_lists_the_problems_of_a_bad_file(write_file):
    spec = small_spec()
    indicator(spec, "D1.01")["levels"] = []
    with pytest.raises(CommandError) as caught:
        run(write_file(spec))
    assert "dimensions[0].indicators[0].levels：分级描述类指标须有0–5共6个级别描述" in str(caught.value)
    assert not Framework.objects.exists()
    with pytest.raises(CommandError, match="无法读取文件"):
        run("/nonexistent/framework.json")
