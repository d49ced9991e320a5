"""The frozen held-out set: its hash, its composition, that the generator reproduces it
(``frs bench generate --heldout``, a real subprocess), that no train scene is in it, and
the hand-written reworded set built on it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter

import pytest

from frs_ros.benchmark.generator import GENERATOR_VERSION, generate_split
from frs_ros.benchmark.heldout import (
    HELDOUT_FILE,
    HeldoutSpec,
    heldout_text,
    load_heldout,
    load_reworded,
    sha256_text,
)
from frs_ros.metrics import CATEGORIES, LEVELS
from frs_ros.reasoning.few_shot import FEW_SHOT_ASSET
from frs_ros.twin import Twin


@pytest.fixture(scope="module")
def heldout():
    return load_heldout()


def test_committed_file_matches_the_frozen_hash():
    spec = HeldoutSpec.load()
    assert sha256_text(heldout_text()) == spec.sha256
    assert HELDOUT_FILE.stat().st_size < 400_000  # small on disk: gzipped compact JSON


def test_composition(heldout):
    spec = HeldoutSpec.load()
    assert len(heldout) == spec.n_samples >= 150
    cells = Counter((s.category, s.level) for s in heldout)
    assert set(cells) == {(c, lv) for c in CATEGORIES for lv in LEVELS}
    assert min(cells.values()) >= 15
    negatives = sum(s.negative for s in heldout)
    assert negatives / len(heldout) >= 0.25
    for c in CATEGORIES:  # negatives and positives in every category
        assert 0 < sum(s.negative for s in heldout if s.category == c) < cells[(c, 1)] * 3
    assert all(s.video for s in heldout if s.category == "temporal")
    assert any(s.video for s in heldout if s.category != "temporal")
    assert all(not s.gt for s in heldout if s.negative)
    assert all(s.gt and s.chain for s in heldout if not s.negative)
    assert all(s.split == "test" for s in heldout)


@pytest.mark.slow
def test_bench_generate_heldout_reproduces_the_frozen_file(tmp_path):
    spec = HeldoutSpec.load()
    cmd = [sys.executable, "-m", "frs_ros.cli", "bench", "generate", "--heldout"]
    run = subprocess.run(
        [*cmd, "--out", str(tmp_path), "--no-progress"], capture_output=True, text=True
    )
    if spec.generator_version != GENERATOR_VERSION:
        # a new generator may make other samples; the committed file stays the held-out set
        assert run.returncode == 2 and "no longer reproduces" in run.stderr
        return
    assert run.returncode == 0, run.stderr
    written = (tmp_path / "heldout.jsonl").read_text(encoding="utf-8")
    assert hashlib.sha256(written.encode()).hexdigest() == spec.sha256
    assert written == heldout_text()


def _twin_key(twin) -> str:
    return hashlib.sha256(json.dumps(twin.to_dict(), sort_keys=True).encode()).hexdigest()


@pytest.mark.slow
def test_disjoint_from_train_scenes(heldout):
    spec = HeldoutSpec.load()
    train = []
    for seed in sorted({0, spec.seed}):  # the default seed and the held-out set's own
        train += generate_split("train", 2, seed=seed, progress=False)
    few_shot = [json.loads(line) for line in FEW_SHOT_ASSET.read_text().splitlines()]
    train_scenes = {s.scene_id for s in train}
    train_twins = {_twin_key(s.twin) for s in train}
    train_pairs = {(s.query, _twin_key(s.twin)) for s in train}
    train_pairs |= {(d["query"], _twin_key(Twin.from_dict(d["twin"]))) for d in few_shot}
    assert train_twins and all(s.scene_id.startswith("train/") for s in train)
    for s in heldout:
        key = _twin_key(s.twin)
        assert s.scene_id not in train_scenes
        assert key not in train_twins
        assert (s.query, key) not in train_pairs
    assert len({_twin_key(s.twin) for s in heldout}) == len(heldout)  # no scene twice


@pytest.mark.slow
def test_reworded_set_keeps_scenes_and_answers_in_new_words(heldout):
    reworded = load_reworded(heldout)
    assert 30 <= len(reworded) <= 40
    by_id = {s.id: s for s in heldout}
    template_queries = {s.query for s in heldout}
    template_queries |= {s.query for s in generate_split("train", 3, seed=0, progress=False)}
    for s in reworded:
        src = by_id[s.extra["source"]]
        assert s.twin is src.twin and s.gt == src.gt and s.gt_ids == src.gt_ids
        assert s.query not in template_queries  # worded as no template words it
        assert (s.category, s.level, s.negative) == (src.category, src.level, src.negative)
    assert {(s.category, s.level) for s in reworded} == {
        (c, lv) for c in CATEGORIES for lv in LEVELS
    }
    assert sum(s.negative for s in reworded) / len(reworded) >= 0.25
    assert len({s.id for s in reworded}) == len(reworded)


@pytest.mark.slow
def test_frs_eval_reworded_with_the_oracle(tmp_path):
    out = tmp_path / "rw"
    cmd = [sys.executable, "-m", "frs_ros.cli", "eval", "reworded", "--method", "oracle"]
    run = subprocess.run([*cmd, "--out", str(out), "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "| All | 27 / 9 | 1.000 [1.000, 1.000]" in run.stdout
    records = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    assert len(records) == len(load_reworded()) and all(r["rollout"] for r in records)
