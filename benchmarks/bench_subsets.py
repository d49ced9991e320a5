"""The small evaluation subsets docs/benchmark.md measures real LLMs on, cut from a split.

    python benchmarks/bench_subsets.py out/bench16/test.jsonl

writes next to the split, in its order:

- ``subset6.jsonl``: per category, the first level-1 positive and the first level-1
  negative sample (6 with three categories);
- ``subset12.jsonl``: the first positive of every category x level cell, then the
  level-1 negatives of ``subset6`` (12 with three categories and levels).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Hashable
from pathlib import Path

from frs_ros.samples import Sample, read_jsonl, write_jsonl


def first_per(samples: list[Sample], key: Callable[[Sample], Hashable]) -> list[Sample]:
    """The first sample of each distinct ``key(sample)``, in the samples' order."""
    seen: set[Hashable] = set()
    out = []
    for s in samples:
        k = key(s)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


def subsets(samples: list[Sample]) -> dict[str, list[Sample]]:
    level1 = [s for s in samples if s.level == 1]
    six = first_per(level1, lambda s: (s.category, s.negative))
    negatives = [s for s in six if s.negative]
    positives = first_per([s for s in samples if not s.negative], lambda s: (s.category, s.level))
    return {"subset6": six, "subset12": positives + negatives}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path, help="a split JSONL of `frs bench generate`")
    args = ap.parse_args(argv)
    for name, chosen in subsets(read_jsonl(args.split)).items():
        path = args.split.with_name(f"{name}.jsonl")
        write_jsonl(path, chosen)
        print(f"{path}: {len(chosen)} samples ({', '.join(s.id for s in chosen)})")


if __name__ == "__main__":
    main()
