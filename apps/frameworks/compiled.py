"""Compiling a framework version from the database (the ORM side of ``scoring``)."""

from __future__ import annotations

from .exchange import export_framework
from .models import Framework
from .scoring import CompiledFramework, compile_spec


def compile_framework(framework: Framework) -> CompiledFramework:
    """The framework version as arrays for :mod:`apps.frameworks.scoring`.

    Goes through the canonical exchange form, so the column order is the export order:
    dimensions by ``order``, and inside a dimension indicators by ``order`` then code. A
    published version is frozen, so its column order never changes (answers are packed in
    it). The framework must be valid (``services.framework_validate`` finds no problem).
    """
    return compile_spec(export_framework(framework), framework_id=framework.pk)
