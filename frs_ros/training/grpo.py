"""GRPO through the real rollout engine (FastReasonSeg §3 "Teacher LLM Training" and the
student stage of "Two-Stage Distillation").

For every prompt the current policy writes G rollouts with ``Reasoner`` — generation stops
at ``</plan>``, the tools run on the twin, ``<results>`` is appended, generation resumes —
then each rollout gets the §5 rewards (``rewards.weighted_rewards``: the recipe's
``reward_funcs`` with their ``reward_weights``, negatives scaled by ``negative_weight``),
advantages are group-relative, A_i = r_i - mean(r) (``scale_rewards: none``, Dr. GRPO) or
(r_i - mean(r)) / (std(r) + 1e-4) (``group``), and the clipped policy-gradient loss plus
beta times the KL to the reference policy is averaged over model-written tokens only:
engine-inserted ``<results>`` tokens are masked (``masking.encode_rollout``), exactly as in
SFT.

The KL term is TRL's: the per-token estimator exp(q - p) - (q - p) - 1 of KL(policy ||
reference), p and q the policy's and the reference's log-probabilities of the sampled
token. The reference is the policy the stage starts from: for LoRA over the base model, the
base with the adapters disabled (peft's ``disable_adapter()``, no second copy of the
model); when the stage continues an adapter (``init_adapter``, the student after SFT) or
trains all weights, a copy of the starting trainable weights is swapped in for the
reference pass, so GRPO is held near the SFT policy rather than pulled back to the base.

Why this loop and not TRL's ``GRPOTrainer`` + ``rollout_func``: TRL's ``rollout_func`` is
experimental (its docstring: "may change or be removed at any time"), must return
per-token ``logprobs`` of the sampled ids, and builds on ``transformers.Trainer`` whose
resume is not exact for rollout-based steps. Here rollouts come from the same
``HFRuntime`` the robot uses (KV-cache reuse across tool rounds, same stop handling), and
one step is a pure function of (seed, step), which gives the exact kill-and-resume the
project requires (see ``loop.py``). One optimisation step per batch of rollouts (TRL's
default ``num_iterations=1``), so the importance ratio is 1 and no old-policy pass is
needed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
from frs_ros.training.rewards import weighted_rewards
from frs_ros.training.sft import read_chains

log = logging.getLogger(__name__)


def group_advantages(rewards: Sequence[float], scale: bool = True) -> torch.Tensor:
    """r - mean(r), divided by the group's std when ``scale``."""
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


def grpo_loss(
    model: Any,
    batch: dict[str, torch.Tensor],
    advantages: torch.Tensor,
    epsilon: float,
    *,
    frozen_prompt: bool = False,
    ref_logprobs: torch.Tensor | None = None,
    beta: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, KL): the clipped surrogate plus ``beta`` times the KL estimator to the
    reference, both token means over the group's model-written tokens. Without
    ``ref_logprobs`` the KL is 0 and not part of the loss."""
    lp = token_logprobs(model, batch, frozen_prompt=frozen_prompt)
    mask = (batch["labels"] != IGNORE).float()
    n_tokens = mask.sum().clamp(min=1)
    ratio = torch.exp(lp - lp.detach())
    adv = advantages[:, None]
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    loss = -(surrogate * mask).sum() / n_tokens
    if ref_logprobs is None:
        return loss, torch.zeros(())
    delta = ref_logprobs - lp
    kl = ((torch.exp(delta) - delta - 1) * mask).sum() / n_tokens
    return loss + beta * kl, kl.detach()


def policy_loss(
    model: Any,
    batch: dict[str, torch.Tensor],
    advantages: torch.Tensor,
    epsilon: float,
    *,
    frozen_prompt: bool = False,
) -> torch.Tensor:
    """Clipped surrogate, token-mean over the group's model-written tokens."""
    return grpo_loss(model, batch, advantages, epsilon, frozen_prompt=frozen_prompt)[0]


