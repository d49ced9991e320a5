"""Does the training pipeline learn? (the shape of FastReasonSeg Table 3's ablation)

From the random-weight tiny Qwen3 (2 layers, hidden 64) and the tiny tokenizer: SFT on
oracle chains, then GRPO; also GRPO-only and SFT-only. Held-out accuracy (the §5 accuracy
reward: IoU > 0.5, empty target correct when answered empty) per category after each stage.

Data: ``frs_ros.benchmark`` (the seeded scene/query generator) had not landed when this was
written, so small formulaic samples are made here from ``random_twin``: semantic ("the
mug" -> every mug), spatial ("the leftmost object") and negative (a label absent from the
scene -> empty target). Switch to the generator's JSONL with ``--data FILE``.

Run: ``python benchmarks/learning.py [--sft-steps 150 --grpo-steps 12 --n-eval 24]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.training.config import GRPOConfig, LoraSettings, OptimSettings, SFTConfig
from frs_ros.training.grpo import run_grpo
from frs_ros.training.model import load_runtime_for
from frs_ros.training.rewards import accuracy_from_iou, prediction_iou
from frs_ros.training.samples import Sample, read_jsonl
from frs_ros.training.sft import run_sft
from frs_ros.twin.synthetic import LABELS, random_twin

CATEGORIES = ("semantic", "spatial", "negative")


def make_samples(n: int, seed: int) -> list[Sample]:
    out = []
    for i in range(n):
        twin = random_twin(3, size=(24, 32), seed=seed * 100_000 + i)
        objs = twin.latest.objects
        kind = CATEGORIES[i % 3]
        if kind == "semantic":
            label = objs[i % len(objs)].label
            ids = [o.id for o in objs if o.label == label]
            query = f"the {label}"
            plan = f'<plan>[{{"tool": "find", "args": {{"label": "{label}"}}}}]</plan>'
            reason = f"the query names a {label}; find it"
        elif kind == "spatial":
            ids = [min(objs, key=lambda o: o.centroid[0]).id]
            query = "the leftmost object"
            plan = ""
            reason = "leftmost means the smallest centroid x"
        else:
            present = {o.label for o in objs}
            label = next(lb for lb in LABELS[::-1] if lb not in present)
            ids, query, plan = [], f"the {label}", ""
            reason = f"no object is a {label}"
        chain = f"<reason>{reason}</reason>{plan}<answer>{json.dumps({'ids': ids})}</answer>"
        out.append(Sample.from_ids(f"{seed}-{i}", twin, query, ids, category=kind, chain=chain))
    return out


def evaluate(model: str, adapter: str, samples: list[Sample]) -> dict[str, float]:
    reasoner = Reasoner(load_runtime_for(model, adapter), ReasonerConfig(max_new_tokens=48))
    hits: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        r = reasoner.answer(s.twin, s.query)
        ok = r.outcome in ("answered", "empty")
        acc = accuracy_from_iou(prediction_iou(s.twin, r.ids, s.gt)) if ok else 0.0
        hits[s.category].append(acc)
        hits["all"].append(acc)
        hits["answered"].append(float(ok))
    return {k: sum(v) / len(v) for k, v in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/learning")
    ap.add_argument("--data", default="", help="benchmark JSONL (else generated here)")
    ap.add_argument("--n-train", type=int, default=90)
    ap.add_argument("--n-eval", type=int, default=24)
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument("--grpo-steps", type=int, default=12)
    args = ap.parse_args()
    out = Path(args.out)
    if args.data:
        data = read_jsonl(args.data)
        train, held = data[args.n_eval :], data[: args.n_eval]
    else:
        train, held = make_samples(args.n_train, 1), make_samples(args.n_eval, 2)
    full = LoraSettings(r=0)  # a random 2-layer model needs all its weights to learn
    t0 = time.monotonic()
    sft = SFTConfig(
        model="tiny",
        output_dir=str(out / "sft"),
        chains="oracle",
        lora=full,
        decision_weight=2.0,
        optim=OptimSettings(
            learning_rate=3e-3,
            weight_decay=0.01,
            warmup_ratio=0.1,
            max_steps=args.sft_steps,
            batch_size=2,
            save_steps=50,
        ),
    )
    sft_run = run_sft(sft, train)
    t_sft = time.monotonic() - t0

    def grpo(init: str, name: str) -> str:
        cfg = GRPOConfig(
            model="tiny",
            init_adapter=init,
            output_dir=str(out / name),
            num_generations=4,
            temperature=1.0,
            max_new_tokens=48,
            lora=full,
            optim=OptimSettings(learning_rate=1e-3, max_steps=args.grpo_steps, save_steps=10),
        )
        run_grpo(cfg, train, name=name)
        return str(out / name / "final")

    t1 = time.monotonic()
    sft_grpo = grpo(str(out / "sft" / "final"), "sft_grpo")
    t_grpo = time.monotonic() - t1
    grpo_only = grpo("", "grpo_only")
    rows = {
        "untrained": evaluate("tiny", "", held),
        "GRPO only": evaluate("tiny", grpo_only, held),
        "SFT only": evaluate("tiny", str(out / "sft" / "final"), held),
        "SFT + GRPO": evaluate("tiny", sft_grpo, held),
    }
    from frs_ros.training.loop import plot_metrics

    png = plot_metrics(out / "sft_grpo", ["reward", "accuracy", "format"], out / "reward_curve.png")
    print(
        f"\nheld-out accuracy (IoU > 0.5), {len(held)} samples, {len(train)} train; "
        f"SFT {args.sft_steps} steps ({sft_run.steps - sft_run.resumed_from} run now, "
        f"{t_sft:.0f} s), GRPO {args.grpo_steps} steps "
        f"({t_grpo:.0f} s)\n"
    )
    print("| stage | semantic | spatial | negative | all | protocol answered |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        cells = [f"{r.get(c, 0.0):.2f}" for c in (*CATEGORIES, "all", "answered")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nreward curve: {png}")


if __name__ == "__main__":
    main()
