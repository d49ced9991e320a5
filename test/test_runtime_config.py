"""The typed ``runtime:`` section (frs_ros.reasoning.runtime.config): every shipped config
and recipe parses into its dataclass, and a bad section is one error naming the field,
raised before any model loads (parsing only: no runtime is built here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from frs_ros.paths import config_path
from frs_ros.reasoning.runtime.base import Sampling
from frs_ros.reasoning.runtime.config import (
    DEFAULT_CONTEXT,
    RUNTIME_KINDS,
    Endpoint,
    GrammarBounds,
    HFRuntimeConfig,
    OpenAIRuntimeConfig,
    OrtGenaiRuntimeConfig,
    ScriptedRuntimeConfig,
    runtime_config,
)
from frs_ros.reasoning.runtime.factory import load_runtime
from frs_ros.training.config import load_recipe
from frs_ros.yaml_safe import load_yaml_mapping

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(config_path().glob("reasoner*.yaml"))


def test_the_kinds_are_the_documented_four() -> None:
    assert sorted(RUNTIME_KINDS) == ["hf", "openai", "ort-genai", "scripted"]
    assert all(cls.kind == kind for kind, cls in RUNTIME_KINDS.items())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_reasoner_config_parses_into_its_dataclass(path: Path) -> None:
    raw = load_yaml_mapping(path, "reasoner config")
    cfg = runtime_config(raw, f"reasoner config {path}")
    assert isinstance(cfg, RUNTIME_KINDS[raw["runtime"]["kind"]])
    # every key written in the file reached its field, nested sections included
    for key, value in raw["runtime"].items():
        got = getattr(cfg, key)
        if isinstance(value, dict):
            assert {k: getattr(got, k) for k in value} == value, key
        else:
            assert got == value, key


def test_shipped_configs_hold_what_they_say() -> None:
    def parsed(name: str) -> Any:
        return runtime_config(load_yaml_mapping(config_path(name), "reasoner config"))

    tiny = parsed("reasoner_tiny.yaml")
    assert isinstance(tiny, HFRuntimeConfig) and tiny.constrained
    assert tiny.grammar == GrammarBounds(max_reason_chars=8, max_calls=1, max_string_chars=8)
    assert tiny.sampling == Sampling(seed=0)
    cpu = parsed("reasoner_cpu.yaml")
    assert isinstance(cpu, OrtGenaiRuntimeConfig)
    assert (cpu.threads, cpu.context, cpu.grammar) == (None, 4096, None)
    served = parsed("reasoner_openai.yaml")
    assert isinstance(served, OpenAIRuntimeConfig) and served.server == "vllm"
    assert served.endpoint == Endpoint(url="http://127.0.0.1:8000/v1", max_retries=3)


def test_parsing_imports_no_torch() -> None:
    """Reading a config is light: the torch-backed runtimes are imported when one is built."""
    script = (
        "import sys\n"
        "from frs_ros.paths import config_path\n"
        "from frs_ros.reasoning.runtime.config import runtime_config\n"
        "from frs_ros.yaml_safe import load_yaml_mapping\n"
        "for p in config_path().glob('reasoner*.yaml'):\n"
        "    runtime_config(load_yaml_mapping(p, 'reasoner config'))\n"
        "heavy = ('torch', 'transformers', 'onnxruntime_genai')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "recipe", sorted((ROOT / "training" / "recipes").glob("*.yaml")), ids=lambda p: p.name
)
def test_runtime_sections_of_the_shipped_recipes_parse(recipe: Path) -> None:
    r = load_recipe(recipe)
    sections = {
        "sft.teacher_runtime": r.sft.teacher_runtime,
        "teacher.judge.runtime": r.teacher.judge.get("runtime"),
        "student.judge.runtime": r.student.judge.get("runtime"),
    }
    for section, spec in sections.items():
        if spec:
            cfg = runtime_config(spec, f"recipe {recipe}", section)
            assert cfg.kind == spec["kind"]


def test_defaults_are_the_runtimes_defaults() -> None:
    assert runtime_config({"kind": "ort-genai", "model": "m"}).context == DEFAULT_CONTEXT
    hf = runtime_config({"kind": "hf"})
    assert isinstance(hf, HFRuntimeConfig)
    assert (hf.model, hf.device, hf.sampling, hf.grammar) == (
        "Qwen/Qwen3-0.6B",
        "cpu",
        Sampling(),
        None,
    )
    # null sections: sampling keeps its defaults, grammar stays unset
    hf = runtime_config({"kind": "hf", "sampling": None, "grammar": None})
    assert isinstance(hf, HFRuntimeConfig) and hf.sampling == Sampling() and hf.grammar is None
    # a grammar section sets the bounds it names, the others keep the grammar's defaults
    from frs_ros.reasoning.grammar import ProtocolGrammar

    hf = runtime_config({"kind": "hf", "constrained": True, "grammar": {"max_calls": 2}})
    assert isinstance(hf, HFRuntimeConfig) and hf.grammar is not None
    default = ProtocolGrammar()
    assert (hf.grammar.max_calls, hf.grammar.max_reason_chars, hf.grammar.max_string_chars) == (
        2,
        default.max_reason_chars,
        default.max_string_chars,
    )
    scripted = runtime_config({"runtime": {"kind": "scripted", "outputs": ["a", "b"]}})
    assert scripted == ScriptedRuntimeConfig(outputs=("a", "b"))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        # a wrong type names the field and what it got
        (
            {"kind": "ort-genai", "model": "m", "threads": "two"},
            "runtime.threads: Input should be a valid integer (got 'two')",
        ),
        ({"kind": "hf", "thinking": "yes"}, "runtime.thinking: Input should be a valid boolean"),
        ({"kind": "hf", "sampling": {"seed": "1"}}, "runtime.sampling.seed"),
        ({"kind": "scripted", "outputs": "hi"}, "runtime.outputs"),
        # an unknown key, at the top of the section and nested
        ({"kind": "hf", "modle": "x"}, "unknown key(s) ['modle'] in runtime"),
        ({"kind": "scripted", "sampling": {}}, "unknown key(s) ['sampling'] in runtime"),
        (
            {"kind": "openai", "model": "m", "endpoint": {"url": "http://h/v1", "retries": 1}},
            "unknown key(s) ['retries'] in runtime.endpoint",
        ),
        # ranges
        ({"kind": "hf", "sampling": {"top_p": 0}}, "runtime.sampling: top_p must be in (0, 1]"),
        ({"kind": "hf", "sampling": {"temperature": -1}}, "temperature must be >= 0"),
        ({"kind": "ort-genai", "model": "m", "context": 1}, "runtime.context"),
        ({"kind": "ort-genai", "model": "m", "threads": 0}, "runtime.threads"),
        ({"kind": "hf", "draft_tokens": -1}, "runtime.draft_tokens"),
        (
            {"kind": "hf", "constrained": True, "grammar": {"max_calls": 0}},
            "runtime.grammar.max_calls: Input should be greater than or equal to 1",
        ),
        (
            {"kind": "openai", "model": "m", "endpoint": {"url": "http://h/v1", "timeout_s": 0}},
            "runtime.endpoint.timeout_s",
        ),
        ({"kind": "openai", "model": "m", "endpoint": {"url": "u"}, "server": "tgi"}, "server"),
        # grammar bounds only bound a constrained runtime
        ({"kind": "hf", "grammar": {"max_calls": 1}}, "set constrained: true"),
        ({"kind": "ort-genai", "model": "m", "grammar": {}}, "set constrained: true"),
        # required keys and the kind
        ({"kind": "openai", "model": "m"}, "needs runtime.endpoint.url"),
        ({"kind": "openai", "endpoint": {"url": "u"}}, "needs runtime.model"),
        ({"kind": "ort-genai"}, "needs runtime.model"),
        # an adapter is merged when a GGUF is converted, never into an exported directory
        ({"kind": "ort-genai", "model": "models/x-int4", "adapter": "a"}, "only to a .gguf"),
        ({"kind": "ort-genai", "model": "models/x-int4", "precision": "int8"}, "only to a .gguf"),
        ({"kind": "ort-genai", "model": "m.gguf", "precision": "int2"}, "runtime.precision"),
        ({"kind": "llamafile"}, "runtime.kind must be one of"),
        ({"model": "m"}, "runtime.kind must be one of"),
    ],
)
def test_a_bad_section_is_one_line_naming_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        runtime_config(section, "reasoner config x.yaml")
    text = str(err.value)
    assert text.startswith("reasoner config x.yaml: ") and "\n" not in text
    assert message in text


def test_a_bad_file_is_named_and_fails_before_any_model_loads(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    # a model that does not exist: loading it would fail otherwise, and later
    path.write_text("runtime:\n  kind: hf\n  model: no/such-model\n  threads: 2\n")
    with pytest.raises(
        ValueError, match=rf"reasoner config {path}: unknown key\(s\) \['threads'\]"
    ):
        load_runtime(path)
    path.write_text("runtime: {kind: ort-genai, model: /nowhere, threads: two}\n")
    with pytest.raises(ValueError, match=rf"{path}: runtime.threads: Input should be a valid"):
        load_runtime(path)


def test_device_overrides_only_the_hf_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from frs_ros.reasoning.runtime import factory

    built: list[Any] = []
    monkeypatch.setattr(factory, "build_runtime", built.append)
    load_runtime({"kind": "hf", "model": "tiny"}, device="cuda:1")
    load_runtime({"kind": "scripted"}, device="cuda:1")
    assert isinstance(built[0], HFRuntimeConfig) and built[0].device == "cuda:1"
    assert built[1] == ScriptedRuntimeConfig()


def test_ort_genai_threads_are_always_set(monkeypatch):
    """onnxruntime-genai's own default ran ~2x slower than explicit threads (docs/cpu.md):
    ``threads: null`` must become one thread per CPU in the affinity mask, never unset."""
    from frs_ros.reasoning.runtime import ort_genai

    monkeypatch.setattr(ort_genai.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    session = ort_genai.config_overlay(2048, None)["model"]["decoder"]["session_options"]
    assert session == {"intra_op_num_threads": 3, "inter_op_num_threads": 1}
    overlay = ort_genai.config_overlay(2048, 1)
    assert overlay["model"]["decoder"]["session_options"]["intra_op_num_threads"] == 1
    assert overlay["search"] == {"max_length": 2048}
    with pytest.raises(ValueError, match="threads must be >= 1"):
        ort_genai.config_overlay(2048, 0)
