"""Services that change framework versions. The admin and ``load_framework`` call these.

A version is edited only while it is a draft; publishing checks every rule
(``exchange.check_spec``) and freezes it. To change a published model, copy it to a new
draft version (``framework_copy``), edit, validate and publish that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import exchange
from .models import Framework, FrameworkStatus

COPY_SUFFIX = "-draft"


def framework_validate(*, framework: Framework) -> list[str]:
    """Every problem that keeps the version from being published, in Chinese (empty = valid)."""
    return [p.for_staff() for p in exchange.check_spec(exchange.export_framework(framework))]


def framework_assert_editable(*, framework: Framework) -> None:
    """Refuse any change to a version that is no longer a draft."""
    if not framework.is_editable:
        raise ValidationError(
            f"框架 {framework.code} 版本 {framework.version} 已{framework.get_status_display()}，不能修改；"
            "请复制为新的草稿版本后再修改。"
        )


@transaction.atomic
def framework_publish(*, framework: Framework, acting_user=None) -> Framework:
    """Publish a valid draft: it becomes usable by periods and read-only for ever.

    Raises ``ValidationError`` (with the list of problems) if the version is not a draft
    or breaks a rule.
    """
    locked = Framework.objects.select_for_update().get(pk=framework.pk)
    if locked.status != FrameworkStatus.DRAFT:
        raise ValidationError(f"只有草稿可以发布：框架 {locked.code} 版本 {locked.version} 当前为{locked.get_status_display()}。")
    problems = framework_validate(framework=locked)
    if problems:
        raise ValidationError(problems)
    locked.status = FrameworkStatus.PUBLISHED
    locked.published_at = timezone.now()
    locked.published_by = acting_user if acting_user is not None and acting_user.is_authenticated else None
    locked.save(update_fields=["status", "published_at", "published_by"])
    framework.refresh_from_db()
    return locked


def framework_suggest_version(*, framework: Framework) -> str:
    """A free version string for a copy of ``framework``: 2026.1-draft, 2026.1-draft2, ..."""
    limit = Framework._meta.get_field("version").max_length
    taken = set(Framework.objects.filter(code=framework.code).values_list("version", flat=True))
    n = 1
    while True:
        suffix = COPY_SUFFIX if n == 1 else f"{COPY_SUFFIX}{n}"
        candidate = framework.version[: limit - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def framework_copy(*, framework: Framework, version: str | None = None, name: str | None = None) -> Framework:
    """A new draft version with the same content, ``based_on`` the original.

    ``version`` defaults to :func:`framework_suggest_version`. Any version can be copied,
    an invalid draft included (the copy is checked when it is published). Raises
    ``ValidationError`` if the version exists or is too long.
    """
    spec = exchange.export_framework(framework)
    spec["version"] = version or framework_suggest_version(framework=framework)
    if name:
        spec["name"] = name
    limit = Framework._meta.get_field("version").max_length
    if not spec["version"].strip() or len(spec["version"]) > limit:
        raise ValidationError(f"版本号不能为空，且不能超过{limit}个字符。")
    try:
        return exchange.create_framework(spec, based_on=framework)
    except exchange.FrameworkFileError as exc:
        raise ValidationError(exc.problems) from None


def framework_import_file(*, file: bytes | str | IO, version: str | None = None) -> Framework:
    """Create a draft version from an exchange file (bytes, text, or an open/uploaded file).

    All or nothing; raises ``exchange.FrameworkFileError`` whose ``problems`` give every
    reason as "JSON path：reason" in Chinese.
    """
    raw = file if isinstance(file, (bytes, str)) else file.read()
    return exchange.import_framework(exchange.load_json(raw), version=version)


def framework_export(*, framework: Framework) -> str:
    """The version as exchange JSON text."""
    return exchange.dumps(exchange.export_framework(framework))


def framework_export_filename(*, framework: Framework) -> str:
    return f"{framework.code}-{framework.version}.json"


@transaction.atomic
def framework_replace_draft(*, framework: Framework, spec: dict[str, Any]) -> Framework:
    """Replace the whole content of a draft with a parsed spec (same code and version)."""
    framework = Framework.objects.select_for_update().get(pk=framework.pk)
    framework_assert_editable(framework=framework)
    exchange.clear_contents(framework)
    framework.name = spec["name"]
    framework.description = spec["description"]
    framework.save(update_fields=["name", "description"])
    exchange.write_contents(framework, spec)
    return framework


@dataclass(frozen=True)
class LoadOutcome:
    framework: Framework
    action: str  # "created" | "replaced" | "unchanged"
    published: bool  # published by this load


def framework_load(*, data: Any, publish: bool = False, acting_user=None) -> LoadOutcome:
    """Load a decoded exchange file idempotently (``manage.py load_framework``).

    * version absent → created as a draft;
    * present with the same content → left alone;
    * a draft with different content → its content is replaced;
    * published (or retired) with different content → refused: a published version never
      changes, the file needs a new version number.

    With ``publish`` the (new or existing) draft is then published. Raises
    ``exchange.FrameworkFileError`` for an invalid file and ``ValidationError`` for a refusal.
    """
    spec = exchange.read_spec(data)
    with transaction.atomic():
        existing = Framework.objects.filter(code=spec["code"], version=spec["version"]).first()
        if existing is None:
            framework, action = exchange.create_framework(spec), "created"
        elif exchange.export_framework(existing) == spec:
            framework, action = existing, "unchanged"
        elif existing.is_editable:
            framework, action = framework_replace_draft(framework=existing, spec=spec), "replaced"
        else:
            raise ValidationError(
                f"框架 {existing.code} 版本 {existing.version} 已{existing.get_status_display()}，且与文件内容不同；"
                "已发布的版本不能修改。请在文件中使用新的版本号。"
            )
        published = False
        if publish and framework.status == FrameworkStatus.DRAFT:
            framework = framework_publish(framework=framework, acting_user=acting_user)
            published = True
    return LoadOutcome(framework=framework, action=action, published=published)