class Reference:
    """Log-probabilities under the policy the stage starts from (the KL term's reference)."""

    def __init__(self, model: Any, *, continued: bool) -> None:
        from peft import PeftModel

        # a fresh LoRA starts as the base itself: disabling its adapters gives the reference
        self.snapshot: dict[str, torch.Tensor] | None = None
        if continued or not isinstance(model, PeftModel):
            self.snapshot = {
                n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
            }

    @contextmanager
    def _weights(self, model: Any) -> Iterator[None]:
        if self.snapshot is None:
            with model.disable_adapter():
                yield
            return
        params = dict(model.named_parameters())
        current = {n: params[n].detach().clone() for n in self.snapshot}
        try:
            for n, v in self.snapshot.items():
                params[n].data.copy_(v)
            yield
        finally:
            for n, v in current.items():
                params[n].data.copy_(v)

    @torch.no_grad()
    def logprobs(
        self, model: Any, batch: dict[str, torch.Tensor], *, frozen_prompt: bool = False
    ) -> torch.Tensor:
        was_training = model.training
        model.eval()  # no dropout: the reference is one fixed distribution
        try:
            with self._weights(model):
                return token_logprobs(model, batch, frozen_prompt=frozen_prompt)
        finally:
            model.train(was_training)


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
        segmenter = ReasoningSegmenter(runtime=runtime, config=cfg.reasoner)
        # The weights do not change within a group, so the runtime's KV cache of the
        # prompt is reused by every rollout: one prefill per group, not G.
        results = []
        for _ in range(cfg.num_generations):
            results.append(segmenter.ask(sample.query, twin=sample.twin).result)
        model.train()  # HFRuntime put it in eval mode
        rollouts = [r.transcript.rollout for r in results]
        n = len(rollouts)
        funcs, weights = cfg.rewards()
        totals, parts = weighted_rewards(
            rollouts,
            funcs,
            weights,
            twin=[sample.twin] * n,
            gt=[sample.gt] * n,
            negative_weight=cfg.negative_weight,
            teacher_chain=[self.teacher.get(sample.id)] * n,
            judge=self.judge,
        )
        info = {
            "reward": sum(totals) / n,
            **{k: sum(v) / n for k, v in parts.items()},
            # the share of rollouts answering "nothing": a policy learning to abstain
            # everywhere shows here first
            "empty": sum(r.outcome == "empty" for r in results) / n,
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
    if "reasoning" in cfg.rewards()[0]:
        if not cfg.teacher_chains:
            raise ValueError(
                "the reasoning reward (gamma > 0) needs teacher_chains (the SFT stage's "
                "kept_chains.jsonl)"
            )
        teacher = {c.sample_id: c.rollout for c in read_chains(cfg.teacher_chains)}
        if judge is None:
            judge = Judge.from_config(JudgeConfig(**cfg.judge))
    model, tokenizer = load_policy(
        cfg.model, cfg.lora, init_adapter=cfg.init_adapter, dtype=cfg.dtype
    )
    scorer = RolloutScorer(cfg, tokenizer, judge, teacher)
    reference = Reference(model, continued=bool(cfg.init_adapter)) if cfg.beta > 0 else None
    scale = cfg.advantage_scaling() == "group"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def loss_fn(batch: Sequence[int], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        losses, infos = [], []
        for i in batch:
            seed = (cfg.optim.seed * 1_000_003 + step * 1009 + i) % 2**31
            results, totals, info = scorer(trainer.unwrapped(), samples[i], seed)
            adv = group_advantages(totals, scale)
            if reference is None and bool((adv == 0).all()):
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
                ref = None
                if reference is not None:
                    ref = reference.logprobs(
                        trainer.unwrapped(), group, frozen_prompt=cfg.frozen_prompt
                    )
                loss, kl = grpo_loss(
                    trainer.model,
                    group,
                    adv,
                    cfg.epsilon,
                    frozen_prompt=cfg.frozen_prompt,
                    ref_logprobs=ref,
                    beta=cfg.beta,
                )
                losses.append(loss)
                if reference is not None:
                    info["kl"] = float(kl)
            infos.append(info)
        keys = infos[0].keys()
        return torch.stack(losses).mean(), {k: sum(d[k] for d in infos) / len(infos) for k in keys}

    trainer = Trainer(model, cfg.optim, len(samples), cfg.output_dir, loss_fn, name=name)
    result = trainer.train(stop_after=stop_after)
    if result.steps == trainer.steps and trainer.accelerator.is_main_process:
        save_policy(trainer.unwrapped(), tokenizer, str(Path(cfg.output_dir) / "final"))
        keys = ["reward", *cfg.rewards()[0], "iou", "success", "empty", "kl", "loss"]
        plot_metrics(cfg.output_dir, list(dict.fromkeys(keys)))
    return result
