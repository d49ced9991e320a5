"""The GGUF -> int4 ort-genai conversion cache: key, reuse, rebuild of broken entries.

The conversion is the real ``frs export-cpu`` route on the random tiny model, run once
and copied by each conversion the cache asks for; the GGUF file stands in as bytes, since
only its content keys the cache. The real route on a real GGUF file is measured in
docs/cpu.md.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime_genai")

from frs_ros.reasoning.runtime.export_cpu import convert
from frs_ros.reasoning.runtime.gguf_cache import (
    CACHE_ENV,
    CACHE_MANIFEST,
    cache_root,
    converted_model,
    file_key,
)
from frs_ros.reasoning.runtime.hf import ModelNotAvailableError

pytestmark = pytest.mark.slow  # module fixtures build models or export graphs


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real conversion of the tiny model; the converters below copy it."""
    out = tmp_path_factory.mktemp("tiny") / "int4"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert("tiny", out, precision="int4")
    return out


class TinyConverter:
    """Writes the tiny model's conversion (whatever the source file) and counts its calls."""

    def __init__(self, export: Path, fail: bool = False) -> None:
        self.export = export
        self.calls: list[Path] = []
        self.adapters: list[Path | None] = []
        self.all_logits: list[bool] = []
        self.fail = fail

    def __call__(
        self, source: Path, out: Path, precision: str, adapter: Path | None, all_logits: bool
    ) -> None:
        self.calls.append(source)
        self.adapters.append(adapter)
        self.all_logits.append(all_logits)
        shutil.copytree(self.export, out)
        if self.fail:  # the files are there, but the conversion did not finish
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def converted(
    tmp_path_factory: pytest.TempPathFactory, tiny_export: Path
) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("cache")
    gguf = tmp_path_factory.mktemp("models") / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    conv = TinyConverter(tiny_export)
    lines: list[str] = []
    entry = converted_model(gguf, root=root, converter=conv, log=lines.append)
    assert len(conv.calls) == 1
    assert lines[0].startswith("converting model.gguf to int4 ONNX") and "once" in lines[0]
    assert lines[1].startswith("converted model.gguf in ") and str(entry) in lines[1]
    return root, gguf, tiny_export


def test_key_is_content_sha256_and_size(converted: tuple[Path, Path, Path]) -> None:
    root, gguf, _ = converted
    import hashlib

    key = file_key(gguf, root=root)
    assert key.sha256 == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert key.size == gguf.stat().st_size
    entry = root / "ort-genai" / key.entry_name("int4")
    manifest = json.loads((entry / CACHE_MANIFEST).read_text())
    assert (manifest["sha256"], manifest["size"], manifest["precision"]) == (
        key.sha256,
        key.size,
        "int4",
    )


