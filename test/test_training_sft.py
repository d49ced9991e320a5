"""Loss masking, rejection sampling, SFT and exact kill-and-resume, on the tiny model."""

from __future__ import annotations

import os

import pytest
import torch

from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer
from frs_ros.replay import replay
from frs_ros.samples import Sample
from frs_ros.training.config import LoraSettings, OptimSettings, SFTConfig
from frs_ros.training.masking import IGNORE, collate, encode_rollout, weighted_nll
from frs_ros.training.model import load_policy
from frs_ros.training.sft import Chain, chat_prompt, rejection_sample, run_sft
from frs_ros.twin.synthetic import random_twin

os.environ["HF_HUB_OFFLINE"] = "1"
CHAIN = (
    "<reason>the query names a mug</reason>"
    '<plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>'
    '<answer>{"ids": [1]}</answer>'
)


def _sample(seed: int = 0) -> Sample:
    twin = random_twin(2, size=(24, 32), seed=seed)
    return Sample.from_ids(f"s{seed}", twin, "the first object", [1], chain=CHAIN)


@pytest.mark.parametrize("style", ["full", "brief"])
def test_training_prompt_is_the_served_prompt(style: str) -> None:
    from frs_ros.reasoning import Reasoner, ReasonerConfig
    from frs_ros.reasoning.runtime.hf import HFRuntime

    runtime = HFRuntime.tiny()
    s = _sample()
    served = Reasoner(runtime, ReasonerConfig(prompt=style)).prompt(s.twin, s.query)
    assert chat_prompt(runtime.tokenizer, s.twin, s.query, style) == served


@pytest.mark.slow
def test_engine_tokens_get_zero_gradient() -> None:
    tok = load_tiny_tokenizer()
    s = _sample()
    result = replay(s.twin, s.query, s.chain)
    spans = result.transcript.engine_char_spans()
    rollout = result.transcript.rollout
    assert len(spans) == 1 and rollout[spans[0][0] :].startswith("<results>")
    prompt = chat_prompt(tok, s.twin, s.query)
    enc = encode_rollout(tok, prompt, rollout, spans, decision_weight=3.0, answer_weight=5.0)
    # labelled tokens decode to exactly the model-written text (results and prompt masked)
    masked_text = tok.decode(
        [t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE]
    )
    engine_text = rollout[spans[0][0] : spans[0][1]]
    assert "<results>" not in masked_text and "<reason>" in masked_text
    assert masked_text.replace(" ", "") in rollout.replace(engine_text, "").replace(" ", "")

    def text_weighted(w: float) -> str:
        return tok.decode([t for t, x in zip(enc.input_ids, enc.weights, strict=True) if x == w])

    # DTwinSeger eq. (10): the plan, the answer and the reason text get their own weights
    assert text_weighted(5.0).replace(" ", "") == '<answer>{"ids":[1]}</answer>'
    assert text_weighted(3.0).replace(" ", "") == CHAIN[
        CHAIN.index("<plan>") : CHAIN.index("<answer>")
    ].replace(" ", "")
    assert text_weighted(1.0).startswith("<reason>")

    model, _ = load_policy("tiny", LoraSettings(r=0))
    captured = {}

    def keep(_m, _i, out):
        out.retain_grad()
        captured["logits"] = out

    handle = model.lm_head.register_forward_hook(keep)
    batch = collate([enc], tok.pad_token_id)
    weighted_nll(model, batch).backward()
    handle.remove()
    grad = captured["logits"].grad[0]  # [T, V]: row t predicts token t + 1
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    for t in range(len(enc) - 1):
        predicts_loss_token = enc.labels[t + 1] != IGNORE
        row_zero = bool((grad[t] == 0).all())
        assert row_zero != predicts_loss_token, (t, n_prompt)
    # and the engine span really is inside the sequence (so the check above covered it)
    assert sum(1 for lab in enc.labels[n_prompt:] if lab == IGNORE) > 5


def test_rejection_sampling_keeps_exactly_above_threshold() -> None:
    chains = [
        Chain(f"s{i}", "r", [], iou, "teacher", "answered")
        for i, iou in enumerate([0.0, 0.69, 0.7, 0.7000001, 0.71, 1.0])
    ]
    chains.append(Chain("s4", "oracle", [], 1.0, "oracle", "answered"))  # duplicate sample
    kept = rejection_sample(chains, 0.7)
    assert [c.sample_id for c in kept] == ["s3", "s4", "s5"]
    assert kept[1].rollout == "r"  # the first passing chain of a sample wins


def _cfg(out, **optim) -> SFTConfig:
    return SFTConfig(
        model="tiny",
        output_dir=str(out),
        chains="oracle",
        lora=LoraSettings(r=4, alpha=8, dropout=0.1),  # dropout exercises the RNG on resume
        optim=OptimSettings(
            learning_rate=1e-2, batch_size=1, grad_accum=2, max_steps=3, save_steps=1, **optim
        ),
        decision_weight=2.0,
    )


def _weights(out) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(out / "final" / "adapter_model.safetensors"))


@pytest.mark.slow
def test_kill_and_resume_reaches_the_same_weights(tmp_path) -> None:
    samples = [_sample(i) for i in range(2)]
    full = run_sft(_cfg(tmp_path / "full"), samples)
    assert full.steps == 3 and full.metrics[-1]["loss"] < full.metrics[0]["loss"]
    killed = run_sft(_cfg(tmp_path / "killed"), samples, stop_after=1)
    assert killed.steps == 1 and not (tmp_path / "killed" / "final").exists()
    (tmp_path / "killed" / "checkpoints" / "step-2.tmp").mkdir()  # a kill mid-save
    resumed = run_sft(_cfg(tmp_path / "killed"), samples)
    assert resumed.resumed_from == 1 and resumed.steps == 3
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "killed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the log has each step once, and matches the uninterrupted run
    rows = [r for r in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert (tmp_path / "full" / "curves.png").is_file()
    assert [m["loss"] for m in resumed.metrics] == pytest.approx(
        [m["loss"] for m in full.metrics[1:]], rel=0, abs=0
    )


@pytest.mark.slow
def test_resume_with_other_settings_is_refused(tmp_path) -> None:
    import dataclasses

    from frs_ros.manifest import ManifestMismatch

    samples = [_sample(i) for i in range(2)]
    cfg = _cfg(tmp_path / "run")
    run_sft(cfg, samples, stop_after=1)  # killed after one step
    changed = dataclasses.replace(cfg, min_iou=0.5, optim=dataclasses.replace(cfg.optim, seed=3))
    with pytest.raises(ManifestMismatch, match=r"min_iou: 0.7 -> 0.5; optim.seed: 0 -> 3"):
        run_sft(changed, samples)
    # bookkeeping is not a setting of the output: a new save interval still resumes
    same = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, save_steps=2))
    assert run_sft(same, samples).resumed_from == 1
