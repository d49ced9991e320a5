"""Distillation stage 1 (FastReasonSeg §3 "Two-Stage Distillation"): the teacher writes a
chain for every training sample through the real engine, chains with IoU > 0.7 are kept
(rejection sampling), and the student is fine-tuned on them (AdamW 5e-5, weight decay 0.01,
3 epochs) with the loss only on model-written tokens — optionally DTwinSeger's eq. (10)
token weighting (``decision_weight`` on ``<plan>``, ``answer_weight`` on ``<answer>`` tokens).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from frs_ros.manifest import ensure_manifest
from frs_ros.reasoning import ReasoningResult
from frs_ros.reasoning.prompt import system_prompt, user_prompt
from frs_ros.reasoning.runtime.base import templated_prompt
from frs_ros.replay import replay
from frs_ros.samples import Sample, read_jsonl
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.training.config import SFTConfig, stage_settings
from frs_ros.training.loop import Trainer, TrainResult, plot_metrics
from frs_ros.training.masking import Encoded, collate, encode_rollout, weighted_nll
from frs_ros.training.model import load_policy, load_runtime_for, save_policy
from frs_ros.training.rewards import prediction_iou

log = logging.getLogger(__name__)
CHAIN_SOURCES = ("teacher", "oracle", "teacher+oracle")


@dataclass
class Chain:
    """A rollout (prompt excluded) with its engine spans and the IoU of its answer."""

    sample_id: str
    rollout: str
    engine_spans: list[tuple[int, int]]
    iou: float
    source: str  # teacher | oracle
    outcome: str

    @classmethod
    def from_result(cls, sample: Sample, result: ReasoningResult, source: str) -> Chain:
        answered = result.outcome in ("answered", "empty")
        iou = prediction_iou(sample.twin, result.ids, sample.gt) if answered else 0.0
        return cls(
            sample.id,
            result.transcript.rollout,
            result.transcript.engine_char_spans(),
            iou,
            source,
            result.outcome,
        )


def chat_prompt(tokenizer: Any, twin: Any, query: str, style: str = "full") -> str:
    """The prompt exactly as ``HFRuntime.format_prompt`` builds it (thinking off)."""
    return templated_prompt(tokenizer, system_prompt(style=style), user_prompt(twin, query))


def teacher_chains(samples: Sequence[Sample], teacher: ReasoningSegmenter) -> list[Chain]:
    out = []
    for s in tqdm(samples, desc="teacher chains"):
        answer = teacher.ask(s.query, twin=s.twin)
        out.append(Chain.from_result(s, answer.result, "teacher"))
    return out


def oracle_chains(samples: Sequence[Sample]) -> list[Chain]:
    """The samples' own chains, replayed through the engine (so tool results are real)."""
    return [
        Chain.from_result(s, replay(s.twin, s.query, s.chain), "oracle") for s in samples if s.chain
    ]


def rejection_sample(chains: Sequence[Chain], min_iou: float = 0.7) -> list[Chain]:
    """Keep chains whose answer IoU is strictly above ``min_iou``; for each sample the
    first kept chain only (the teacher's, when both a teacher and an oracle chain pass)."""
    kept: dict[str, Chain] = {}
    for c in chains:
        if c.iou > min_iou and c.sample_id not in kept:
            kept[c.sample_id] = c
    return list(kept.values())


def stratified_subset(samples: Sequence[Sample], n: int) -> list[Sample]:
    """``n`` samples taken round-robin over the (category, level, negative) cells, in
    file order within a cell, so a small teacher budget still covers every cell."""
    cells: dict[tuple[Any, ...], list[Sample]] = {}
    for s in samples:
        cells.setdefault((s.category, s.level, s.negative), []).append(s)
    queues = [iter(v) for _, v in sorted(cells.items(), key=lambda kv: str(kv[0]))]
    out: list[Sample] = []
    while len(out) < n and queues:
        alive = []
        for q in queues:
            item = next(q, None)
            if item is not None and len(out) < n:
                out.append(item)
                alive.append(q)
        queues = alive
    return out


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def terse_reason(reason: str, max_words: int = 24) -> str:
    """``reason``'s first sentence (up to ``.``, ``!`` or ``?``), at most ``max_words`` words,
    ending with a full stop: the plan that follows names the tools and labels. A colon or
    semicolon does not end it, so the generator's semantic rationale stays ("what is unsafe
    for a toddler: sharp or hot things are dangerous for a child"): that sentence is the
    reasoning the student should learn, the procedural sentences after it are not."""
    text = " ".join(reason.split())
    m = _SENTENCE_END.search(text)
    first = text[: m.start()] if m else text
    words = first.split()[:max_words]
    return (" ".join(words).rstrip(",") + ".") if words else text


def terse_chain(chain: Chain, max_words: int = 24) -> Chain:
    """``chain`` with its ``<reason>`` body shortened (:func:`terse_reason`); the engine's
    spans, all after the reason, move by the characters removed."""
    m = re.match(r"\s*<reason>(.*?)</reason>", chain.rollout, re.S)
    if m is None:
        return chain
    body = terse_reason(m.group(1), max_words)
    shift = len(body) - len(m.group(1))
    if shift == 0:
        return chain
    rollout = chain.rollout[: m.start(1)] + body + chain.rollout[m.end(1) :]
    spans = [(a + shift, b + shift) for a, b in chain.engine_spans]
    return replace(chain, rollout=rollout, engine_spans=spans)


def write_chains(path: str | Path, chains: Sequence[Chain]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(asdict(c)) + "\n" for c in chains))
    tmp.replace(path)


