"""GRPO through the real rollout engine (FastReasonSeg §3 "Teacher LLM Training" and the
student stage of "Two-Stage Distillation").

For every prompt the current policy writes G rollouts with ``Reasoner`` — generation stops
at ``</plan>``, the tools run on the twin, ``<results>`` is appended, generation resumes —
then each rollout gets the §5 reward, advantages are group-relative,
A_i = (r_i - mean(r)) / (std(r) + 1e-4), and the clipped policy-gradient loss is averaged
over model-written tokens only: engine-inserted ``<results>`` tokens are masked
(``masking.encode_rollout``), exactly as in SFT.

Why this loop and not TRL's ``GRPOTrainer`` + ``rollout_func``: TRL's ``rollout_func`` is
experimental (its docstring: "may change or be removed at any time"), must return
per-token ``logprobs`` of the sampled ids, and builds on ``transformers.Trainer`` whose
resume is not exact for rollout-based steps. Here rollouts come from the same
``HFRuntime`` the robot uses (KV-cache reuse across tool rounds, same stop handling), and
one step is a pure function of (seed, step), which gives the exact kill-and-resume the
project requires (see ``loop.py``). One optimisation step per batch of rollouts (TRL's
default ``num_iterations=1``), so the importance ratio is 1 and no old-policy pass is
needed; ``beta = 0`` (no reference-model KL), TRL's default too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from frs_ros.manifest import ensure_manifest
from frs_ros.reasoning.runtime import Sampling
from frs_ros.reasoning.runtime.hf import HFRuntime
from frs_ros.samples import Sample, read_jsonl
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.training.config import GRPOConfig, stage_settings
from frs_ros.training.judge import Judge, JudgeConfig
from frs_ros.training.loop import Trainer, TrainResult, plot_metrics
from frs_ros.training.masking import IGNORE, collate, encode_rollout, token_logprobs
from frs_ros.training.model import load_policy, save_policy
from frs_ros.training.rewards import total_reward
from frs_ros.training.sft import read_chains

log = logging.getLogger(__name__)


def group_advantages(rewards: Sequence[float], scale: bool = True) -> torch.Tensor:
    r = torch.tensor(rewards, dtype=torch.float32)
    a = r - r.mean()
    return a / (r.std(unbiased=False) + 1e-4) if scale else a


def group_stats(results: Sequence[Any], totals: Sequence[float]) -> dict[str, float]:
    """What a group gives the update: its reward spread (``zero_adv`` is 1 when all G
    rewards are equal, so every advantage is 0 and the group teaches nothing), the
    model-written tokens per rollout and the share of rollouts that finished the protocol."""
    std = float(torch.tensor(totals, dtype=torch.float32).std(unbiased=False))
    return {
        "reward_std": std,
        "zero_adv": float(std < 1e-6),
        "tokens": sum(r.n_tokens for r in results) / len(results),
        "finished": sum(r.outcome in ("answered", "empty") for r in results) / len(results),
    }


def policy_loss(
    model: Any,
    batch: dict[str, torch.Tensor],
    advantages: torch.Tensor,
    epsilon: float,
    *,
    frozen_prompt: bool = False,
) -> torch.Tensor:
    """Clipped surrogate, token-mean over the group's model-written tokens."""
    lp = token_logprobs(model, batch, frozen_prompt=frozen_prompt)
    mask = (batch["labels"] != IGNORE).float()
    ratio = torch.exp(lp - lp.detach())
    adv = advantages[:, None]
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    return -(surrogate * mask).sum() / mask.sum().clamp(min=1)


