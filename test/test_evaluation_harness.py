"""The evaluation harness: oracle = 1 on every split, baselines far lower, resumable runs,
full mode compares masks (not ids), the CLI, and the tiny HF model end to end."""

from __future__ import annotations

import dataclasses
import json

import pytest

from frs_ros.benchmark import SPLITS, generate_split
from frs_ros.cli import main
from frs_ros.evaluation import (
    LargestPredictor,
    OraclePredictor,
    RandomPredictor,
    evaluate,
)
from frs_ros.evaluation.harness import PREDICTIONS, peak_rss_bytes
from frs_ros.reasoning.protocol import model_parts
from frs_ros.twin import FrameTwin


@pytest.fixture(scope="module")
def splits():
    return {
        s: generate_split(s, 1, seed=11, negative_fraction=0.0, progress=False)
        + generate_split(s, 1, seed=12, negative_fraction=1.0, progress=False)
        for s in SPLITS
    }


def test_oracle_is_perfect_on_every_split(splits, tmp_path):
    for name, samples in splits.items():
        report = evaluate(samples, OraclePredictor(), tmp_path / name, progress=False, chart=False)
        total = report.metrics.overall()
        assert total["J&F"] == 1.0 and total["gIoU"] == 1.0 and total["cIoU"] == 1.0
        assert total["R"] == 1.0
        assert report.chain_failures == []


def test_baselines_score_far_lower(splits, tmp_path):
    samples = splits["test"]
    for predictor in (RandomPredictor(0), LargestPredictor()):
        total = evaluate(samples, predictor, tmp_path / predictor.name, progress=False).metrics
        assert total.overall()["J&F"] < 0.6
        assert total.overall()["R"] < 0.5  # they never abstain on negatives
    assert (tmp_path / "largest" / "jf.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "largest" / "metrics.md").read_text()
    assert "**gIoU**" in md and "**R**" in md
    assert "| largest | twin |" in (tmp_path / "largest" / "efficiency.md").read_text()


def test_oracle_replay_catches_a_tampered_chain(splits, tmp_path):
    s = next(s for s in splits["test"] if "<results>" in s.chain and not s.negative)
    bad = dataclasses.replace(s, chain=s.chain.replace('"ok":', '"ok" :', 1))
    report = evaluate([bad], OraclePredictor(), tmp_path, progress=False, chart=False)
    assert report.chain_failures == [s.id]


def test_model_parts_cut_out_the_results():
    chain = "<reason>r</reason><plan>[]</plan><results>{}</results><answer>{}</answer>"
    assert model_parts(chain) == ["<reason>r</reason><plan>[]</plan>", "<answer>{}</answer>"]


def test_resume_after_a_kill(splits, tmp_path):
    samples = splits["validation"]
    full = evaluate(samples, RandomPredictor(1), tmp_path / "full", progress=False, chart=False)
    part = tmp_path / "part"
    first = evaluate(samples, RandomPredictor(1), part, limit=5, progress=False, chart=False)
    assert first.n_new == 5
    path = part / PREDICTIONS
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]) + lines[4][:40])  # killed while writing line 5
    resumed = evaluate(samples, RandomPredictor(1), part, progress=False, chart=False)
    assert resumed.n_new == len(samples) - 4
    ids = [json.loads(x)["id"] for x in path.read_text().splitlines()]
    assert sorted(ids) == sorted(s.id for s in samples)  # each sample exactly once
    assert resumed.metrics.to_dict() == full.metrics.to_dict()


class _GroundTruthPerception:
    """Stands in for PerceptionPipeline on one sample: returns its ground-truth frames with
    other track ids, so only a mask comparison can score them."""

    def __init__(self, sample):
        self.frames = sample.twin.frames
        self.queue: list[FrameTwin] = []

    def reset(self):
        self.queue = list(self.frames)

    def process(self, frame, extra_labels=()):
        f = self.queue.pop(0)
        assert frame.rgb.shape == (f.height, f.width, 3)
        assert frame.depth.shape == (f.height, f.width) and frame.stamp == f.stamp
        objects = [o.with_id(o.id + 100) for o in f.objects]
        return FrameTwin(f.index, f.stamp, f.width, f.height, objects)


def test_full_mode_compares_masks_not_ids(splits, tmp_path):
    sample = next(s for s in splits["test"] if s.video and not s.negative)
    perception = _GroundTruthPerception(sample)
    twin_mode = evaluate([sample], LargestPredictor(), tmp_path / "a", progress=False)
    full = evaluate(
        [sample],
        LargestPredictor(),
        tmp_path / "b",
        mode="full",
        pipeline=perception,
        progress=False,
    )
    assert full.metrics.overall() == twin_mode.metrics.overall()
    with pytest.raises(ValueError, match="ground-truth ids"):
        evaluate([sample], OraclePredictor(), tmp_path / "c", mode="full", pipeline=perception)
    with pytest.raises(ValueError, match="mode must be"):
        evaluate([sample], OraclePredictor(), tmp_path / "d", mode="video")


