"""Content digests in run manifests: ``frs eval --model DIR`` and training recipes whose
``model:`` is a local path notice weights changed in place; a digest is streamed and
remembered per (path, size, mtime), so a rerun does not rehash unchanged weights."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
import torch

from frs_ros.manifest import _content_digest, file_digest, local_digest
from frs_ros.samples import Sample, write_jsonl
from frs_ros.training.config import GRPOConfig, SFTConfig, stage_settings
from frs_ros.twin.synthetic import random_twin


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("FRS_CACHE_DIR", str(path))
    return path


def _rewrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_digest_is_remembered_per_path_size_and_mtime(tmp_path: Path, cache_dir: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"a" * 1000)
    first = file_digest(weights)
    assert (cache_dir / "file_digests.json").is_file()
    # same size and mtime: the remembered digest is used, the file is not read again
    _rewrite_keeping_size_and_mtime(weights, b"b" * 1000)
    assert file_digest(weights) == first
    # a new mtime (any ordinary write): hashed again, from the content
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert file_digest(weights) != first
    assert file_digest(weights) == _content_digest(weights, [weights])


def test_a_directory_digest_notices_any_file_changing(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.safetensors").write_bytes(b"x" * 64)
    before = file_digest(model)
    assert file_digest(model) == before
    (model / "sub" / "weights.safetensors").write_bytes(b"y" * 65)
    changed = file_digest(model)
    assert changed != before
    (model / "extra.bin").write_bytes(b"")
    assert file_digest(model) != changed


def test_hashing_streams_a_large_file_and_a_rerun_does_not_rehash(tmp_path: Path) -> None:
    big = tmp_path / "big.gguf"
    with big.open("wb") as f:
        f.truncate(256 << 20)  # sparse: 256 MiB without using the disk
    tracemalloc.start()
    t0 = time.perf_counter()
    digest = file_digest(big)
    cold = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20  # streamed, not read whole
    t0 = time.perf_counter()
    assert file_digest(big) == digest
    warm = time.perf_counter() - t0
    assert warm < cold / 5 and warm < 0.5, (cold, warm)


def test_local_digest_is_for_local_paths_only(tmp_path: Path) -> None:
    assert local_digest("Qwen/Qwen3-0.6B") is None
    assert local_digest("tiny") is None
    assert local_digest(None) is None
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert local_digest(str(gguf)) == file_digest(gguf)


def test_training_manifests_record_local_models_by_content(tmp_path: Path) -> None:
    model = tmp_path / "base"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"1" * 32)
    teacher = tmp_path / "teacher.gguf"
    teacher.write_bytes(b"GGUF 1")
    cfg = GRPOConfig(model=str(model), judge={"runtime": {"kind": "hf", "model": str(teacher)}})
    settings = stage_settings("teacher", cfg)
    assert settings["model_sha256"] == file_digest(model)
    assert settings["judge_runtime_model_sha256"] == file_digest(teacher)
    sft = stage_settings("sft", SFTConfig(model="tiny", teacher_model=str(model)))
    assert "model_sha256" not in sft  # a name, not a path
    assert sft["teacher_model_sha256"] == file_digest(model)
    (model / "model.safetensors").write_bytes(b"2" * 33)
    assert stage_settings("teacher", cfg)["model_sha256"] != settings["model_sha256"]
    assert "model_sha256" not in stage_settings("teacher", GRPOConfig(model="Qwen/Qwen3-8B"))


def _tiny_model_dir(path: Path, seed: int) -> None:
    from frs_ros.reasoning.runtime.hf import tiny_qwen3
    from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

    tokenizer = load_tiny_tokenizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tiny_qwen3(tokenizer, seed=seed)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))


@pytest.mark.slow
def test_frs_eval_resume_refuses_a_model_dir_whose_weights_changed(tmp_path: Path) -> None:
    model = tmp_path / "model"
    _tiny_model_dir(model, seed=0)
    data = tmp_path / "test.jsonl"
    twin = random_twin(2, size=(16, 16), seed=1)
    write_jsonl(data, [Sample.from_ids(f"s{i}", twin, "the object", [1]) for i in range(2)])
    out = tmp_path / "eval"
    # the command reads as typed, flags beside their values:
    # fmt: off
    cmd = [
        sys.executable, "-m", "frs_ros.cli", "eval", str(data), "--method", "hf",
        "--model", str(model), "--out", str(out), "--max-new-tokens", "4",
        "--bootstrap", "0", "--no-progress", "--limit",
    ]
    # fmt: on
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FRS_CACHE_DIR": str(tmp_path / "cache")}

    def run(limit: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cmd, limit], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
        )

    first = run("1")
    assert first.returncode == 0, first.stderr[-2000:]
    same = run("2")  # unchanged weights: resumes
    assert same.returncode == 0, same.stderr[-2000:]
    assert "1 samples were already scored" in same.stdout
    torch.manual_seed(1)
    _tiny_model_dir(model, seed=1)  # other weights, same directory
    changed = run("2")
    assert changed.returncode == 2, changed.stderr[-2000:]
    last = changed.stderr.strip().splitlines()[-1]
    assert f"{out} was made with other settings" in last
    assert "model_sha256" in last


def test_frs_eval_config_method_records_the_runtime_weights(tmp_path: Path) -> None:
    from frs_ros.evaluation.cli import _runtime_weights

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF v1")
    config = tmp_path / "reasoner.yaml"
    config.write_text(f"runtime: {{kind: ort-genai, model: {gguf}}}\n")
    first = _runtime_weights(str(config))
    assert first == {"runtime_model_sha256": file_digest(gguf)}
    gguf.write_bytes(b"GGUF v2 -- other weights")
    assert _runtime_weights(str(config)) != first
    config.write_text("runtime: {kind: openai, model: served-name}\n")
    assert _runtime_weights(str(config)) == {}
