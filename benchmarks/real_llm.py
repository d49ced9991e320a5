"""Table + chart of real-LLM `frs eval` runs (docs/benchmark.md, "Real LLMs on GGUF weights").

Reads the output folders of `frs eval` runs (metrics.json, efficiency.json) and prints one
markdown row per run: J, gIoU and R per category, J averaged over the category x level
cells, outcomes, tokens and seconds per query;
``--chart`` writes a bar chart of J and R per category. A run given as ``LABEL=DIR`` is
named LABEL in the table and the chart (else the folder's name).

    python benchmarks/real_llm.py out/eval16/* --chart docs/images/real_llm.png
    python benchmarks/real_llm.py "Qwen 0.5B, 2-shot=out/eval_fs/qwen05-constrained-fs2" ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CATEGORIES = ("semantic", "spatial", "temporal")


def summary(run: Path, name: str | None = None) -> dict:
    """Per-category (averaged over levels) J, gIoU, R and the efficiency figures of a run."""
    metrics = json.loads((run / "metrics.json").read_text())
    eff = json.loads((run / "efficiency.json").read_text())
    rows = {r["category"]: r for r in metrics["rows"] if r["level"] == "Avg."}
    rounds = [json.loads(line)["rounds"] for line in (run / "predictions.jsonl").open()]
    return {
        "name": name or run.name,
        "cells": {c: {k: rows[c][k] for k in ("J", "gIoU", "R")} for c in CATEGORIES},
        "J_avg": rows["Avg."]["J"],
        "rounds": sum(rounds) / max(1, len(rounds)),
        "outcomes": eff["outcomes"],
        "tokens": eff["tokens_per_query"],
        "seconds": eff["reasoning_ms_per_query"] / 1000,
        "samples": eff["samples"],
    }


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def markdown(runs: list[dict]) -> str:
    head = "| run | " + " | ".join(f"{c[:4]}. J / gIoU / R" for c in CATEGORIES)
    head += " | J avg. | outcomes | tool rounds / query | tokens / query | s / query |\n"
    head += "|---|" + "---:|" * (len(CATEGORIES) + 1) + "---|---:|---:|---:|\n"
    lines = []
    for r in runs:
        cells = [" / ".join(_f(r["cells"][c][k]) for k in ("J", "gIoU", "R")) for c in CATEGORIES]
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        lines.append(
            f"| {r['name']} | {' | '.join(cells)} | {_f(r['J_avg'])} | {outcomes} "
            f"| {r['rounds']:.1f} | {r['tokens']:.0f} "
            f"| {r['seconds']:.0f} |"
        )
    return head + "\n".join(lines)


def chart(runs: list[dict], path: Path, subset: str) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6 + 0.15 * len(runs)), sharey=True)
    x = np.arange(len(CATEGORIES))
    width = 0.8 / max(1, len(runs))
    for ax, metric in zip(axes, ("J", "R"), strict=True):
        for i, r in enumerate(runs):
            values = [r["cells"][c][metric] or 0.0 for c in CATEGORIES]
            ax.bar(x + i * width, values, width, label=r["name"])
        ax.set_xticks(x + width * (len(runs) - 1) / 2, CATEGORIES)
        ax.set_title(f"{metric} ({subset})")
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="frs eval output folders (DIR or LABEL=DIR)")
    parser.add_argument("--chart", type=Path, default=None, help="PNG to write")
    parser.add_argument("--subset", default="level-1 subset", help="chart title: the samples")
    args = parser.parse_args()
    runs = []
    for spec in args.runs:
        label, _, folder = spec.rpartition("=")
        if (Path(folder) / "metrics.json").is_file():
            runs.append(summary(Path(folder), label or None))
    print(markdown(runs))
    if args.chart:
        chart(runs, args.chart, args.subset)
        print(f"\nwrote {args.chart}")


if __name__ == "__main__":
    main()