class RolloutScorer:
    """Runs G rollouts of one sample with the current policy and scores them."""

    def __init__(
        self, cfg: GRPOConfig, tokenizer: Any, judge: Judge | None, teacher: dict[str, str]
    ) -> None:
        self.cfg, self.tokenizer, self.judge, self.teacher = cfg, tokenizer, judge, teacher

    def __call__(
        self, model: Any, sample: Sample, seed: int
    ) -> tuple[list[Any], list[float], dict[str, float]]:
        cfg = self.cfg
        runtime = HFRuntime(
            model,
            self.tokenizer,
            sampling=Sampling(temperature=cfg.temperature, top_p=cfg.top_p, seed=seed),
            constrained=cfg.constrained,
        )
        segmenter = ReasoningSegmenter(runtime=runtime, config=cfg.reasoner())
        # The weights do not change within a group, so the runtime's KV cache of the
        # prompt is reused by every rollout: one prefill per group, not G.
        results = [
            segmenter.ask(sample.query, twin=sample.twin).result for _ in range(cfg.num_generations)
        ]
        model.train()  # HFRuntime put it in eval mode
        rollouts = [r.transcript.rollout for r in results]
        n = len(rollouts)
        totals, parts = total_reward(
            rollouts,
            [sample.twin] * n,
            [sample.gt] * n,
            gamma=cfg.gamma,
            teacher_chain=[self.teacher.get(sample.id)] * n,
            judge=self.judge,
        )
        info = {
            "reward": sum(totals) / n,
            **{k: sum(v) / n for k, v in parts.items()},
            **group_stats(results, totals),
        }
        return results, totals, info


def run_grpo(
    cfg: GRPOConfig,
    samples: Sequence[Sample] | None = None,
    *,
    judge: Judge | None = None,
    stop_after: int | None = None,
    name: str = "grpo",
) -> TrainResult:
    # refuse to resume a run made with other settings before anything loads
    ensure_manifest(cfg.output_dir, stage_settings(name, cfg))
    samples = list(samples) if samples is not None else read_jsonl(cfg.train_file)
    teacher: dict[str, str] = {}
    if cfg.gamma > 0:
        if not cfg.teacher_chains:
            raise ValueError("gamma > 0 needs teacher_chains (the SFT stage's kept_chains.jsonl)")
        teacher = {c.sample_id: c.rollout for c in read_chains(cfg.teacher_chains)}
        if judge is None:
            judge = Judge.from_config(JudgeConfig(**cfg.judge))
    model, tokenizer = load_policy(
        cfg.model, cfg.lora, init_adapter=cfg.init_adapter, dtype=cfg.dtype
    )
    scorer = RolloutScorer(cfg, tokenizer, judge, teacher)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def loss_fn(batch: Sequence[int], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        losses, infos = [], []
        for i in batch:
            seed = (cfg.optim.seed * 1_000_003 + step * 1009 + i) % 2**31
            results, totals, info = scorer(trainer.unwrapped(), samples[i], seed)
            adv = group_advantages(totals, cfg.scale_rewards)
            if bool((adv == 0).all()):
                # no signal: the surrogate is 0 whatever the log-probabilities, so skip the
                # forward pass; a 0 still tied to the weights gives them zero (not absent)
                # gradients, so the optimiser steps exactly as after the full computation
                trainable = (p for p in trainer.model.parameters() if p.requires_grad)
                losses.append(0.0 * sum(p.sum() for p in trainable))
            else:
                encoded = [
                    encode_rollout(
                        tokenizer,
                        r.transcript.prompt,
                        r.transcript.rollout,
                        r.transcript.engine_char_spans(),
                    )
                    for r in results
                ]
                group = collate(encoded, pad)
                losses.append(
                    policy_loss(
                        trainer.model, group, adv, cfg.epsilon, frozen_prompt=cfg.frozen_prompt
                    )
                )
            infos.append(info)
        keys = infos[0].keys()
        return torch.stack(losses).mean(), {k: sum(d[k] for d in infos) / len(infos) for k in keys}

    trainer = Trainer(model, cfg.optim, len(samples), cfg.output_dir, loss_fn, name=name)
    result = trainer.train(stop_after=stop_after)
    if result.steps == trainer.steps and trainer.accelerator.is_main_process:
        save_policy(trainer.unwrapped(), tokenizer, str(Path(cfg.output_dir) / "final"))
        plot_metrics(cfg.output_dir, ["reward", "accuracy", "format", "reasoning", "loss"])
    return result
