"""Training queries reworded by a language model (frs_ros.benchmark.llm_reword,
``frs bench reword``): the check that a wording keeps its answer, and the resumable job.
The job runs here on the scripted runtime; the real model's wordings and counts are in
docs/training.md."""

from __future__ import annotations

import json

import pytest
import yaml

from frs_ros.benchmark import generate_split
from frs_ros.benchmark.llm_reword import (
    REWORDINGS,
    RewordConfig,
    check_rewording,
    choose,
    kinds_named,
    normalize,
    reword_samples,
)
from frs_ros.cli import main
from frs_ros.reasoning.runtime.base import ScriptedRuntime, ScriptExhaustedError
from frs_ros.samples import read_jsonl, write_jsonl


@pytest.mark.parametrize(
    ("template", "candidate"),
    [
        ("the phone below the mug", "which phone is underneath the mug"),
        ("the knife left of the pan", "show me the knives to the left of the pan"),
        ("the object nearest to the camera", "what is closest to me"),
        ("the object farthest from the camera", "the most distant item"),
        ("the largest thing I could eat", "the biggest piece of food"),
        ("what appeared after the start", "anything that showed up later on"),
        ("the fork that disappeared", "the fork that vanished"),
        ("what moved toward the tray", "what has been moving closer to the tray"),
        ("what can hold a drink", "'Is there something to drink from?'"),
    ],
)
def test_wordings_that_keep_the_answer_pass(template, candidate):
    assert check_rewording(template, candidate) is None


@pytest.mark.parametrize(
    ("template", "candidate", "reason"),
    [
        ("the phone below the mug", "the phone above the mug", "relation flipped (not above)"),
        ("the phone below the mug", "the phone near the mug", "relation dropped (not above)"),
        ("the knife left of the pan", "the knife to the right of the pan", "relation flipped"),
        ("the object nearest to the camera", "the farthest thing from me", "relation"),
        ("the smallest sharp thing", "the biggest sharp thing", "relation flipped"),
        ("what appeared after the start", "what disappeared", "relation"),
        ("the orange that appeared later", "the fruit that showed up later", "kind dropped"),
        ("what can hold a drink", "a cup to drink from", "kind added"),
        ("what moved toward the tray", "what is near the tray", "event dropped (moved)"),
        ("what was taken out of the drawer", "what is in the drawer", "event dropped (taken)"),
        ("the phone below the mug", "The phone below the mug.", "unchanged"),
        ("anything sharp", "sharp", "length"),
        ("anything sharp", "is there anything sharp that could hurt me badly or not", "length"),
        ("anything sharp", "anything pointy: a pin", "characters"),
    ],
)
def test_wordings_that_change_the_answer_are_rejected(template, candidate, reason):
    rejected = check_rewording(template, candidate)
    assert rejected is not None and rejected.startswith(reason)


def test_kinds_are_matched_as_words_in_singular_and_plural():
    assert kinds_named("two knives and the boxes by a cup") == {"knife", "box", "cup"}
    assert kinds_named("the cupboard next to the boxing glove") == set()
    assert normalize('  "Which  Mug is it?" ') == "which mug is it"
    assert normalize("Request: the mug on the left.") == "the mug on the left"  # prompt echoed


def test_choose_keeps_the_first_wording_that_passes():
    kept, reasons = choose(
        "the mug left of the bowl",
        ["the mug right of the bowl", "which mug is left of the bowl", "the mug on the left"],
    )
    assert kept == "which mug is left of the bowl"
    assert reasons == ["relation flipped (left)"]  # "right" said where "left" was
    assert choose("the mug left of the bowl", ["the bowl"]) == (None, ["kind dropped"])


def _wordings_for(samples, good: bool) -> list[str]:
    """One scripted wording per sample: a passing one (the template with "the" → "that"
    and a question prefix), or the template itself (rejected as unchanged)."""
    return [f"which is {s.query}" if good else s.query for s in samples]


