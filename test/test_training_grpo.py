"""GRPO: advantages, the clipped loss, and a real (tiny) run through the engine."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from frs_ros.reasoning import ReasonerConfig
from frs_ros.samples import Sample
from frs_ros.training.config import GRPOConfig, LoraSettings, OptimSettings, from_dict
from frs_ros.training.grpo import group_advantages, run_grpo
from frs_ros.twin.synthetic import random_twin

os.environ["HF_HUB_OFFLINE"] = "1"


def test_group_advantages() -> None:
    a = group_advantages([1.5, -0.5, 1.5, -0.5])
    assert torch.allclose(a, torch.tensor([1.0, -1.0, 1.0, -1.0]), atol=1e-3)
    assert torch.equal(group_advantages([0.5, 0.5]), torch.zeros(2))  # no signal, no update
    assert torch.allclose(group_advantages([2.0, 0.0], scale=False), torch.tensor([1.0, -1.0]))


class CountingJudge:
    def __init__(self) -> None:
        self.n = 0

    def score(self, student: str, teacher: str) -> float:
        self.n += 1
        return 0.5


@pytest.mark.slow
def test_grpo_runs_through_the_engine(tmp_path) -> None:
    twin = random_twin(1, size=(16, 16), seed=1)
    samples = [Sample.from_ids("a", twin, "the object", [1])]
    chains = tmp_path / "chains.jsonl"
    chains.write_text(
        '{"sample_id": "a", "rollout": "<reason>r</reason><answer>{\\"ids\\": [1]}</answer>", '
        '"engine_spans": [], "iou": 1.0, "source": "oracle", "outcome": "answered"}\n'
    )
    cfg = GRPOConfig(
        model="tiny",
        output_dir=str(tmp_path / "student"),
        num_generations=2,
        reasoner=ReasonerConfig(max_new_tokens=8),
        gamma=0.5,
        teacher_chains=str(chains),
        lora=LoraSettings(r=2, alpha=4),
        optim=OptimSettings(max_steps=1, save_steps=1),
    )
    judge = CountingJudge()
    result = run_grpo(cfg, samples, judge=judge)
    row = result.metrics[0]
    assert judge.n == 2  # one judgement per rollout
    # a random tiny model never writes the protocol: format -0.5, reasoning 0.5 * 0.5
    assert row["format"] == -0.5 and row["reasoning"] == 0.5
    assert row["reward"] == pytest.approx(-0.5 + row["iou"] + 0.25)
    assert (tmp_path / "student" / "final" / "adapter_config.json").is_file()
    with pytest.raises(ValueError, match="teacher_chains"):
        run_grpo(GRPOConfig(model="tiny", gamma=0.5, output_dir=str(tmp_path / "x")), samples)


@pytest.mark.slow
def test_resume_with_other_settings_is_refused(tmp_path) -> None:
    import dataclasses

    from frs_ros.manifest import ManifestMismatch

    samples = [Sample.from_ids("a", random_twin(1, size=(16, 16), seed=1), "the object", [1])]
    cfg = GRPOConfig(
        model="tiny",
        output_dir=str(tmp_path / "teacher"),
        num_generations=2,
        reasoner=ReasonerConfig(max_new_tokens=8),
        lora=LoraSettings(r=2, alpha=4),
        optim=OptimSettings(max_steps=2, save_steps=1),
    )
    assert run_grpo(cfg, samples, stop_after=1).steps == 1  # killed after one step
    with pytest.raises(ManifestMismatch, match=r'prompt: "full" -> "brief"'):
        run_grpo(
            dataclasses.replace(cfg, reasoner=ReasonerConfig(max_new_tokens=8, prompt="brief")),
            samples,
        )
    with pytest.raises(ValueError, match="max_new_tokens must be"):
        from_dict(GRPOConfig, {"reasoner": {"max_new_tokens": 10**9}})  # checked on load


@pytest.mark.slow
def test_every_reward_function_and_the_kl_are_logged_per_step(tmp_path) -> None:
    samples = [Sample.from_ids("a", random_twin(1, size=(16, 16), seed=1), "the object", [1])]
    cfg = GRPOConfig(
        model="tiny",
        output_dir=str(tmp_path / "g"),
        num_generations=2,
        reasoner=ReasonerConfig(max_new_tokens=8),
        reward_funcs=["format", "iou"],
        reward_weights=[2.0, 1.0],
        beta=0.1,
        lora=LoraSettings(r=2, alpha=4),
        optim=OptimSettings(max_steps=2, save_steps=2),
    )
    run_grpo(cfg, samples)
    rows = [json.loads(line) for line in (tmp_path / "g" / "metrics.jsonl").open()]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert {"reward", "format", "iou", "success", "empty", "kl", "loss"} <= set(row)
        assert row["reward"] == pytest.approx(2.0 * row["format"] + row["iou"])
        assert row["kl"] >= 0.0
    assert (tmp_path / "g" / "curves.png").is_file()
    # a stage continuing that adapter (the student after SFT) keeps it as its reference
    cont = dataclasses.replace(
        cfg, init_adapter=str(tmp_path / "g" / "final"), output_dir=str(tmp_path / "c")
    )
    rows = run_grpo(cont, samples).metrics
    assert all(r["kl"] >= 0.0 for r in rows) and rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)


def test_shipped_recipes_use_groups_of_at_least_six() -> None:
    from pathlib import Path

    from frs_ros.training.config import load_recipe

    recipes = sorted((Path(__file__).parents[1] / "training" / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        if path.name == "tiny.yaml":  # the smoke recipe: random weights, one step
            continue
        recipe = load_recipe(path)
        for stage in (recipe.teacher, recipe.student):
            assert stage.num_generations >= 6, path