def test_second_call_reuses_without_converting(
    converted: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, gguf, export = converted
    conv = TinyConverter(export)
    lines: list[str] = []
    first = converted_model(gguf, root=root, converter=conv, log=lines.append)
    # a copy under another name has the same content: the same entry
    copy = tmp_path / "renamed.gguf"
    copy.write_bytes(gguf.read_bytes())
    assert converted_model(copy, root=root, converter=conv, log=lines.append) == first
    assert conv.calls == [] and lines == []


def test_changed_file_gets_its_own_entry(
    converted: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, gguf, export = converted
    other = tmp_path / "other.gguf"
    other.write_bytes(gguf.read_bytes() + b"x")
    conv = TinyConverter(export)
    entry = converted_model(other, root=root, converter=conv)
    assert conv.calls == [other.resolve()]
    assert entry != converted_model(gguf, root=root, converter=conv)
    assert len(conv.calls) == 1


def test_adapter_content_is_part_of_the_key(
    converted: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, gguf, export = converted
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"weights v1")
    conv = TinyConverter(export)
    lines: list[str] = []
    merged = converted_model(gguf, adapter=adapter, root=root, converter=conv, log=lines.append)
    base = converted_model(gguf, root=root, converter=conv)
    assert merged != base and conv.adapters == [adapter]  # the base entry was reused
    assert "with the adapter" in lines[0] and str(adapter) in lines[0]
    manifest = json.loads((merged / CACHE_MANIFEST).read_text())
    assert manifest["adapter"] == str(adapter) and len(manifest["adapter_sha256"]) == 64
    assert converted_model(gguf, adapter=adapter, root=root, converter=conv) == merged
    assert len(conv.calls) == 1  # same base, same adapter: a hit
    (adapter / "adapter_model.safetensors").write_bytes(b"weights v2")  # retrained
    retrained = converted_model(gguf, adapter=adapter, root=root, converter=conv)
    assert retrained not in (merged, base) and len(conv.calls) == 2


def test_shipped_adapter_is_checked_before_converting(tmp_path: Path, tiny_export: Path) -> None:
    from frs_ros.reasoning.shipped import shipped_adapters

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF shipped")
    conv = TinyConverter(tiny_export)
    name = shipped_adapters()[0]
    entry = converted_model(gguf, adapter=f"asset:{name}", root=tmp_path / "c", converter=conv)
    assert conv.adapters[0] is not None and conv.adapters[0].name == name
    assert name in json.loads((entry / CACHE_MANIFEST).read_text())["adapter"]
    with pytest.raises(FileNotFoundError, match="no shipped adapter"):
        converted_model(gguf, adapter="asset:nope", root=tmp_path / "c", converter=conv)


@pytest.mark.parametrize("damage", ["manifest", "onnx", "garbage-manifest", "other-sha"])
def test_broken_entry_is_rebuilt(tmp_path: Path, tiny_export: Path, damage: str) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + damage.encode())
    conv = TinyConverter(tiny_export)
    entry = converted_model(gguf, root=tmp_path / "c", converter=conv)
    if damage == "manifest":
        (entry / CACHE_MANIFEST).unlink()
    elif damage == "onnx":
        (entry / "model.onnx").unlink()
    elif damage == "garbage-manifest":
        (entry / CACHE_MANIFEST).write_text("{not json")
    else:
        manifest = json.loads((entry / CACHE_MANIFEST).read_text())
        manifest["sha256"] = "0" * 64
        (entry / CACHE_MANIFEST).write_text(json.dumps(manifest))
    assert converted_model(gguf, root=tmp_path / "c", converter=conv) == entry
    assert len(conv.calls) == 2
    assert (entry / "model.onnx").is_file() and (entry / CACHE_MANIFEST).is_file()


def test_interrupted_conversion_leaves_nothing_and_next_run_builds(
    tmp_path: Path, tiny_export: Path
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF interrupted")
    root = tmp_path / "c"
    with pytest.raises(KeyboardInterrupt):
        converted_model(gguf, root=root, converter=TinyConverter(tiny_export, fail=True))
    assert list((root / "ort-genai").iterdir()) == [
        p for p in (root / "ort-genai").iterdir() if p.suffix == ".lock"
    ]
    conv = TinyConverter(tiny_export)
    entry = converted_model(gguf, root=root, converter=conv)
    assert len(conv.calls) == 1 and (entry / CACHE_MANIFEST).is_file()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="frs models get NAME"):
        converted_model(tmp_path / "absent.gguf", root=tmp_path, converter=TinyConverter(tmp_path))


def test_cache_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "frs_ros"


def test_reasoner_config_loads_the_cached_conversion(
    converted: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``kind: ort-genai`` with a ``.gguf`` model loads the cache entry (no conversion)."""
    from frs_ros.reasoning.runtime import gguf_cache
    from frs_ros.reasoning.runtime.factory import load_runtime
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    root, gguf, _ = converted
    monkeypatch.setenv(CACHE_ENV, str(root))

    def refuse(*_: object) -> None:
        raise AssertionError("a cached GGUF must not be converted again")

    monkeypatch.setattr(gguf_cache, "_default_converter", refuse)
    rt = load_runtime({"kind": "ort-genai", "model": str(gguf), "threads": 1, "context": 512})
    assert isinstance(rt, OrtGenaiRuntime)
    assert rt.model_dir == root / "ort-genai" / file_key(gguf, root=root).entry_name("int4")
    assert rt.parameter_count is not None and rt.parameter_count > 100_000  # recorded by convert
    out = rt.complete(rt.format_prompt("s", "q"), stop=["</answer>"], max_new_tokens=3)
    assert out.n_tokens == 3
    assert capsys.readouterr().err == ""


def test_reasoner_config_converts_a_new_gguf_once_and_says_so(
    tiny_export: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first load of a GGUF reasoner config converts (said on stderr, with its
    duration); the second loads the cache silently."""
    from frs_ros.reasoning.runtime import gguf_cache
    from frs_ros.reasoning.runtime.factory import load_runtime

    gguf = tmp_path / "fresh.gguf"
    gguf.write_bytes(b"GGUF fresh")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    conv = TinyConverter(tiny_export)
    monkeypatch.setattr(gguf_cache, "_default_converter", conv)
    spec = {"kind": "ort-genai", "model": str(gguf), "threads": 1, "context": 256}
    load_runtime(spec)
    err = capsys.readouterr().err
    assert "converting fresh.gguf to int4 ONNX for the CPU runtime, once" in err
    assert "converted fresh.gguf in " in err
    load_runtime(spec)
    assert capsys.readouterr().err == "" and len(conv.calls) == 1


def test_all_logits_conversion_gets_its_own_entry(
    converted: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A graph that keeps every position's logits (for draft_tokens) is another model:
    its own entry, its own conversion, recorded in the manifest."""
    root, gguf, export = converted
    conv = TinyConverter(export)
    every = converted_model(gguf, all_logits=True, root=root, converter=conv)
    assert conv.all_logits == [True]
    assert every.name.endswith("-int4-all") and every != converted_model(gguf, root=root)
    assert json.loads((every / CACHE_MANIFEST).read_text())["all_logits"] is True
    assert converted_model(gguf, all_logits=True, root=root, converter=conv) == every
    assert len(conv.calls) == 1
