"""Does the training pipeline learn? (the shape of FastReasonSeg Table 3's ablation)

Two students, on the benchmark generator's level-1 data (``frs_ros.benchmark``: semantic
"something to sit on", spatial "the object farthest from the camera", temporal "what was
moved", 20 % negatives):

- ``--student random``: a random-weight small Qwen3 (4 layers, hidden 128, head_dim 64:
  ~1M parameters, all weights trained) with the tiny tokenizer (trained on generated text).
- ``--student smollm2``: the pretrained SmolLM2-135M-Instruct from its GGUF file
  (``frs models get smollm2-135m-instruct-gguf --dir models``), with its own tokenizer and
  chat template, trained through LoRA. Its rollouts, in GRPO and in evaluation, decode
  inside the protocol grammar (``frs_ros/reasoning/grammar.py``): unconstrained, the
  untrained model never finishes a rollout (docs/benchmark.md), so every GRPO reward would
  be -0.5 and every advantage 0 — the random model's failure again.

Stages: SFT on the generator's oracle chains, GRPO from the SFT weights, and GRPO alone
from the starting weights. Reported: held-out accuracy per category after each stage (the
§5 accuracy reward: answer mask IoU > 0.5; a negative is correct when answered empty), the
share of rollouts that finished the protocol, the GRPO reward curves (PNG) and what a GRPO
group gave the update (reward spread, groups with all-equal rewards, rollout length,
gradient norm, and the KL between the GRPO policy and its start on held-out rollouts).
Results and their reading: docs/training.md.

The held-out samples come from the generator's ``validation`` split, whose scenes are
disjoint from ``train`` by construction. The brief system prompt (``prompt: brief``) keeps
a step affordable on a 2-core CPU; the full one is ~1,050 tokens longer.

Run: ``python benchmarks/learning.py [--student smollm2]``; ``--quick`` for a smoke run.
Re-running resumes every stage from its checkpoints and every evaluation from its
per-sample records.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from tqdm import tqdm

from frs_ros.benchmark.generator import generate_sample
from frs_ros.manifest import ensure_manifest, file_digest, settings_digest, slug
from frs_ros.metrics import CATEGORIES
from frs_ros.reasoning import ReasonerConfig
from frs_ros.reasoning.runtime.hf import tiny_qwen3
from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer
from frs_ros.samples import Sample
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.training.config import (
    GRPOConfig,
    LoraSettings,
    OptimSettings,
    SFTConfig,
    stage_settings,
)
from frs_ros.training.grpo import run_grpo
from frs_ros.training.loop import read_metrics
from frs_ros.training.masking import IGNORE, encode_rollout
from frs_ros.training.model import load_runtime_for, save_policy
from frs_ros.training.rewards import accuracy_from_iou, prediction_iou
from frs_ros.training.sft import run_sft

PROMPT = "brief"
COLUMNS = (*CATEGORIES, "negative", "all")
SMOLLM2_GGUF = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
TIMEOUT_S = 3600.0  # a query's wall-time bound: high, so results never depend on CPU load


@dataclass(frozen=True)
class Plan:
    """Everything a student's run depends on (command-line flags override fields)."""

    n_train: int  # train samples per category
    n_eval: int  # held-out samples per category
    sft_steps: int
    sft_batch: int
    sft_lr: float
    answer_weight: float  # SFT weight of <answer> tokens (DTwinSeger eq. (10))
    grpo_steps: int
    grpo_prompts: int  # prompts per GRPO step, each with G rollouts
    generations: int  # GRPO group size G
    grpo_lr: float
    max_new_tokens: int
    lora: LoraSettings
    constrained: bool  # rollouts (GRPO and evaluation) inside the protocol grammar
    frozen_prompt: bool  # the prompt runs without gradient (masking.token_logprobs)


