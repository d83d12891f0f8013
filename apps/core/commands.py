"""Shared pieces of the import/export management commands: reading the input file,
resolving ``--as-user`` and writing the output, each with a message a clerk can act on."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def read_input(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"无法读取文件 {path}：{exc.strerror or exc}", returncode=1) from exc


def acting_user(username: str | None):
    """The user named by ``--as-user``, or the system actor ``SYSTEM`` (unrestricted) when
    none was given."""
    from apps.accounts.scoping import SYSTEM

    if not username:
        return SYSTEM
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist as exc:
        raise CommandError(f"用户“{username}”不存在。", returncode=1) from exc


def write_output(out: str, data: bytes) -> bool:
    """Write ``data`` to the file ``out``, or to standard output for "-". Returns True when a
    file was written (the caller then reports where)."""
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return False
    try:
        Path(out).write_bytes(data)
    except OSError as exc:
        raise CommandError(f"无法写入 {out}：{exc.strerror or exc}") from exc
    return True