def test_the_job_replaces_kept_wordings_and_keeps_scene_answer_and_chain(tmp_path):
    samples = generate_split("train", 1, seed=5, progress=False)
    runtime = ScriptedRuntime(_wordings_for(samples, good=True))
    report = reword_samples(
        samples, runtime, tmp_path, config=RewordConfig(fraction=1.0, candidates=1), progress=False
    )
    out = read_jsonl(tmp_path / "train.jsonl")
    assert [s.id for s in out] == [s.id for s in samples]
    for before, after in zip(samples, out, strict=True):
        assert after.query == f"which is {before.query}".lower()
        assert (after.gt_ids, after.chain, after.twin.to_dict()) == (
            before.gt_ids,
            before.chain,
            before.twin.to_dict(),
        )
        assert after.extra["template_query"] == before.query
        assert after.extra["reworded_by"] == "llm"
    assert sum(report.kept.values()) == len(samples) == sum(report.sent.values())
    assert "| all |" in (tmp_path / "reword_report.md").read_text()
    # the user turn carries the template query; every call stops at the line's end
    assert all(call.stop == ("\n",) for call in runtime.calls)
    assert samples[0].query in runtime.calls[0].text


def test_rejected_and_unsent_samples_keep_their_query(tmp_path):
    samples = generate_split("train", 1, seed=5, progress=False)
    config = RewordConfig(fraction=0.5, candidates=2, seed=1)
    runtime = ScriptedRuntime(["ok"] * 2 * len(samples))  # one word: always rejected
    report = reword_samples(samples, runtime, tmp_path, config=config, progress=False)
    sent = sum(report.sent.values())
    assert 0 < sent < len(samples)
    assert runtime.remaining == 2 * (len(samples) - sent)  # two draws for each sent sample
    assert sum(report.kept.values()) == 0 and report.reasons == {"length": 2 * sent}
    assert [s.query for s in read_jsonl(tmp_path / "train.jsonl")] == [s.query for s in samples]


def test_a_killed_job_resumes_without_asking_the_model_again(tmp_path):
    samples = generate_split("train", 1, seed=5, progress=False)
    config = RewordConfig(fraction=1.0, candidates=1)
    wordings = _wordings_for(samples, good=True)
    with pytest.raises(ScriptExhaustedError):  # the model "dies" after three samples
        reword_samples(samples, ScriptedRuntime(wordings[:3]), tmp_path, config=config)
    log = tmp_path / REWORDINGS
    with log.open("a") as fh:
        fh.write('{"id": "torn')  # killed in the middle of a line
    second = ScriptedRuntime(wordings[3:])
    report = reword_samples(samples, second, tmp_path, config=config, progress=False)
    assert second.remaining == 0 and report.n_new == len(samples) - 3
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == [
        s.id for s in samples
    ]
    queries = [s.query for s in read_jsonl(tmp_path / "train.jsonl")]
    assert queries == [w.lower() for w in wordings]


def test_config_bounds_are_checked():
    with pytest.raises(ValueError, match="fraction"):
        RewordConfig(fraction=1.5)
    with pytest.raises(ValueError, match="candidates"):
        RewordConfig(candidates=0)


def test_cli_rewords_a_file_with_a_configured_model(tmp_path, capsys):
    samples = generate_split("train", 1, seed=5, progress=False)[:4]
    data = write_jsonl(tmp_path / "in.jsonl", samples)
    model = tmp_path / "model.yaml"
    outputs = _wordings_for(samples, good=True)
    model.write_text(yaml.safe_dump({"runtime": {"kind": "scripted", "outputs": outputs}}))
    args = ["bench", "reword", str(data), "--out", str(tmp_path / "out")]
    assert main([*args, "--model-config", str(model), "--fraction", "1", "--candidates", "1"]) == 0
    assert "| all | 4 | 4 | 100% |" in capsys.readouterr().out
    assert read_jsonl(tmp_path / "out" / "train.jsonl")[0].query == outputs[0].lower()


def test_add_keeps_every_original_and_adds_copies_of_the_chosen_categories(tmp_path):
    samples = generate_split("train", 1, seed=5, progress=False)
    spatial = [s for s in samples if s.category == "spatial"]
    config = RewordConfig(fraction=1.0, candidates=1, categories=("spatial",), add=True)
    runtime = ScriptedRuntime(_wordings_for(spatial, good=True))
    report = reword_samples(samples, runtime, tmp_path, config=config, progress=False)
    assert runtime.remaining == 0 and set(report.sent) == {"spatial"}
    out = read_jsonl(tmp_path / "train.jsonl")
    by_id = {s.id: s for s in out}
    assert len(out) == len(samples) + len(spatial)
    for s in samples:
        assert by_id[s.id].query == s.query  # the original is kept as it was
    for s in spatial:
        copy = by_id[f"{s.id}-llm"]
        assert copy.query == f"which is {s.query}".lower()
        assert (copy.chain, copy.gt_ids) == (s.chain, s.gt_ids)