PLANS = {
    # many distinct samples, about one epoch: the ids can only be learnt by copying them
    # from <results>, not by memorising scenes; a random small model needs all its weights
    "random": Plan(
        n_train=600,
        n_eval=16,
        sft_steps=1000,
        sft_batch=2,
        sft_lr=3e-3,
        answer_weight=20.0,
        grpo_steps=15,
        grpo_prompts=2,
        generations=8,
        grpo_lr=2e-5,
        max_new_tokens=384,
        lora=LoraSettings(r=0),
        constrained=False,
        frozen_prompt=False,
    ),
    # sized for ~1 hour on 2 shared CPU cores: a 135M-model step costs tens of times the
    # toy's, and the ~850-token prompt dominates, hence the frozen prompt and one sequence
    # per SFT step
    "smollm2": Plan(
        n_train=20,
        n_eval=4,
        sft_steps=12,
        sft_batch=1,
        sft_lr=1e-3,
        answer_weight=5.0,
        grpo_steps=6,
        grpo_prompts=1,
        generations=4,
        grpo_lr=3e-4,
        max_new_tokens=96,
        lora=LoraSettings(r=16, alpha=32, dropout=0.0),
        constrained=True,
        frozen_prompt=True,
    ),
}
QUICK = {
    "n_train": 4,
    "n_eval": 1,
    "sft_steps": 2,
    "sft_batch": 1,
    "grpo_steps": 2,
    "grpo_prompts": 1,
    "generations": 2,
    "max_new_tokens": 48,
}


def level1_samples(split: str, n_per_category: int, negative_fraction: float) -> list[Sample]:
    """``n_per_category`` level-1 samples per category of ``split``, negatives last."""
    n_neg = round(negative_fraction * n_per_category)
    out = []
    for category in CATEGORIES:
        for j in range(n_per_category):
            negative = j >= n_per_category - n_neg
            out.append(generate_sample(split, len(out), category, 1, negative, size=(120, 160)))
    return out


def column(s: Sample) -> str:
    """The table column of a sample: its category, or "negative" (empty target)."""
    return "negative" if s.negative else s.category


def initial_model(out: Path, student: str, gguf: str) -> str:
    """The starting point of every stage, shared by "untrained" and all trained rows: a
    random ~1M-parameter Qwen3 saved once under ``out/init``, or the GGUF file itself
    (transformers dequantises it at every load and cannot save it back as a model dir)."""
    if student != "random":
        if not Path(gguf).is_file():
            raise SystemExit(
                f"{gguf} does not exist: frs models get smollm2-135m-instruct-gguf --dir models"
            )
        return gguf
    path = out / "init"
    if not (path / "config.json").is_file():
        tokenizer = load_tiny_tokenizer()
        model = tiny_qwen3(tokenizer, layers=4, hidden=128, head_dim=64, init_std=0.02)
        save_policy(model, tokenizer, str(path))
    return str(path)


def timed(out: Path, name: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and add its wall time to ``timings/<name>.txt`` (a resumed stage adds only
    the time it still took), so the totals survive interruptions; one file per name, as two
    processes may run parts at once (``--parts``)."""
    path = out / "timings" / f"{slug(name)}.txt"
    t = time.monotonic()
    result = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    before = float(path.read_text()) if path.is_file() else 0.0
    path.write_text(f"{before + time.monotonic() - t:.1f}")
    return result


def read_timings(out: Path) -> dict[str, float]:
    return {p.stem: float(p.read_text()) for p in sorted((out / "timings").glob("*.txt"))}


def finished(stage_dir: Path, name: str, cfg: SFTConfig | GRPOConfig) -> bool:
    """Whether a stage has its final weights, made with ``cfg`` (other settings are refused
    as in ``frs train``); saves reloading the model just to find nothing left to do."""
    ensure_manifest(stage_dir, stage_settings(name, cfg))
    return (stage_dir / "final").is_dir()


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Per-sample evaluation records already written (a line torn by a kill is dropped)."""
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["id"]] = row
    return done


def evaluate(
    base: str,
    adapter: str,
    samples: Sequence[Sample],
    plan: Plan,
    records: Path,
    desc: str,
) -> list[dict[str, Any]]:
    """Greedy rollouts through the real engine, one JSONL record per sample (resumable)."""
    done = read_records(records)
    todo = [s for s in samples if s.id not in done]
    if todo:
        runtime = load_runtime_for(base, adapter, constrained=plan.constrained)
        config = ReasonerConfig(
            max_new_tokens=plan.max_new_tokens, timeout_s=TIMEOUT_S, prompt=PROMPT
        )
        segmenter = ReasoningSegmenter(runtime=runtime, config=config)
        records.parent.mkdir(parents=True, exist_ok=True)
        with records.open("a") as f:
            for s in tqdm(todo, desc=f"evaluate {desc}"):
                runtime.reset_cache()
                r = segmenter.ask(s.query, twin=s.twin).result
                ok = r.outcome in ("answered", "empty")
                acc = accuracy_from_iou(prediction_iou(s.twin, r.ids, s.gt)) if ok else 0.0
                row = {
                    "id": s.id,
                    "column": column(s),
                    "accuracy": acc,
                    "outcome": r.outcome,
                    "ids": r.ids,
                    "n_tokens": r.n_tokens,
                    "rounds": r.rounds,
                    "prompt": r.transcript.prompt,
                    "rollout": r.transcript.rollout,
                    "engine_spans": r.transcript.engine_char_spans(),
                }
                f.write(json.dumps(row) + "\n")
                f.flush()
                done[s.id] = row
    return [done[s.id] for s in samples]


