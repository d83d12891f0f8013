"""Evidence limits per filing (count and total size) and the stored name's extension,
which is that of the type detected from the bytes."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from apps.filings import services
from tests.factories import EnterpriseFactory, county, enterprise_user
from tests.filings.builders import open_period

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40


@pytest.fixture
def filing():
    ent = EnterpriseFactory(region=county())
    filer = enterprise_user(ent)
    return services.submission_start(enterprise=ent, period=open_period(), user=filer), filer


def add(sub, filer, name="a.pdf", content=PDF):
    return services.evidence_add(submission=sub, user=filer, indicator=None, uploaded_file=SimpleUploadedFile(name, content))


@override_settings(EVIDENCE_MAX_FILES_PER_FILING=2)
def test_count_per_filing_is_limited(filing, client):
    sub, filer = filing
    add(sub, filer)
    add(sub, filer)
    with pytest.raises(ValidationError, match="最多上传 2 个"):
        add(sub, filer)
    # the page says so and keeps the filing as it was
    client.force_login(filer)
    response = client.post(reverse("filings:evidence-upload", args=[sub.pk]), {"file": SimpleUploadedFile("c.pdf", PDF)},
                           follow=True)
    assert "最多上传 2 个" in response.content.decode()
    assert sub.evidence.count() == 2


@override_settings(EVIDENCE_MAX_TOTAL_BYTES_PER_FILING=len(PDF) * 2 + 10)
def test_total_size_per_filing_is_limited(filing):
    sub, filer = filing
    add(sub, filer)
    add(sub, filer)
    with pytest.raises(ValidationError, match="总大小不能超过"):
        add(sub, filer)
    # after removing one, there is room again
    services.evidence_remove(evidence=sub.evidence.first(), user=filer)
    add(sub, filer)


def test_stored_and_offered_name_take_the_detected_extension(filing, client):
    sub, filer = filing
    disguised = add(sub, filer, name="证书.html", content=PDF)
    assert disguised.file.name.endswith(".pdf") and ".html" not in disguised.file.name
    assert add(sub, filer, name="scan", content=PNG).file.name.endswith(".png")
    client.force_login(filer)
    response = client.get(reverse("filings:evidence", args=[disguised.pk]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert ".pdf" in disposition and ".html" not in disposition
    assert disguised.original_name == "证书.html"  # the clerk's name is still shown as uploaded
