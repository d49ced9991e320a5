"""Shipped LoRA adapters (``adapter: asset:NAME``): sha256-checked on load, and the shipped
student config (``--reasoner student``) on the README's example twin."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from frs_ros.reasoning import shipped
from frs_ros.reasoning.runtime import load_runtime
from frs_ros.training.config import LoraSettings
from frs_ros.training.model import load_policy, save_policy

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def assets(tmp_path, monkeypatch) -> Path:
    """A tiny-model LoRA adapter shipped into a temporary assets folder."""
    import torch

    policy, tokenizer = load_policy("tiny", LoraSettings(r=2, alpha=4, dropout=0.0))
    with torch.no_grad():  # non-zero B, so the adapter changes the logits
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.fill_(0.05)
    save_policy(policy, tokenizer, str(tmp_path / "trained"))
    monkeypatch.setattr(shipped, "ADAPTERS_DIR", tmp_path / "assets")
    shipped.ship_adapter(tmp_path / "trained", "toy")
    return tmp_path / "assets" / "toy"


def test_shipped_adapter_loads_by_name_and_changes_the_model(assets) -> None:
    import torch

    assert sorted(p.name for p in assets.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "sha256.json",
    ]
    assert shipped.shipped_adapters() == ["toy"]
    with_adapter = load_runtime({"kind": "hf", "model": "tiny", "adapter": "asset:toy"})
    plain = load_runtime({"kind": "hf", "model": "tiny"})
    ids = plain.tokenizer("<reason>a mug</reason>")["input_ids"]
    with torch.no_grad():
        a = with_adapter.model(input_ids=torch.tensor([ids])).logits
        b = plain.model(input_ids=torch.tensor([ids])).logits
    assert not torch.allclose(a, b)


def test_a_changed_adapter_file_is_refused(assets) -> None:
    weights = assets / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(shipped.AdapterChecksumError, match="sha256 of adapter_model"):
        load_runtime({"kind": "hf", "model": "tiny", "adapter": "asset:toy"})
    # a local directory with a sha256.json is checked the same way
    with pytest.raises(shipped.AdapterChecksumError, match="refusing to load"):
        load_runtime({"kind": "hf", "model": "tiny", "adapter": str(assets)})


def test_missing_files_and_unknown_names_are_refused(assets) -> None:
    (assets / "adapter_config.json").unlink()
    with pytest.raises(shipped.AdapterChecksumError, match=r"adapter_config\.json is missing"):
        shipped.resolve_adapter("asset:toy")
    with pytest.raises(FileNotFoundError, match=r"no shipped adapter 'asset:nope'.*toy"):
        shipped.resolve_adapter("asset:nope")
    with pytest.raises(FileNotFoundError, match="no shipped adapter"):
        shipped.resolve_adapter("asset:../toy")


def test_the_shipped_student_adapter_matches_its_checksums() -> None:
    names = shipped.shipped_adapters()
    assert {"student_smollm2", "student_smollm2_grpo"} <= set(names)
    for name in ("student_smollm2", "student_smollm2_grpo"):
        path = shipped.resolve_adapter(f"asset:{name}")
        cfg = json.loads((Path(path) / "adapter_config.json").read_text())
        assert cfg["peft_type"] == "LORA"
        size = sum(f.stat().st_size for f in Path(path).iterdir())
        assert size < 25 * 2**20  # small enough for the repository


GGUF = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
needs_base_weights = pytest.mark.skipif(
    not GGUF.is_file(),
    reason="the student's base weights are absent: frs models get smollm2-135m-instruct-gguf "
    "--dir models",
)


def _readme_answer(reasoner: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], str]:
    """(ids, rollout) of ``--reasoner NAME --prompt brief`` on the README's example."""
    from frs_ros.reasoning.engine import ReasonerConfig
    from frs_ros.segmenter import ReasoningSegmenter
    from frs_ros.twin.model import Twin

    monkeypatch.chdir(ROOT)  # the config names the GGUF relative to the working directory
    # served with the prompt it was trained with, as README's command does (--prompt brief);
    # a generous deadline, so a loaded machine does not turn the answer into `deadline`
    config = ReasonerConfig(prompt="brief", timeout_s=900)
    seg = ReasoningSegmenter.from_config(None, reasoner, config)
    twin = Twin.load(ROOT / "examples" / "kitchen_image" / "twin.json")
    answer = seg.ask("the thing I could read", twin=twin)
    assert answer.outcome == "answered", answer.reasoning
    return list(answer.ids), answer.result.transcript.rollout


@pytest.mark.slow
@needs_base_weights
def test_student_answers_the_readme_example_right(monkeypatch) -> None:
    """The shipped config (GGUF base + sha256-checked adapter, constrained, greedy) answers
    the book (id 6) on the README's example twin, as README.md says."""
    ids, rollout = _readme_answer("student", monkeypatch)
    assert ids == [6], rollout
    assert '"label": "book"' in rollout  # it found the book by its kind, not by chance


@pytest.mark.slow
@needs_base_weights
def test_student_on_the_cpu_runtime_writes_what_the_torch_runtime_writes(monkeypatch) -> None:
    """int8 ONNX of the merged student (converted once into the cache) decodes the same
    tool calls, results and answer as transformers on the dequantised GGUF + adapter; the
    free-text ``<reason>`` may differ by a word where int8 rounding flips a near tie."""
    pytest.importorskip("onnxruntime_genai")
    torch_ids, torch_rollout = _readme_answer("student_hf", monkeypatch)
    cpu_ids, cpu_rollout = _readme_answer("student", monkeypatch)
    assert cpu_ids == torch_ids
    assert cpu_rollout.split("</reason>", 1)[1] == torch_rollout.split("</reason>", 1)[1]


def test_student_config_resolves_by_name_as_the_cli_and_ros_give_it() -> None:
    from frs_ros.reasoning.runtime.config import (
        HFRuntimeConfig,
        OrtGenaiRuntimeConfig,
        runtime_config,
    )
    from frs_ros.reasoning.runtime.factory import reasoner_config_path
    from frs_ros.yaml_safe import load_yaml_mapping

    # --reasoner student (CLI) and reasoner_config: reasoner_student.yaml (ROS parameter)
    a, b = reasoner_config_path("student"), reasoner_config_path("reasoner_student.yaml")
    assert a == b and a.name == "reasoner_student.yaml"
    served = runtime_config(load_yaml_mapping(a, "reasoner config"))
    trained = runtime_config(load_yaml_mapping(reasoner_config_path("student_hf"), "x"))
    grpo = runtime_config(load_yaml_mapping(reasoner_config_path("student_grpo"), "x"))
    assert isinstance(served, OrtGenaiRuntimeConfig) and served.precision == "int8"
    assert isinstance(trained, HFRuntimeConfig)
    assert grpo == dataclasses.replace(served, adapter="asset:student_smollm2_grpo")
    for runtime in (served, trained):  # the same weights, decoded the same way
        assert runtime.model.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
        assert runtime.adapter is not None and runtime.constrained
        assert runtime.sampling.temperature == 0
        assert shipped.resolve_adapter(runtime.adapter).endswith("adapters/student_smollm2")
