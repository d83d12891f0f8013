"""``next`` is honoured only when it is a path on this site: evidence upload and delete, bulk
accept. Another host, a scheme-relative URL or a bare name falls back to the page's own
default."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.filings import services
from apps.filings.models import Evidence
from tests.factories import EnterpriseFactory, authority_user, county, enterprise_user
from tests.filings.builders import open_period

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HOSTILE = ["//evil.example/x", "https://evil.example/", "/\\evil.example/", "http:evil.example", "https:///evil.example",
           "abc", " //evil.example"]


@pytest.fixture
def filing():
    ent = EnterpriseFactory(region=county())
    filer = enterprise_user(ent)
    sub = services.submission_start(enterprise=ent, period=open_period(), user=filer)
    return sub, filer


def _evidence(sub, filer) -> Evidence:
    return services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile("a.pdf", PDF))


def assert_stays(response, fallback):
    assert response.status_code == 302
    assert response["Location"] == fallback


@pytest.mark.parametrize("target", HOSTILE)
def test_evidence_upload_and_delete_ignore_a_foreign_next(client, filing, target):
    sub, filer = filing
    client.force_login(filer)
    detail = reverse("filings:detail", args=[sub.pk])
    upload = reverse("filings:evidence-upload", args=[sub.pk])
    assert_stays(client.post(upload, {"next": target, "file": SimpleUploadedFile("b.pdf", PDF)}), detail)
    assert_stays(client.post(upload, {"next": target}), detail)  # no file: the error path
    ev = _evidence(sub, filer)
    assert_stays(client.post(reverse("filings:evidence-delete", args=[sub.pk, ev.pk]), {"next": target}), detail)


@pytest.mark.parametrize("target", HOSTILE)
def test_bulk_accept_ignores_a_foreign_next(client, target):
    client.force_login(authority_user(county()))
    assert_stays(client.post(reverse("filings:bulk-accept"), {"next": target}), reverse("filings:queue"))


def test_a_local_next_is_followed(client, filing):
    sub, filer = filing
    client.force_login(filer)
    step = reverse("filings:step", args=[sub.pk, "D1"])
    response = client.post(reverse("filings:evidence-upload", args=[sub.pk]), {"next": step, "file": SimpleUploadedFile("b.pdf", PDF)})
    assert response["Location"] == step
    client.force_login(authority_user(county()))
    queue = reverse("filings:queue") + "?status=submitted"
    assert client.post(reverse("filings:bulk-accept"), {"next": queue})["Location"] == queue