def scores(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Accuracy per column and overall, the share of finished rollouts, tokens per query."""
    hits: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        hits[row["column"]].append(row["accuracy"])
        hits["all"].append(row["accuracy"])
        hits["finished"].append(float(row["outcome"] in ("answered", "empty")))
        hits["tokens"].append(row["n_tokens"])
    return {k: sum(v) / len(v) for k, v in hits.items()}


@torch.no_grad()
def policy_kl(base: str, start: str, end: str, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """How far GRPO moved the policy: KL(end || start) over the whole vocabulary, averaged
    over the model-written tokens of ``rows`` (rollouts of the ``end`` policy), and the
    mean change of those tokens' log-probabilities."""
    models = [load_runtime_for(base, a) for a in (end, start)]
    tokenizer = models[0].tokenizer
    kls, dlps = [], []
    for row in rows:
        enc = encode_rollout(tokenizer, row["prompt"], row["rollout"], row["engine_spans"])
        ids = torch.tensor([enc.input_ids])
        labels = torch.tensor(enc.labels[1:])
        keep = labels != IGNORE
        logp = [
            torch.log_softmax(m.model(input_ids=ids).logits[0, :-1].float(), -1)[keep]
            for m in models
        ]
        kl = (logp[0].exp() * (logp[0] - logp[1])).sum(-1)
        taken = labels[keep][:, None]
        kls += kl.tolist()
        dlps += (logp[0].gather(1, taken) - logp[1].gather(1, taken)).squeeze(1).tolist()
    n = max(1, len(kls))
    return {
        "kl_per_token": sum(kls) / n,
        "delta_logp_per_token": sum(dlps) / n,
        "kl_tokens": len(kls),
    }


def frozen_prompt_agreement(
    init: str, adapter: str, lora: LoraSettings, sample: Sample
) -> dict[str, float]:
    """How close the frozen-prompt gradient is to the exact one: cosine and norm ratio of the
    two gradients of the SFT loss on ``sample``'s oracle chain, at ``adapter``'s weights."""
    from frs_ros.replay import replay
    from frs_ros.training.masking import collate, weighted_nll
    from frs_ros.training.model import load_policy
    from frs_ros.training.sft import chat_prompt

    policy, tokenizer = load_policy(init, lora, init_adapter=adapter)
    chain = replay(sample.twin, sample.query, sample.chain).transcript
    prompt = chat_prompt(tokenizer, sample.twin, sample.query, PROMPT)
    batch = collate(
        [encode_rollout(tokenizer, prompt, chain.rollout, chain.engine_char_spans())],
        tokenizer.pad_token_id,
    )
    params = [p for p in policy.parameters() if p.requires_grad]
    grads = []
    for frozen in (False, True):
        policy.zero_grad()
        weighted_nll(policy, batch, frozen_prompt=frozen).backward()
        grads.append(torch.cat([p.grad.flatten() for p in params]))
    full, frozen = grads
    return {
        "cosine": float(torch.nn.functional.cosine_similarity(full, frozen, dim=0)),
        "norm_ratio": float(frozen.norm() / full.norm()),
        "tokens": len(batch["input_ids"][0]),
    }


def group_summary(run_dir: Path) -> dict[str, float]:
    """Means of a GRPO run's per-step metrics, and its reward over the first and last
    quarter of the steps."""
    rows = read_metrics(run_dir)
    keys = ("reward", "accuracy", "format", "reward_std", "zero_adv", "tokens", "finished")
    out = {
        k: sum(r[k] for r in rows) / len(rows)
        for k in (*keys, "grad_norm")
        if rows[0].get(k) is not None
    }
    q = max(1, len(rows) // 4)
    out["reward_first_quarter"] = sum(r["reward"] for r in rows[:q]) / q
    out["reward_last_quarter"] = sum(r["reward"] for r in rows[-q:]) / q
    return out


def plot_grpo(runs: dict[str, Path], png: Path) -> Path:
    """Reward, accuracy of the sampled rollouts, reward spread within a group and rollout
    length against the step, per GRPO run (points: per step; line: 3-step moving average)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = (
        ("reward", "reward (mean of G)"),
        ("accuracy", "accuracy (sampled)"),
        ("reward_std", "reward std in group"),
        ("tokens", "tokens / rollout"),
    )
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.5, 8), sharex=True)
    for (name, run_dir), color in zip(runs.items(), ("tab:blue", "tab:orange"), strict=False):
        rows = read_metrics(run_dir)
        steps = [r["step"] for r in rows]
        for ax, (key, label) in zip(axes, keys, strict=True):
            ys = [r[key] for r in rows]
            avg = [
                sum(ys[max(0, i - 2) : i + 1]) / len(ys[max(0, i - 2) : i + 1])
                for i in range(len(ys))
            ]
            ax.plot(steps, ys, "o", color=color, alpha=0.5, ms=4)
            ax.plot(steps, avg, color=color, lw=2, label=name)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0].legend()
    axes[-1].set_xlabel("GRPO step")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


PARTS = ("untrained", "sft", "sft_grpo", "grpo_only", "report")
ROWS = {
    "untrained": "untrained",
    "grpo_only": "GRPO only",
    "sft": "SFT only",
    "sft_grpo": "SFT + GRPO",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--student", choices=sorted(PLANS), default="random")
    ap.add_argument("--gguf", default=SMOLLM2_GGUF, help="the smollm2 student's GGUF file")
    ap.add_argument("--out", help="default runs/learning (random), runs/learning-smollm2")
    ap.add_argument("--negative-fraction", type=float, default=0.2)
    ap.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated subset of %(default)s: each trains (if needed) and evaluates "
        "one row, so two processes can share the work (sft_grpo runs sft first); report "
        "needs every row",
    )
    for f in dataclasses.fields(Plan):
        if f.type in ("int", "float"):
            flag = "--" + f.name.replace("_", "-")
            ap.add_argument(flag, type=int if f.type == "int" else float, help="plan override")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; on a loaded shared CPU one thread is several times faster than "
        "two (no OpenMP barrier waits on a descheduled thread: 4-5x measured, docs/training.md)",
    )
    ap.add_argument("--quick", action="store_true", help="a smoke run: tiny counts")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        ap.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    plan = PLANS[args.student]
    if args.quick:
        plan = dataclasses.replace(plan, **QUICK)
    overrides = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(Plan)}
    plan = dataclasses.replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    default_out = "runs/learning" if args.student == "random" else f"runs/learning-{args.student}"
    out = Path(args.out or default_out + ("-quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)

    train = level1_samples("train", plan.n_train, args.negative_fraction)
    held = level1_samples("validation", plan.n_eval, args.negative_fraction)
    init = timed(out, "init", lambda: initial_model(out, args.student, args.gguf))
    # LoRA stages start from the base itself; a full-weight stage from the saved init dir
    start = "" if plan.lora.r > 0 else init
    sft_final = str(out / "sft" / "final")
    # checkpoints every few minutes of work (a smollm2 step takes one to four minutes here)
    sft_save, grpo_save = (100, 5) if args.student == "random" else (2, 2)

    def sft() -> str:
        cfg = SFTConfig(
            model=init,
            output_dir=str(out / "sft"),
            chains="oracle",
            prompt=PROMPT,
            lora=plan.lora,
            decision_weight=2.0,  # DTwinSeger eq. (10): tool calls and, above all, the ids
            answer_weight=plan.answer_weight,
            frozen_prompt=plan.frozen_prompt,
            optim=OptimSettings(
                learning_rate=plan.sft_lr,
                weight_decay=0.01,
                warmup_ratio=0.05,
                max_steps=plan.sft_steps,
                batch_size=plan.sft_batch,
                save_steps=sft_save,
            ),
        )
        if not finished(out / "sft", "sft", cfg):
            timed(out, "sft", lambda: run_sft(cfg, train))
        return sft_final

    def grpo(init_adapter: str, name: str) -> str:
        cfg = GRPOConfig(
            model=init,
            init_adapter=init_adapter,
            output_dir=str(out / name),
            num_generations=plan.generations,
            temperature=1.0,
            reasoner=ReasonerConfig(
                max_new_tokens=plan.max_new_tokens, timeout_s=TIMEOUT_S, prompt=PROMPT
            ),
            constrained=plan.constrained,
            frozen_prompt=plan.frozen_prompt,
            lora=plan.lora,
            optim=OptimSettings(
                learning_rate=plan.grpo_lr,
                warmup_ratio=0.0,
                max_steps=plan.grpo_steps,
                batch_size=plan.grpo_prompts,
                save_steps=grpo_save,
            ),
        )
        if not finished(out / name, name, cfg):
            timed(out, name, lambda: run_grpo(cfg, train, name=name))
        return str(out / name / "final")

    trainers: dict[str, Callable[[], str]] = {
        "untrained": lambda: "",
        "sft": sft,
        "sft_grpo": lambda: grpo(sft(), "sft_grpo"),
        "grpo_only": lambda: grpo(start, "grpo_only"),
    }
    eval_key = settings_digest(
        {
            "plan": dataclasses.asdict(plan),
            "prompt": PROMPT,
            "negative_fraction": args.negative_fraction,
        }
    )
    adapters, records = {}, {}
    for part in [p for p in ROWS if p in parts or "report" in parts]:
        adapters[part] = adapter = trainers[part]()
        path = out / "heldout" / f"{part}-{eval_key}-{file_digest(adapter or init)}.jsonl"
        run = functools.partial(evaluate, init, adapter, held, plan, path, ROWS[part])
        records[part] = timed(out, f"evaluate {part}", run)
    if "report" in parts:
        report(out, args, plan, train, held, init, start, adapters, records)


def report(
    out: Path,
    args: argparse.Namespace,
    plan: Plan,
    train: Sequence[Sample],
    held: Sequence[Sample],
    init: str,
    start: str,
    adapters: dict[str, str],
    records: dict[str, list[dict[str, Any]]],
) -> None:
    """The table, what GRPO did (group statistics, KL to its start), the reward curves;
    printed and written to ``results.json``."""
    rows = {ROWS[part]: scores(r) for part, r in records.items()}
    kl_rows = 2  # held-out rollouts per KL estimate: two ~1,000-token forward passes each
    analysis = {
        "GRPO only": {
            **group_summary(out / "grpo_only"),
            **policy_kl(init, start, adapters["grpo_only"], records["grpo_only"][:kl_rows]),
        },
        "SFT + GRPO": {
            **group_summary(out / "sft_grpo"),
            **policy_kl(init, adapters["sft"], adapters["sft_grpo"], records["sft_grpo"][:kl_rows]),
        },
    }
    if plan.frozen_prompt:
        analysis["frozen prompt vs exact gradient (SFT loss, SFT weights)"] = (
            frozen_prompt_agreement(init, adapters["sft"], plan.lora, train[0])
        )
    png = plot_grpo(
        {"SFT + GRPO": out / "sft_grpo", "GRPO only": out / "grpo_only"}, out / "reward_curve.png"
    )
    timings = read_timings(out)
    (out / "results.json").write_text(
        json.dumps(
            {
                "plan": dataclasses.asdict(plan),
                "rows": rows,
                "grpo": analysis,
                "timings_s": timings,
            },
            indent=1,
        )
    )
    counts = Counter(column(s) for s in held)
    print(
        f"\nheld-out accuracy (IoU > 0.5; negatives: answered empty), {len(held)} validation "
        f"samples, {len(train)} train samples (level 1, prompt {PROMPT}, student "
        f"{args.student}, constrained {plan.constrained}); SFT {plan.sft_steps} steps x "
        f"{plan.sft_batch}, lr {plan.sft_lr:g}; GRPO {plan.grpo_steps} steps x "
        f"{plan.grpo_prompts} prompt x G={plan.generations}, lr {plan.grpo_lr:g}\n"
    )
    header = [f"{c} (n={counts[c]})" for c in COLUMNS[:-1]] + [f"all (n={len(held)})"]
    print("| stage | " + " | ".join(header) + " | protocol finished | tokens / query |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for name, r in rows.items():
        cells = [f"{r[c]:.2f}" if c in r else "–" for c in (*COLUMNS, "finished")]
        print(f"| {name} | " + " | ".join(cells) + f" | {r['tokens']:.0f} |")
    print("\nGRPO runs (means over steps; KL on held-out rollouts of the trained policy):")
    for name, a in analysis.items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in a.items()))
    print("\nwall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"reward curves: {png}")


if __name__ == "__main__":
    main()
