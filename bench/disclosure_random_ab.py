"""Disclosure control of two code versions on random small populations (issue 8, speed).

  python bench/disclosure_random_ab.py run OUT.pkl N    compute_cells on N random populations
                                                         (tests/indices/test_disclosure.py's
                                                         random_population, seeds 200 …), each
                                                         with three parameter sets (default;
                                                         heuristic complements; dimension
                                                         audits with size weights), a first
                                                         run and a second run with 90 % of the
                                                         filings against the first: pickled
  python bench/disclosure_random_ab.py compare A.pkl B.pkl   every frame and its records
                                                         (timings left out) identical or not

Run "run" from each checkout (its apps/ and tests/ are imported from the working directory)."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")


def run(out: str, count: int) -> None:
    from apps.indices.aggregation import IndexParameters, compute_cells
    from tests.indices.test_disclosure import DIMS, random_population

    variants = [
        IndexParameters(),
        dataclasses.replace(IndexParameters(), complement_method="heuristic"),
        dataclasses.replace(IndexParameters(), audit_dimensions=True, weighting="size"),
    ]
    frames = {}
    for seed in range(200, 200 + count):
        scores, registry, previous = random_population(seed, 40 + (seed * 37) % 400)
        for v, params in enumerate(variants):
            first = compute_cells(scores, registry, params, DIMS, previous_scores=previous)
            second = compute_cells(
                scores.iloc[: int(len(scores) * 0.9)], registry, params, DIMS,
                previous_scores=previous, previous_cells=first,
            )  # fmt: skip
            for name, frame in (("first", first), ("second", second)):
                frames[(seed, v, name)] = (frame, dict(frame.attrs))
    with open(out, "wb") as f:
        pickle.dump(frames, f)
    print(f"{len(frames)} runs written to {out}")


def compare(a_path: str, b_path: str) -> None:
    from bench.disclosure_ab import without_timings

    with open(a_path, "rb") as f:
        a = pickle.load(f)
    with open(b_path, "rb") as f:
        b = pickle.load(f)
    differing = []
    for key, (frame, attrs) in a.items():
        other, other_attrs = b[key]
        same_records = json.dumps(without_timings(attrs), sort_keys=True, default=str) == json.dumps(
            without_timings(other_attrs), sort_keys=True, default=str
        )
        if not (frame.equals(other) and same_records):
            differing.append(key)
    hidden = sum(int(frame["suppressed"].sum()) for frame, _ in a.values())
    print(f"{len(a)} runs compared ({hidden} hidden cells), {len(differing)} differ: {differing[:10]}")


if __name__ == "__main__":
    import django

    django.setup()
    if sys.argv[1:2] == ["run"] and len(sys.argv) == 4:
        run(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