def test_cli_generate_then_eval(tmp_path, capsys):
    data = tmp_path / "bench"
    generate = ["bench", "generate", "--out", str(data), "--n-per-cell", "1", "--splits", "test"]
    assert main([*generate, "--no-progress", "--size", "120x160"]) == 0
    assert "| spatial | 2 |" in capsys.readouterr().out
    out = tmp_path / "eval"
    assert main(["eval", str(data), "--method", "oracle", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "efficiency.json").read_text())["samples"] == 9
    assert main(["eval", str(data), "--method", "openai", "--out", str(tmp_path / "o")]) == 2
    assert "needs --endpoint" in capsys.readouterr().err
    assert main(["bench", "generate", "--out", str(data), "--size", "12"]) == 2


def test_peak_rss_is_measured():
    assert peak_rss_bytes() > 10 * 2**20


def test_tiny_random_qwen3_runs_through_the_harness(splits, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from frs_ros.evaluation import ReasonerPredictor
    from frs_ros.reasoning import ReasonerConfig
    from frs_ros.reasoning.runtime.hf import HFRuntime

    with pytest.warns(UserWarning, match="MEANINGLESS"):
        runtime = HFRuntime.tiny()
    predictor = ReasonerPredictor(runtime, ReasonerConfig(max_new_tokens=4), name="hf:tiny")
    samples = [s for s in splits["test"] if not s.negative and not s.video][:2]
    report = evaluate(samples, predictor, tmp_path, progress=False, chart=False)
    assert report.metrics.overall()["gIoU"] < 0.2  # random weights: near zero
    eff = report.efficiency
    assert eff["llm_params"] > 100_000 and eff["total_params"] == eff["llm_params"]
    assert eff["latency_ms_per_query"] > 0 and eff["throughput_fps"] > 0
    assert eff["tokens_per_query"] <= 4 and eff["samples"] == 2
    assert "| hf:tiny | twin |" in (tmp_path / "efficiency.md").read_text()


@pytest.mark.slow
def test_cli_refuses_to_resume_with_other_settings(tmp_path, capsys):
    """Killed after 3 samples (--limit), rerun with another seed: refused, naming the key;
    rerun with the same settings: resumed."""
    data = tmp_path / "bench"
    generate = ["bench", "generate", "--out", str(data), "--n-per-cell", "1", "--splits", "test"]
    assert main([*generate, "--no-progress", "--size", "64x64"]) == 0
    out = tmp_path / "eval"
    run = ["eval", str(data), "--method", "random", "--out", str(out), "--no-progress"]
    assert main([*run, "--limit", "3"]) == 0
    capsys.readouterr()
    assert main([*run, "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "seed: 0 -> 1" in err and len(err.splitlines()) == 1
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 3  # untouched
    assert main(run) == 0
    assert "(resumed: 3 samples" in capsys.readouterr().out


def test_default_eval_folder_is_named_after_its_settings(tmp_path):
    from frs_ros.cli import build_parser
    from frs_ros.evaluation.cli import default_out, eval_settings

    data = tmp_path / "test.jsonl"
    data.write_text("")

    def folder(*extra):
        args = build_parser().parse_args(["eval", str(data), "--method", "hf", *extra])
        return default_out(eval_settings(args, data))

    a, b = folder("--model", "Qwen/Qwen3-0.6B"), folder("--model", "Qwen/Qwen3-8B")
    assert a != b and a.name.startswith("hf-Qwen__Qwen3-0.6B-twin-")
    assert folder("--model", "Qwen/Qwen3-0.6B", "--prompt", "brief") != a
    assert folder("--model", "Qwen/Qwen3-0.6B") == a  # stable


def test_predictions_keep_the_rollout_text(splits, tmp_path):
    samples = splits["test"]
    evaluate(samples, OraclePredictor(), tmp_path / "o", progress=False, chart=False)
    records = [json.loads(line) for line in (tmp_path / "o" / PREDICTIONS).open()]
    by_id = {s.id: s for s in samples}
    assert records and all(r["rollout"] == by_id[r["id"]].chain for r in records)
    assert all("<answer>" in r["rollout"] for r in records)


def test_cli_eval_heldout_prints_confidence_intervals(tmp_path, capsys):
    out = tmp_path / "h"
    argv = ["eval", "heldout", "--method", "largest", "--out", str(out), "--no-progress"]
    assert main([*argv, "--limit", "40", "--bootstrap", "200"]) == 0
    printed = capsys.readouterr().out
    assert "95 % bootstrap confidence intervals** (200 resamples, seed 0)" in printed
    for scope in ("All", "Semantic", "Spatial", "Temporal"):
        assert f"| {scope} |" in printed
    rows = json.loads((out / "metrics_ci.json").read_text())["rows"]
    assert [r["scope"] for r in rows] == ["all", "semantic", "spatial", "temporal"]
    value, lo, hi = rows[0]["J"]
    assert lo <= value <= hi and hi - lo > 0.01  # a real spread, not a point
    assert (out / "metrics.md").read_text().count("bootstrap confidence intervals") == 1
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it before any work
        main(["eval", "heldout", "--bootstrap", "-1", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "must be at least 0" in capsys.readouterr().err
