"""Admin of framework versions: pages load, published versions are read-only, actions work."""

import io
import json
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.models import Role
from apps.frameworks.exchange import import_framework
from apps.frameworks.models import Framework, FrameworkStatus
from apps.frameworks.services import framework_publish
from tests.factories import UserFactory
from tests.frameworks.framework_specs import indicator, reference_rows, small_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reference():
    reference_rows()


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def draft():
    return import_framework(small_spec())


@pytest.fixture
def published():
    framework = import_framework(small_spec(version="t0"))
    framework_publish(framework=framework)
    return framework


def url(name, *args):
    return reverse(f"admin:frameworks_{name}", args=args)


def test_pages_load_for_a_superuser(admin_client, draft, published):
    d101 = draft.indicators.get(code="D1.01")
    pages = [
        url("framework_changelist"),
        url("framework_add"),
        url("framework_change", draft.pk),
        url("framework_change", published.pk),
        url("framework_import_json"),
        url("framework_publish_detail", draft.pk),
        url("framework_copy_detail", published.pk),
        url("indicator_changelist"),
        url("indicator_add"),
        url("indicator_change", d101.pk),
        url("indicator_change", published.indicators.get(code="D1.03").pk),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page


def test_pages_refuse_a_non_staff_user(client, draft):
    client.force_login(UserFactory(is_staff=False))
    for page in [url("framework_changelist"), url("framework_change", draft.pk), url("framework_import_json"),
                 url("framework_export_detail", draft.pk), url("indicator_changelist")]:
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], page


def test_staff_without_permission_cannot_publish_or_import(client, draft):
    # an expert with admin access: no role-bound rights (ministry staff hold the framework rights)
    user = UserFactory(is_staff=True, role=Role.EXPERT)
    user.user_permissions.add(Permission.objects.get(codename="view_framework"))
    client.force_login(user)
    assert client.get(url("framework_change", draft.pk)).status_code == 200
    assert client.get(url("framework_publish_detail", draft.pk)).status_code == 403
    assert client.get(url("framework_import_json")).status_code == 403


