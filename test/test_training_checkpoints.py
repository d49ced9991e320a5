"""Resume despite damage on disk: a corrupt newest checkpoint falls back to the one before
(with a warning naming the file) and still reaches the uninterrupted run's weights; a
garbage optimizer file with nothing to fall back to is a clear error naming it (exit 2 from
``frs train``); a torn last line of metrics.jsonl is dropped and its step re-run."""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
import yaml

from frs_ros.samples import Sample, write_jsonl
from frs_ros.training.config import OptimSettings
from frs_ros.training.loop import CheckpointError, Trainer, read_metrics
from frs_ros.twin.synthetic import random_twin

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4
X = torch.linspace(-1, 1, 8 * 3).reshape(8, 3)
Y = X @ torch.tensor([0.5, -1.0, 2.0]) + 0.25


def _trainer(out: Path) -> Trainer:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)

    def loss_fn(batch: Sequence[int], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        idx = torch.tensor(list(batch))
        pred = model(X[idx]).squeeze(-1)
        return torch.nn.functional.mse_loss(pred, Y[idx]), {}

    opt = OptimSettings(
        learning_rate=0.1, max_steps=STEPS, save_steps=1, save_total_limit=10, batch_size=2
    )
    return Trainer(model, opt, len(X), out, loss_fn, name="t")


def _weights(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.unwrapped().parameters()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[torch.Tensor]:
    trainer = _trainer(tmp_path_factory.mktemp("ref"))
    trainer.train()
    return _weights(trainer)


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.bin", "trainer_state.json"])
def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path,
    reference: list[torch.Tensor],
    damaged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _trainer(tmp_path).train(stop_after=3)  # killed after step 3
    bad = tmp_path / "checkpoints" / "step-3" / damaged
    assert bad.is_file()
    bad.write_bytes(b"\x00garbage, not a checkpoint file" * 7)
    trainer = _trainer(tmp_path)
    with caplog.at_level(logging.WARNING, logger="frs_ros.training.loop"):
        result = trainer.train()
    assert result.resumed_from == 2
    assert str(bad) in caplog.text
    assert "weights_only" not in caplog.text
    for got, want in zip(_weights(trainer), reference, strict=True):
        assert torch.equal(got, want)  # the steps after the good checkpoint were redone
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4]


def test_a_garbage_optimizer_file_with_no_fallback_is_an_error_naming_it(tmp_path: Path) -> None:
    _trainer(tmp_path).train(stop_after=1)
    bad = tmp_path / "checkpoints" / "step-1" / "optimizer.bin"
    bad.write_bytes(b"PK\x03\x04 garbage that is not a zip archive" * 3)
    with pytest.raises(CheckpointError) as info:
        _trainer(tmp_path).train()
    message = str(info.value)
    assert f"{bad}: not a torch checkpoint file" in message
    assert "weights_only" not in message
    assert "\n" not in message
    assert (tmp_path / "checkpoints" / "step-1").is_dir()  # nothing was deleted


def test_a_torn_last_metrics_line_is_dropped_and_its_step_redone(
    tmp_path: Path, reference: list[torch.Tensor], caplog: pytest.LogCaptureFixture
) -> None:
    _trainer(tmp_path).train(stop_after=2)
    log_path = tmp_path / "metrics.jsonl"
    with log_path.open("a") as f:  # killed while writing step 3's row
        f.write('{"step": 3, "lr": 0.0')
    trainer = _trainer(tmp_path)
    with caplog.at_level(logging.WARNING, logger="frs_ros.training.loop"):
        result = trainer.train()
    assert result.resumed_from == 2
    assert "metrics.jsonl line 3 is unreadable" in caplog.text
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for got, want in zip(_weights(trainer), reference, strict=True):
        assert torch.equal(got, want)


@pytest.mark.slow
def test_frs_train_exits_2_naming_a_garbage_optimizer_file(tmp_path: Path) -> None:
    doc = copy.deepcopy(yaml.safe_load((ROOT / "training/recipes/tiny.yaml").read_text()))
    train = tmp_path / "samples.jsonl"
    write_jsonl(train, [Sample.from_ids("a", random_twin(1, size=(16, 16), seed=1), "it", [1])])
    doc["teacher"].update(train_file=str(train), output_dir=str(tmp_path / "teacher"))
    doc["teacher"]["optim"].update(max_steps=2, save_steps=1)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    cmd = [sys.executable, "-m", "frs_ros.cli", "train", "teacher", "--recipe", str(recipe)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    checkpoints = tmp_path / "teacher" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-1", "step-2"]
    for step in ("step-1", "step-2"):
        (checkpoints / step / "optimizer.bin").write_bytes(b"\x80\x04garbage" * 9)
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert again.returncode == 2, again.stderr[-2000:]
    last = again.stderr.strip().splitlines()[-1]
    assert f"{checkpoints / 'step-2' / 'optimizer.bin'}: not a torch checkpoint file" in last
    assert f"{checkpoints / 'step-1' / 'optimizer.bin'}" in last
    assert "weights_only" not in again.stderr
