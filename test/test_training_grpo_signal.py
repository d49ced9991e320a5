"""The GRPO options of the pretrained-student learning benchmark (benchmarks/learning.py):
constrained rollouts, the frozen prompt, group statistics and skipping groups without signal."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from frs_ros.reasoning import ReasonerConfig
from frs_ros.reasoning.grammar import ProtocolGrammar
from frs_ros.samples import Sample
from frs_ros.training.config import GRPOConfig, LoraSettings, OptimSettings
from frs_ros.training.grpo import (
    Reference,
    RolloutScorer,
    group_stats,
    grpo_loss,
    policy_loss,
    run_grpo,
)
from frs_ros.training.masking import (
    IGNORE,
    collate,
    encode_rollout,
    frozen_prefix_length,
    token_logprobs,
)
from frs_ros.training.model import load_policy
from frs_ros.twin.synthetic import random_twin

os.environ["HF_HUB_OFFLINE"] = "1"

PROMPT = "<|im_start|>system\nfind things<|im_end|>\n<|im_start|>assistant\n"
ROLLOUTS = ['<reason>a b</reason><answer>{"ids": [1]}</answer>', "<reason>c</reason>"]


def tiny_policy() -> tuple[torch.nn.Module, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model warns that it is meaningless
        return load_policy("tiny", LoraSettings(r=2, alpha=4, dropout=0.0))


def group_batch(tokenizer: object) -> dict[str, torch.Tensor]:
    encoded = [encode_rollout(tokenizer, PROMPT, r, []) for r in ROLLOUTS]
    return collate(encoded, tokenizer.pad_token_id)


def test_frozen_prefix_is_the_shared_loss_free_prompt_minus_one() -> None:
    ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 9, 9]])
    labels = torch.tensor([[IGNORE, IGNORE, IGNORE, 4, 5], [IGNORE, IGNORE, IGNORE, 9, 9]])
    # three shared prompt positions; the third gives the first loss token's logits
    assert frozen_prefix_length({"input_ids": ids, "labels": labels}) == 2
    labels[1, 1] = 2  # a loss token inside the shared part bounds the prefix
    assert frozen_prefix_length({"input_ids": ids, "labels": labels}) == 0


def test_frozen_prompt_gives_the_same_logprobs_and_a_gradient() -> None:
    model, tokenizer = tiny_policy()
    batch = group_batch(tokenizer)
    assert frozen_prefix_length(batch) > 0
    full = token_logprobs(model, batch)
    frozen = token_logprobs(model, batch, frozen_prompt=True)
    assert frozen.shape == full.shape
    torch.testing.assert_close(frozen, full, atol=1e-5, rtol=1e-5)
    adv = torch.tensor([1.0, -1.0])
    policy_loss(model, batch, adv, 0.2, frozen_prompt=True).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_group_stats_name_groups_without_signal() -> None:
    class Result:
        def __init__(self, outcome: str, n_tokens: int) -> None:
            self.outcome, self.n_tokens = outcome, n_tokens

    same = group_stats([Result("max_tokens", 8), Result("max_tokens", 8)], [-0.5, -0.5])
    assert same == {"reward_std": 0.0, "zero_adv": 1.0, "tokens": 8.0, "finished": 0.0}
    mixed = group_stats([Result("answered", 4), Result("max_tokens", 8)], [1.5, -0.5])
    assert mixed["reward_std"] == pytest.approx(1.0) and mixed["zero_adv"] == 0.0
    assert mixed["tokens"] == 6.0 and mixed["finished"] == 0.5


@pytest.mark.slow
def test_constrained_rollouts_stay_inside_the_protocol_grammar() -> None:
    model, tokenizer = tiny_policy()
    twin = random_twin(2, size=(16, 16), seed=1)
    cfg = GRPOConfig(
        model="tiny",
        num_generations=2,
        reasoner=ReasonerConfig(max_new_tokens=24),
        constrained=True,
    )
    results, _, info = RolloutScorer(cfg, tokenizer, None, {})(
        model, Sample.from_ids("a", twin, "the object", [1]), seed=3
    )
    grammar = ProtocolGrammar()
    for r in results:
        spans = r.transcript.engine_char_spans()
        first_turn = r.transcript.rollout[: spans[0][0] if spans else None]
        assert grammar.allows(grammar.pattern_for(""), first_turn), first_turn
    assert set(info) >= {"reward", "reward_std", "zero_adv", "tokens", "finished"}


@pytest.mark.slow
def test_a_group_without_signal_steps_like_a_zero_loss(tmp_path) -> None:
    # a random tiny model never finishes a rollout: every reward is -0.5, every advantage 0;
    # the forward pass is skipped, yet the weights get zero (not absent) gradients
    samples = [Sample.from_ids("a", random_twin(1, size=(16, 16), seed=1), "the object", [1])]
    cfg = GRPOConfig(
        model="tiny",
        output_dir=str(tmp_path / "g"),
        num_generations=2,
        reasoner=ReasonerConfig(max_new_tokens=8),
        lora=LoraSettings(r=2, alpha=4),
        optim=OptimSettings(max_steps=1, save_steps=1),
    )
    row = run_grpo(cfg, samples).metrics[0]
    assert row["zero_adv"] == 1.0 and row["reward_std"] == 0.0
    assert row["loss"] == 0.0 and row["grad_norm"] == 0.0


def _perturb_lora(model: torch.nn.Module, scale: float) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and "lora_B" in name:
                p.add_(scale * torch.randn_like(p))


@pytest.mark.slow
@pytest.mark.parametrize("continued", [False, True])
def test_kl_to_the_reference_is_zero_at_start_and_positive_once_the_policy_moved(
    continued: bool,
) -> None:
    torch.manual_seed(0)
    model, tokenizer = tiny_policy()
    batch = group_batch(tokenizer)
    adv = torch.tensor([1.0, -1.0])
    if continued:
        _perturb_lora(model, 0.5)  # an SFT adapter: the reference is this policy, not the base
    start = token_logprobs(model, batch)
    reference = Reference(model, continued=continued)
    assert (reference.snapshot is None) is not continued  # fresh LoRA: adapters disabled
    ref = reference.logprobs(model, batch)
    torch.testing.assert_close(ref, start)
    _, kl = grpo_loss(model, batch, adv, 0.2, ref_logprobs=ref, beta=0.5)
    assert float(kl) == pytest.approx(0.0, abs=1e-6)
    _perturb_lora(model, 0.5)  # the policy moves
    moved = reference.logprobs(model, batch)
    torch.testing.assert_close(moved, start)  # the reference stays where the run began
    plain, _ = grpo_loss(model, batch, adv, 0.2)
    loss, kl = grpo_loss(model, batch, adv, 0.2, ref_logprobs=moved, beta=0.5)
    assert float(kl) > 1e-4
    assert float(loss.detach()) == pytest.approx(float(plain) + 0.5 * float(kl), rel=1e-5)
    loss.backward()  # the KL term reaches the trainable weights
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
