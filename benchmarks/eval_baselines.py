"""Oracle vs. baselines on a freshly generated benchmark (twin-given mode).

    python benchmarks/eval_baselines.py [--n-per-cell 4] [--seed 0] [--hf-tiny]

Prints, per split, J&F / gIoU / cIoU / R pooled over samples for the oracle (replayed
through the real engine and tools), a random-id and a largest-object baseline, plus the
oracle's per category x level J&F table and an efficiency table (all measured in one run,
side by side). ``--hf-tiny`` adds the random-weight tiny Qwen3 through the HF runtime on
a few test samples.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path

from frs_ros.benchmark import SPLITS, generate_split
from frs_ros.evaluation import (
    LargestPredictor,
    OraclePredictor,
    RandomPredictor,
    ReasonerPredictor,
    efficiency_markdown,
    evaluate,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-cell", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hf-tiny", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(tempfile.mkdtemp(prefix="frs_baselines_"))
    rows, eff, oracle_test = [], [], None
    for split in SPLITS:
        samples = generate_split(split, args.n_per_cell, seed=args.seed, progress=False)
        for predictor in (OraclePredictor(), RandomPredictor(args.seed), LargestPredictor()):
            report = evaluate(samples, predictor, out / split / predictor.name, progress=False)
            t = report.metrics.overall()
            rows.append(
                f"| {split} | {predictor.name} | {t['n']} | {t['J&F']:.3f} | {t['gIoU']:.3f} | "
                f"{t['cIoU']:.3f} | {t['R']:.3f} |"
            )
            if split == "test":
                eff.append(report.efficiency)
                if predictor.name == "oracle":
                    oracle_test = report.metrics
    if args.hf_tiny:
        from frs_ros.reasoning import ReasonerConfig
        from frs_ros.reasoning.runtime.hf import HFRuntime

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runtime = HFRuntime.tiny()
        predictor = ReasonerPredictor(runtime, ReasonerConfig(max_new_tokens=16), "hf:tiny")
        report = evaluate(samples[:9], predictor, out / "test" / "hf-tiny", progress=False)
        t = report.metrics.overall()
        rows.append(
            f"| test (9) | hf:tiny | {t['n']} | {t['J&F']:.3f} | {t['gIoU']:.3f} | "
            f"{t['cIoU']:.3f} | {t['R'] if t['R'] == t['R'] else float('nan'):.3f} |"
        )
        eff.append(report.efficiency)
    print(f"### Benchmark baselines (seed {args.seed}, {args.n_per_cell} per cell per split)\n")
    print("| Split | Method | Samples | J&F | gIoU | cIoU | R |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print("\n### Oracle on the test split, per category x level\n")
    print(oracle_test.to_markdown(metrics=("J&F",)))
    print("### Efficiency (test split, twin-given mode, this machine)\n")
    print(efficiency_markdown(eff))


if __name__ == "__main__":
    main()
