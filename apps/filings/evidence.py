"""Evidence files: the type is decided from the bytes, never from the name.

Allowed: PDF, PNG, JPEG, WebP, Office Open XML (docx/xlsx/pptx) and legacy Office (OLE2)
documents. Anything else — an executable renamed to .pdf, a script, an archive — is refused.
"""

import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


DEFAULT_MAX_FILES = 50
DEFAULT_MAX_TOTAL_BYTES = 200 * 1024 * 1024

_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}
_OLE_EXTENSIONS = (".doc", ".xls", ".ppt")


def max_evidence_bytes() -> int:
    return getattr(settings, "EVIDENCE_MAX_BYTES", DEFAULT_MAX_BYTES)


def max_evidence_files() -> int:
    """How many evidence files one filing may hold."""
    return getattr(settings, "EVIDENCE_MAX_FILES_PER_FILING", DEFAULT_MAX_FILES)


def max_evidence_total_bytes() -> int:
    """How many bytes of evidence one filing may hold in all."""
    return getattr(settings, "EVIDENCE_MAX_TOTAL_BYTES_PER_FILING", DEFAULT_MAX_TOTAL_BYTES)


def extension_for(content_type: str, original_name: str = "") -> str:
    """The file extension of the *detected* type (an OLE2 document keeps .doc/.xls/.ppt
    from its name when it has one of them, else .doc)."""
    if content_type in _EXTENSIONS:
        return _EXTENSIONS[content_type]
    suffix = ("." + original_name.rsplit(".", 1)[-1].lower()) if "." in original_name else ""
    return suffix if suffix in _OLE_EXTENSIONS else ".doc"


def name_with_detected_extension(original_name: str, content_type: str) -> str:
    """``original_name`` with its extension replaced by that of the detected type
    (报告.html holding a PDF is offered for download as 报告.pdf)."""
    stem = original_name.rsplit(".", 1)[0] if "." in original_name else original_name
    return (stem or "evidence") + extension_for(content_type, original_name)


def sniff_evidence(uploaded_file) -> str:
    """Return the content type of an allowed evidence file, or raise ValidationError."""
    if uploaded_file.size == 0:
        raise ValidationError(_("文件为空，请重新选择。"))
    if uploaded_file.size > max_evidence_bytes():
        raise ValidationError(
            _("文件过大（%(size)s），单个文件不能超过 %(limit)s。") % {
                "size": filesizeformat(uploaded_file.size), "limit": filesizeformat(max_evidence_bytes())}
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(16)
    uploaded_file.seek(0)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"  # .doc / .xls / .ppt
    if head.startswith(b"PK\x03\x04"):
        kind = _ooxml_kind(uploaded_file)
        if kind:
            return kind
    raise ValidationError(
        _("文件“%(name)s”的内容不是允许的类型。证明材料只能是 PDF、图片（PNG/JPEG/WebP）或 Office 文档（Word/Excel/PowerPoint）。")
        % {"name": uploaded_file.name}
    )


def _ooxml_kind(uploaded_file) -> str | None:
    try:
        with zipfile.ZipFile(uploaded_file) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return None
    finally:
        uploaded_file.seek(0)
    if "[Content_Types].xml" not in names:
        return None
    for prefix, content_type in _OOXML.items():
        if any(n.startswith(prefix) for n in names):
            return content_type
    return None
