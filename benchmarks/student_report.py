"""Compare `frs eval` runs of the student on the samples they all finished.

Usage: ``python benchmarks/student_report.py LABEL=OUT_DIR ... [--bootstrap 1000]``.

Each OUT_DIR is an ``frs eval`` output folder (its ``predictions.jsonl``, possibly from an
evaluation that was stopped part-way). Only the samples present in every folder are
scored, so rows compare the same queries; a reworded sample (id ``<source>-rw<k>``, ``frs eval
reworded``) counts as its source sample, so a run on the reworded set compares with a run
on the same held-out samples in their template wording. Printed per run: the category ×
level J table and the bootstrap 95 % intervals of ``MetricsAccumulator`` (the metrics of
``frs eval``), plus outcomes, tokens and seconds per query.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from frs_ros.metrics.aggregate import MetricsAccumulator, SampleResult, paired_bootstrap_diff

_REWORDED = re.compile(r"-rw\d+$")


def _records(folder: Path) -> list[dict]:
    rows = []
    for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line torn by a kill
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="LABEL=DIR")
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args(argv)
    runs = {}
    for spec in args.runs:
        label, _, folder = spec.partition("=")
        runs[label] = {_REWORDED.sub("", r["id"]): r for r in _records(Path(folder))}
    common = set.intersection(*(set(r) for r in runs.values()))
    print(f"{len(common)} samples finished by every run\n")
    for label, rows in runs.items():
        acc = MetricsAccumulator()
        chosen = [rows[i] for i in sorted(common)]
        for r in chosen:
            acc.add_result(SampleResult(**r["score"]))
        outcomes = Counter(r["outcome"] for r in chosen)
        tokens = sum(r["n_tokens"] for r in chosen) / max(len(chosen), 1)
        seconds = sum(r["reasoning_s"] for r in chosen) / max(len(chosen), 1)
        print(f"## {label}\n")
        print(f"outcomes {dict(outcomes)}; {tokens:.0f} tokens and {seconds:.0f} s per query\n")
        print(acc.to_markdown(metrics=("J", "gIoU", "R")))
        if args.bootstrap and len(acc):
            print(acc.ci_markdown(n_resamples=args.bootstrap))
    if args.bootstrap and len(runs) > 1 and common:
        print(paired_markdown(runs, sorted(common), args.bootstrap))
    return 0


def paired_markdown(runs: dict[str, dict[str, dict]], ids: list[str], n_resamples: int) -> str:
    """Each run against the first, on the same samples resampled together: the difference
    and its 95 % interval (an interval above 0 is a gain the samples resolve)."""
    first, *others = runs
    scored = {  # a reworded sample under its source's id
        label: [SampleResult(**{**rows[i]["score"], "sample_id": i}) for i in ids]
        for label, rows in runs.items()
    }
    lines = [
        f"**Paired differences against {first}** (bootstrap 95 %, {n_resamples} resamples, "
        "seed 0)\n",
        "| run | ΔJ | Δsuccess | Δrejection |",
        "|---|---|---|---|",
    ]
    for label in others:
        diff = paired_bootstrap_diff(scored[first], scored[label], n_resamples=n_resamples)
        cells = [
            f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for v, lo, hi in (diff[m] for m in ("J", "success", "rejection"))
        ]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
