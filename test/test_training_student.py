"""The student's SFT stage: a teacher given as a runtime spec (constrained, few-shot) on a
stratified subset, terse chains, and the per-category chain report."""

from __future__ import annotations

import json
import os

import pytest

from frs_ros.reasoning import ReasonerConfig
from frs_ros.replay import replay
from frs_ros.samples import Sample
from frs_ros.training.config import LoraSettings, OptimSettings, SFTConfig
from frs_ros.training.sft import Chain, read_chains, run_sft, stratified_subset, terse_chain
from frs_ros.twin.synthetic import random_twin

os.environ["HF_HUB_OFFLINE"] = "1"
CHAIN = (
    "<reason>The query names a mug; mugs hold drinks. Find every mug in the twin and answer "
    "them all.</reason>"
    '<plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>'
    '<answer>{"ids": [1]}</answer>'
)


def _sample(i: int, category: str = "semantic", level: int = 1, negative: bool = False) -> Sample:
    twin = random_twin(2, size=(24, 32), seed=i)
    ids = [] if negative else [1]
    return Sample.from_ids(
        f"s{i}",
        twin,
        "the first object",
        ids,
        chain=CHAIN,
        category=category,
        level=level,
        negative=negative,
    )


def test_stratified_subset_covers_every_cell_first() -> None:
    samples = [_sample(i, "semantic", 1) for i in range(5)]
    samples += [_sample(10 + i, "spatial", 2) for i in range(3)]
    samples += [_sample(20, "temporal", 3), _sample(21, "semantic", 1, negative=True)]
    picked = stratified_subset(samples, 4)
    cells = {(s.category, s.level, s.negative) for s in picked}
    assert len(picked) == 4 and len(cells) == 4  # one of each cell before any second
    assert [s.id for s in stratified_subset(samples, 100)] != []
    assert len(stratified_subset(samples, 100)) == len(samples)  # never more than there are
    # within a cell, file order
    assert [s.id for s in stratified_subset(samples, 10) if s.category == "spatial"] == [
        "s10",
        "s11",
        "s12",
    ]


def test_terse_chain_keeps_the_engine_spans_on_the_results() -> None:
    s = _sample(0)
    result = replay(s.twin, s.query, s.chain)
    chain = Chain.from_result(s, result, "oracle")
    before = [chain.rollout[a:b] for a, b in chain.engine_spans]
    assert before and all(t.startswith("<results>") for t in before)
    short = terse_chain(chain)
    # the first sentence, rationale after the semicolon included; the procedure dropped
    assert short.rollout.startswith("<reason>The query names a mug; mugs hold drinks.</reason>")
    assert len(short.rollout) < len(chain.rollout)
    assert [short.rollout[a:b] for a, b in short.engine_spans] == before
    # the protocol still holds: replaying the terse chain reaches the same answer
    again = replay(s.twin, s.query, short.rollout.replace(before[0], ""))
    assert again.ids == result.ids and again.outcome == result.outcome


@pytest.mark.slow
def test_teacher_runtime_spec_writes_chains_on_a_subset_and_reports_them(tmp_path) -> None:
    samples = [_sample(0), _sample(1, "spatial", 2), _sample(2, "semantic", 1, negative=True)]
    cfg = SFTConfig(
        model="tiny",
        output_dir=str(tmp_path / "sft"),
        chains="teacher+oracle",
        teacher_runtime={"kind": "hf", "model": "tiny", "constrained": True},
        teacher_samples=2,
        teacher_reasoner=ReasonerConfig(max_new_tokens=24, few_shot=1),
        prompt="brief",
        reason_style="terse",
        lora=LoraSettings(r=2, alpha=4),
        optim=OptimSettings(learning_rate=1e-3, max_steps=1, save_steps=1),
    )
    assert cfg.teacher_reasoner.few_shot == 1
    run_sft(cfg, samples)
    chains = read_chains(tmp_path / "sft" / "chains.jsonl")
    assert sorted(c.source for c in chains) == ["oracle"] * 3 + ["teacher"] * 2
    kept = read_chains(tmp_path / "sft" / "kept_chains.jsonl")
    terse = "<reason>The query names a mug; mugs hold drinks.</reason>"
    assert all(terse in c.rollout for c in kept)
    report = json.loads((tmp_path / "sft" / "chains_report.json").read_text())
    teacher = report["sources"]["teacher"]
    assert sum(row["chains"] for row in teacher.values()) == 2
    assert report["sources"]["oracle"]["negative"]["chains"] == 1
    assert sum(sum(row.values()) for row in report["kept"].values()) == len(kept)
    assert (tmp_path / "sft" / "final" / "adapter_config.json").is_file()


def test_unknown_reason_style_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="reason_style"):
        SFTConfig(reason_style="short")


def test_train_all_runs_only_the_recipes_sections(tmp_path, monkeypatch) -> None:
    import argparse

    from frs_ros.training import cli
    from frs_ros.training.config import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text("sft: {model: tiny}\nstudent: {model: tiny}\n")
    assert load_recipe(recipe).sections == ("sft", "student")
    ran: list[str] = []
    monkeypatch.setattr(cli, "run_stage", lambda stage, _recipe: ran.append(stage))
    assert cli.run_train(argparse.Namespace(stage="all", recipe=str(recipe))) == 0
    assert ran == ["sft", "student"]  # no teacher GRPO of the default 8B model
    ran.clear()
    cli.run_train(argparse.Namespace(stage="teacher", recipe=str(recipe)))
    assert ran == ["teacher"]  # a named stage runs even without its section
