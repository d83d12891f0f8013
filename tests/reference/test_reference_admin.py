"""The reference-data admin: lists and filters work; only superusers edit; nobody deletes."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.accounts.models import Role, User
from apps.reference.loaders import load_all
from apps.reference.models import Region

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    load_all()
    user = User.objects.create_superuser("root", "root@example.cn", "Portal-Test-2026", role=Role.ADMIN)
    client.force_login(user)
    return client


def test_region_changelist_filters_by_province_and_level(superuser_client):
    url = reverse("admin:reference_region_changelist")
    response = superuser_client.get(url, {"province": "320000", "level": "county"})
    assert response.status_code == 200
    codes = {r.code for r in response.context["cl"].result_list}
    assert "320102" in codes
    assert all(code.startswith("32") for code in codes)
    # 江苏省: 95 county-level divisions plus 9 NBS statistical zones (320576 苏州工业园区, ...)
    assert response.context["cl"].result_count == 104

    response = superuser_client.get(url, {"q": "玄武"})
    assert [r.code for r in response.context["cl"].result_list] == ["320102"]


def test_superuser_may_edit_but_not_delete(superuser_client):
    change = reverse("admin:reference_region_change", args=["320102"])
    assert superuser_client.get(change).status_code == 200
    response = superuser_client.post(change, {"name": "玄武区（更正）", "is_active": "on"})
    assert response.status_code == 302
    xuanwu = Region.objects.get(code="320102")
    assert (xuanwu.name, xuanwu.parent_id, xuanwu.prefecture_code) == ("玄武区（更正）", "320100", "320100")

    delete = reverse("admin:reference_region_delete", args=["320102"])
    assert superuser_client.get(delete).status_code == 403
    assert superuser_client.get(reverse("admin:reference_region_add")).status_code == 403
    assert superuser_client.get(reverse("admin:reference_keyindustry_changelist")).status_code == 200
    assert superuser_client.get(reverse("admin:reference_industry_changelist")).status_code == 200
    editions = superuser_client.get(reverse("admin:reference_regionedition_changelist"))
    assert editions.status_code == 200 and b"nbs-2023-06-30" in editions.content


def test_staff_with_change_permission_still_cannot_edit(client):
    load_all()
    staff = User.objects.create_user("staff", password="Portal-Test-2026", is_staff=True, role=Role.MINISTRY)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="reference"))
    client.force_login(staff)
    change = reverse("admin:reference_region_change", args=["320102"])
    response = client.get(change)
    assert response.status_code == 200  # may look
    response = client.post(change, {"code": "320102", "name": "改名", "level": "county"})
    assert response.status_code == 403
