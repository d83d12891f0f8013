"""SHIM — delete once the branches of issues 9, 11, 12 and 13 have landed.

The reader-aware functions moved to :mod:`apps.indices.readers` (issue 8: one disclosure
path, inside the index engine). This module only re-exports the same objects under their
old names, so code written against ``apps.insights.selectors`` keeps working; new code
imports from ``apps.indices.readers``.
"""

from apps.indices.readers import (  # noqa: F401  (re-exported)
    INT_FIELDS,
    NAME_JOINER,
    PUBLIC,
    PUBLIC_CACHE_SECONDS,
    REASONS,
    REGION_KINDS,
    SIZE_ORDER,
    VALUE_FIELDS,
    Reader,
    RunStamp,
    VersionedMemo,
    cell_for,
    cells_for,
    cells_over_runs,
    cells_with_code_prefix,
    index_parameters,
    public_cells,
    public_memo,
    public_trend,
    published_run,
    published_run_of,
    published_runs,
    published_runs_brief,
    published_stamp_of,
    run_version,
)
