"""Does the training pipeline learn? (the shape of FastReasonSeg Table 3's ablation)

From a random-weight small Qwen3 (4 layers, hidden 128, head_dim 64: ~1M parameters; the
2-layer test model is too small to learn the protocol) and the tiny tokenizer (trained on
generated text), on the benchmark generator's level-1 data (``frs_ros.benchmark``:
semantic "something to sit on", spatial "the object farthest from the camera", temporal
"what was moved", 20 % negatives): SFT on the generator's oracle chains, then GRPO from
the SFT weights; also GRPO-only and SFT-only. Reported: held-out accuracy per category
after each stage (the §5 accuracy reward: answer mask IoU > 0.5; a negative is correct
when answered empty), the share of rollouts that finished the protocol, and the GRPO
reward curve (PNG). Results and their reading: docs/training.md.

The held-out samples come from the generator's ``validation`` split, whose scenes are
disjoint from ``train`` by construction. The brief system prompt (``prompt: brief``) keeps
a step affordable on a 2-core CPU; the full one is ~1,050 tokens longer.

Run: ``python benchmarks/learning.py`` (the defaults took 25 min on 2 CPU cores);
``--quick`` for a smoke run. Re-running resumes every stage from its checkpoints.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

from frs_ros.benchmark.generator import generate_sample
from frs_ros.metrics import CATEGORIES
from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.reasoning.runtime.hf import tiny_qwen3
from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer
from frs_ros.training.config import GRPOConfig, LoraSettings, OptimSettings, SFTConfig
from frs_ros.training.grpo import run_grpo
from frs_ros.training.loop import plot_metrics
from frs_ros.training.model import load_runtime_for, save_policy
from frs_ros.training.rewards import accuracy_from_iou, prediction_iou
from frs_ros.samples import Sample
from frs_ros.training.sft import run_sft

PROMPT = "brief"
COLUMNS = (*CATEGORIES, "negative", "all")


def level1_samples(split: str, n_per_category: int, negative_fraction: float) -> list[Sample]:
    """``n_per_category`` level-1 samples per category of ``split``, negatives last."""
    n_neg = round(negative_fraction * n_per_category)
    out = []
    for category in CATEGORIES:
        for j in range(n_per_category):
            b = generate_sample(
                split, len(out), category, 1, j >= n_per_category - n_neg, size=(120, 160)
            )
            out.append(Sample.from_dict(b.to_dict()))  # as `frs train` reads benchmark files
    return out


def column(s: Sample) -> str:
    """The table column of a sample: its category, or "negative" (empty target)."""
    return "negative" if s.negative else s.category


def initial_model(out: Path, layers: int, hidden: int, head_dim: int) -> str:
    """The random-weight starting point of every stage, saved once so that "untrained"
    and all trained rows share it."""
    path = out / "init"
    if not (path / "config.json").is_file():
        tokenizer = load_tiny_tokenizer()
        model = tiny_qwen3(
            tokenizer, layers=layers, hidden=hidden, head_dim=head_dim, init_std=0.02
        )
        save_policy(model, tokenizer, str(path))
    return str(path)


def evaluate(
    model: str, samples: Sequence[Sample], max_new_tokens: int, desc: str
) -> dict[str, float]:
    """Greedy rollouts through the real engine; accuracy per category (negatives apart)."""
    runtime = load_runtime_for(model)
    reasoner = Reasoner(runtime, ReasonerConfig(max_new_tokens=max_new_tokens, prompt=PROMPT))
    hits: dict[str, list[float]] = defaultdict(list)
    for s in tqdm(samples, desc=f"evaluate {desc}"):
        runtime.reset_cache()
        r = reasoner.answer(s.twin, s.query)
        ok = r.outcome in ("answered", "empty")
        acc = accuracy_from_iou(prediction_iou(s.twin, r.ids, s.gt)) if ok else 0.0
        hits[column(s)].append(acc)
        hits["all"].append(acc)
        hits["answered"].append(float(ok))
    return {k: sum(v) / len(v) for k, v in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/learning")
    # many distinct samples, about one epoch: the ids can only be learnt by copying them from
    # <results>, not by memorising scenes
    ap.add_argument("--n-train", type=int, default=600, help="train samples per category")
    ap.add_argument("--n-eval", type=int, default=16, help="held-out samples per category")
    ap.add_argument("--negative-fraction", type=float, default=0.2)
    ap.add_argument("--sft-steps", type=int, default=1000)
    ap.add_argument("--grpo-steps", type=int, default=15)
    ap.add_argument("--generations", type=int, default=8, help="GRPO group size G")
    ap.add_argument("--answer-weight", type=float, default=20.0, help="SFT <answer> weight")
    ap.add_argument("--max-new-tokens", type=int, default=384)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="a smoke run: tiny counts")
    args = ap.parse_args()
    if args.quick:
        args.n_train, args.n_eval, args.sft_steps, args.grpo_steps = 8, 2, 4, 2
        args.generations, args.max_new_tokens = 2, 64
    out = Path(args.out)
    train = level1_samples("train", args.n_train, args.negative_fraction)
    held = level1_samples("validation", args.n_eval, args.negative_fraction)
    full = LoraSettings(r=0)  # a random small model needs all its weights to learn
    init = initial_model(out, args.layers, args.hidden, args.head_dim)

    t0 = time.monotonic()
    sft = SFTConfig(
        model=init,
        output_dir=str(out / "sft"),
        chains="oracle",
        prompt=PROMPT,
        lora=full,
        decision_weight=2.0,  # DTwinSeger eq. (10): tool calls and, above all, the ids
        answer_weight=args.answer_weight,
        optim=OptimSettings(
            learning_rate=3e-3,
            weight_decay=0.01,
            warmup_ratio=0.05,
            max_steps=args.sft_steps,
            batch_size=2,
            save_steps=100,
        ),
    )
    run_sft(sft, train)
    t_sft = time.monotonic() - t0

    def grpo(start: str, name: str) -> tuple[str, float]:
        t = time.monotonic()
        cfg = GRPOConfig(
            model=init,
            init_adapter=start,
            output_dir=str(out / name),
            num_generations=args.generations,
            temperature=1.0,
            max_new_tokens=args.max_new_tokens,
            prompt=PROMPT,
            lora=full,
            optim=OptimSettings(
                learning_rate=2e-5,
                warmup_ratio=0.0,
                max_steps=args.grpo_steps,
                batch_size=2,  # prompts per step, each with G rollouts
                save_steps=5,
            ),
        )
        run_grpo(cfg, train, name=name)
        return str(out / name / "final"), time.monotonic() - t

    sft_grpo, t_grpo = grpo(str(out / "sft" / "final"), "sft_grpo")
    grpo_only, t_grpo_only = grpo(init, "grpo_only")
    stages = {
        "untrained": init,
        "GRPO only": grpo_only,
        "SFT only": str(out / "sft" / "final"),
        "SFT + GRPO": sft_grpo,
    }
    rows = {name: evaluate(a, held, args.max_new_tokens, name) for name, a in stages.items()}
    png = plot_metrics(out / "sft_grpo", ["reward", "accuracy", "format"], out / "reward_curve.png")
    plot_metrics(out / "grpo_only", ["reward", "accuracy", "format"], out / "grpo_only_curve.png")

    counts = Counter(column(s) for s in held)
    print(
        f"\nheld-out accuracy (IoU > 0.5; negatives: answered empty), {len(held)} validation "
        f"samples, {len(train)} train samples (level 1, prompt {PROMPT}); SFT "
        f"{args.sft_steps} steps ({t_sft:.0f} s), GRPO {args.grpo_steps} steps x "
        f"G={args.generations} (after SFT {t_grpo:.0f} s, alone {t_grpo_only:.0f} s)\n"
    )
    header = [f"{c} (n={counts[c]})" for c in COLUMNS[:-1]] + [f"all (n={len(held)})"]
    print("| stage | " + " | ".join(header) + " | protocol finished |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name, r in rows.items():
        cells = [f"{r[c]:.2f}" if c in r else "–" for c in (*COLUMNS, "answered")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nreward curve (SFT + GRPO): {png}")


if __name__ == "__main__":
    main()