def test_a_published_version_is_read_only(admin_client, published):
    page = admin_client.get(url("framework_change", published.pk)).content.decode()
    assert 'name="name"' not in page  # no editable field
    response = admin_client.post(url("framework_change", published.pk), {"name": "改名"})
    assert response.status_code == 403
    published.refresh_from_db()
    assert published.name == "测试框架"
    d101 = published.indicators.get(code="D1.01")
    assert admin_client.post(url("indicator_change", d101.pk), {"question": "x"}).status_code == 403
    assert admin_client.post(url("indicator_delete", d101.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(url("framework_delete", published.pk), {"post": "yes"}).status_code == 403


def test_no_bulk_deletion_reaches_a_published_version(admin_client, published, draft):
    # delete_selected asks has_delete_permission(request, obj) for every object it would delete
    def bulk_delete(model, pk):
        admin_client.post(url(f"{model}_changelist"), {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})

    d101 = published.indicators.get(code="D1.01")
    bulk_delete("framework", published.pk)
    bulk_delete("indicator", d101.pk)
    assert Framework.objects.filter(pk=published.pk).exists()
    assert published.indicators.filter(pk=d101.pk).exists()
    bulk_delete("indicator", draft.indicators.get(code="D1.01").pk)  # a draft's rows do go
    assert not draft.indicators.filter(code="D1.01").exists()
    bulk_delete("framework", draft.pk)
    assert not Framework.objects.filter(pk=draft.pk).exists()


def test_a_draft_is_editable(admin_client, draft):
    page = admin_client.get(url("framework_change", draft.pk)).content.decode()
    assert 'name="name"' in page


def test_validate_action_shows_problems(admin_client, draft):
    draft.indicators.filter(code="D1.02").update(weight=0.1)
    response = admin_client.post(
        url("framework_changelist"), {"action": "validate_selected", "_selected_action": [draft.pk]}, follow=True
    )
    page = response.content.decode()
    assert "校验发现 1 处问题" in page
    assert "维度 D1：通用指标的权重之和须为 1（现为 0.9）" in page


def test_validate_detail_of_a_valid_draft(admin_client, draft):
    response = admin_client.get(url("framework_validate_detail", draft.pk), follow=True)
    assert "校验通过，可以发布" in response.content.decode()


def test_publish_action_refuses_an_invalid_draft_and_publishes_a_valid_one(admin_client, draft):
    draft.indicators.filter(code="D1.02").update(weight=0.1)
    response = admin_client.post(
        url("framework_changelist"), {"action": "publish_selected", "_selected_action": [draft.pk]}, follow=True
    )
    assert "未发布" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == FrameworkStatus.DRAFT
    # the confirmation page lists the problem and offers no button
    page = admin_client.get(url("framework_publish_detail", draft.pk)).content.decode()
    assert "通用指标的权重之和须为 1" in page and "确认发布" not in page

    draft.indicators.filter(code="D1.02").update(weight=0.2)
    assert "确认发布" in admin_client.get(url("framework_publish_detail", draft.pk)).content.decode()
    response = admin_client.post(url("framework_publish_detail", draft.pk), follow=True)
    assert "已发布" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == FrameworkStatus.PUBLISHED and draft.published_by.is_superuser


def test_copy_detail_creates_a_new_draft(admin_client, published):
    response = admin_client.post(url("framework_copy_detail", published.pk), {"version": "t9", "name": "第九版"})
    copy = Framework.objects.get(version="t9")
    assert response.status_code == 302 and response["Location"] == url("framework_change", copy.pk)
    assert copy.status == FrameworkStatus.DRAFT and copy.based_on == published and copy.name == "第九版"
    # the same version again: the page says why
    response = admin_client.post(url("framework_copy_detail", published.pk), {"version": "t9", "name": "x"}, follow=True)
    assert "已存在" in response.content.decode()


def test_copy_action_from_the_list(admin_client, published):
    admin_client.post(url("framework_changelist"), {"action": "copy_selected", "_selected_action": [published.pk]})
    assert Framework.objects.filter(version="t0-draft", status=FrameworkStatus.DRAFT).exists()


def test_export_detail_downloads_json(admin_client, draft):
    response = admin_client.get(url("framework_export_detail", draft.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="demo-t1.json"'
    data = json.loads(response.content.decode("utf-8"))
    assert data["format"] == "qmd-framework/1" and data["version"] == "t1"


def test_export_action_of_several_versions_is_a_zip(admin_client, draft, published):
    response = admin_client.post(
        url("framework_changelist"), {"action": "export_selected", "_selected_action": [draft.pk, published.pk]}
    )
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(names) == ["demo-t0.json", "demo-t1.json"]


def test_import_view_creates_a_draft(admin_client):
    upload = SimpleUploadedFile("f.json", json.dumps(small_spec(version="t5")).encode(), "application/json")
    response = admin_client.post(url("framework_import_json"), {"file": upload, "version": ""})
    framework = Framework.objects.get(version="t5")
    assert response.status_code == 302 and response["Location"] == url("framework_change", framework.pk)
    assert framework.status == FrameworkStatus.DRAFT


def test_import_view_shows_every_problem_in_chinese(admin_client):
    spec = small_spec()
    indicator(spec, "D1.01")["levels"] = ["一"]
    spec["dimensions"][0]["weight"] = 0.3
    upload = SimpleUploadedFile("bad.json", json.dumps(spec).encode(), "application/json")
    response = admin_client.post(url("framework_import_json"), {"file": upload, "version": "t6"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "文件有 2 处问题，未导入" in page
    assert "dimensions[0].indicators[0].levels：分级描述类指标须有0–5共6个级别描述" in page
    assert "dimensions：各维度权重之和须为 1（现为 0.9）" in page
    assert not Framework.objects.exists()


def test_indicator_form_refuses_a_dimension_of_another_version(admin_client, draft, published):
    d101 = draft.indicators.get(code="D1.01")
    foreign = published.dimensions.get(code="D1")
    data = {
        "dimension": foreign.pk, "code": "D1.01", "order": 1, "kind": "rubric", "weight": "0.5",
        "question": "领导作用", "thresholds": "[]",
        "rubric_levels-TOTAL_FORMS": 0, "rubric_levels-INITIAL_FORMS": 0,
        "checklist_items-TOTAL_FORMS": 0, "checklist_items-INITIAL_FORMS": 0,
    }
    response = admin_client.post(url("indicator_change", d101.pk), data)
    assert response.status_code == 200  # the form again, with errors
    d101.refresh_from_db()
    assert d101.dimension.framework_id == draft.pk