def read_chains(path: str | Path) -> list[Chain]:
    rows = [json.loads(r) for r in Path(path).read_text().splitlines() if r.strip()]
    return [Chain(**{**r, "engine_spans": [tuple(s) for s in r["engine_spans"]]}) for r in rows]


def collect_chains(cfg: SFTConfig, samples: Sequence[Sample]) -> list[Chain]:
    if cfg.chains not in CHAIN_SOURCES:
        raise ValueError(f"sft.chains must be one of {CHAIN_SOURCES}, got {cfg.chains!r}")
    chains: list[Chain] = []
    if "teacher" in cfg.chains:
        if cfg.teacher_runtime:
            from frs_ros.reasoning.runtime import load_runtime

            runtime = load_runtime(dict(cfg.teacher_runtime))
        elif cfg.teacher_model:
            runtime = load_runtime_for(cfg.teacher_model, cfg.teacher_adapter)
        else:
            raise ValueError(
                "sft.chains uses the teacher, but neither sft.teacher_model nor "
                "sft.teacher_runtime is set"
            )
        teacher = ReasoningSegmenter(runtime=runtime, config=cfg.teacher_reasoner)
        subset = stratified_subset(samples, cfg.teacher_samples) if cfg.teacher_samples else samples
        chains += teacher_chains(subset, teacher)
    if "oracle" in cfg.chains:
        chains += oracle_chains(samples)
    return chains


def chain_report(
    samples: Sequence[Sample], chains: Sequence[Chain], kept: Sequence[Chain], min_iou: float
) -> dict[str, Any]:
    """Per source and per category: chains written, teacher accuracy (IoU > 0.5, the
    benchmark's success rule), chains that passed ``min_iou``, and the sources of the
    kept chains (the teacher's win when both pass)."""
    by_id = {s.id: s for s in samples}

    def cell(s: Sample) -> str:
        return "negative" if s.negative else s.category

    report: dict[str, Any] = {"min_iou": min_iou, "sources": {}, "kept": {}}
    for c in chains:
        row = (
            report["sources"]
            .setdefault(c.source, {})
            .setdefault(cell(by_id[c.sample_id]), {"chains": 0, "correct": 0, "passed": 0})
        )
        row["chains"] += 1
        row["correct"] += int(c.iou > 0.5)
        row["passed"] += int(c.iou > min_iou)
    for c in kept:
        row = report["kept"].setdefault(cell(by_id[c.sample_id]), {})
        row[c.source] = row.get(c.source, 0) + 1
    return report


def write_chain_report(
    path: Path,
    samples: Sequence[Sample],
    chains: Sequence[Chain],
    kept: Sequence[Chain],
    min_iou: float,
) -> None:
    path.write_text(json.dumps(chain_report(samples, chains, kept, min_iou), indent=2) + "\n")


def encode_chains(
    tokenizer: Any, samples: Sequence[Sample], chains: Sequence[Chain], cfg: SFTConfig
) -> list[Encoded]:
    by_id = {s.id: s for s in samples}
    out, too_long = [], 0
    for c in chains:
        s = by_id[c.sample_id]
        enc = encode_rollout(
            tokenizer,
            chat_prompt(tokenizer, s.twin, s.query, cfg.prompt),
            c.rollout,
            c.engine_spans,
            decision_weight=cfg.decision_weight,
            answer_weight=cfg.answer_weight,
        )
        if len(enc) > cfg.max_length:
            too_long += 1
            continue
        out.append(enc)
    if too_long:
        log.warning("dropped %d chains longer than max_length=%d", too_long, cfg.max_length)
    return out


def run_sft(
    cfg: SFTConfig,
    samples: Sequence[Sample] | None = None,
    chains: Sequence[Chain] | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Chains (generated once, cached in ``output_dir/chains.jsonl``), rejection sampling,
    SFT. Re-running resumes from the newest checkpoint."""
    out = Path(cfg.output_dir)
    # before chains.jsonl is reused: chains of another teacher or prompt must not be
    ensure_manifest(out, stage_settings("sft", cfg))
    samples = list(samples) if samples is not None else read_jsonl(cfg.train_file)
    chain_file = out / "chains.jsonl"
    if chains is None:
        if chain_file.is_file():
            chains = read_chains(chain_file)
        else:
            chains = collect_chains(cfg, samples)
            write_chains(chain_file, chains)
    kept = rejection_sample(chains, cfg.min_iou)
    if cfg.reason_style == "terse":
        kept = [terse_chain(c) for c in kept]
    write_chains(out / "kept_chains.jsonl", kept)
    log.info(
        "rejection sampling kept %d of %d chains (IoU > %.2f)", len(kept), len(chains), cfg.min_iou
    )
    write_chain_report(out / "chains_report.json", samples, chains, kept, cfg.min_iou)
    model, tokenizer = load_policy(cfg.model, cfg.lora, dtype=cfg.dtype)
    data = encode_chains(tokenizer, samples, kept, cfg)
    if not data:
        raise ValueError(
            f"no SFT data: {len(kept)} of {len(chains)} chains passed IoU > {cfg.min_iou} "
            f"and fit max_length={cfg.max_length}"
        )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def loss_fn(batch: Sequence[int], step: int) -> tuple[Any, dict[str, float]]:
        b = collate([data[i] for i in batch], pad)
        return weighted_nll(trainer.model, b, frozen_prompt=cfg.frozen_prompt), {}

    trainer = Trainer(model, cfg.optim, len(data), out, loss_fn, name="sft")
    result = trainer.train(stop_after=stop_after)
    if result.steps == trainer.steps and trainer.accelerator.is_main_process:
        save_policy(trainer.unwrapped(), tokenizer, str(out / "final"))
        plot_metrics(out, ["loss", "lr"])
    return result
