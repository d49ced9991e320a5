"""What a new user meets first: errors that say at once what is wrong (exit 2, one line),
a hub that cannot be reached found in seconds, the tiny reasoner reaching a tool round,
captioned overlays, the tiny recipe making its own inputs, and no library warnings
caused by how we call it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from frs_ros import hub
from frs_ros.reasoning import ReasonerConfig
from frs_ros.reasoning.grammar import ProtocolGrammar, protocol_gbnf
from frs_ros.reasoning.model_sources import SOURCES, ModelSourceError, find_source
from frs_ros.reasoning.runtime import load_runtime
from frs_ros.reasoning.runtime.hf import HFRuntime, cache_keyword
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.twin import Twin
from frs_ros.visualization import overlay_objects

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kitchen_image"
FRS = [sys.executable, "-m", "frs_ros.cli"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frs(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 240):
    return subprocess.run(
        [*FRS, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------ the hub


def test_offline_mode_is_reported_without_touching_the_network(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_unavailable() == "HF_HUB_OFFLINE is set"


def test_an_unreachable_hub_is_found_in_seconds(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    t0 = time.perf_counter()
    why = hub.hub_unavailable()
    assert why is not None and "unreachable" in why
    assert time.perf_counter() - t0 < hub.HUB_CONNECT_TIMEOUT_S + 1


def _missing_model_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "reasoner_missing.yaml"
    cfg.write_text("runtime: {kind: hf, model: nobody-has/this-model-xyz}\n")
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["offline", "unreachable"])
def test_a_missing_model_fails_at_once_in_one_readable_line(tmp_path, setting) -> None:
    env = {"HF_HUB_OFFLINE": "1"} if setting == "offline" else {"HF_HUB_OFFLINE": "0"}
    if setting == "unreachable":  # the hub client reads HF_ENDPOINT too: no retries to it
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    proc = _frs(
        "segment",
        str(EXAMPLE / "image.png"),
        "--twin",
        str(EXAMPLE / "twin.json"),
        "--reasoner",
        str(_missing_model_config(tmp_path)),
        "-q",
        "the book",
        "--out",
        str(tmp_path / "out"),
        env=env,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "\\x0a" not in lines[0], proc.stderr
    assert "nobody-has/this-model-xyz" in lines[0]
    why = "HF_HUB_OFFLINE is set" if setting == "offline" else "is unreachable"
    assert "nothing can be downloaded: " in lines[0] and why in lines[0]
    assert elapsed < 40  # interpreter + imports; the hub client's retries took ~50 s more


def test_a_misspelt_reasoner_is_refused_before_perception_loads(tmp_path) -> None:
    proc = _frs(
        "segment",
        str(EXAMPLE / "image.png"),
        "--models",
        "tiny",
        "--reasoner",
        "tinny",
        "-q",
        "the book",
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2
    assert "reasoner_tinny.yaml" in proc.stderr and "shipped:" in proc.stderr
    assert "RANDOM-WEIGHT" not in proc.stderr  # no perception model was built
    assert len(proc.stderr.strip().splitlines()) == 1


def test_multi_line_errors_keep_their_newlines(tmp_path, monkeypatch, capsys) -> None:
    from frs_ros import cli

    def fail(args):
        raise ValueError("first line\nsecond line")

    parser = cli.build_parser()
    args = parser.parse_args(["models", "list"])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    args.func = fail
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert "first line\nsecond line" in err and "\\x0a" not in err


# ------------------------------------------------------------------ model sources


def test_no_alias_names_another_model_than_its_source() -> None:
    for source in SOURCES.values():
        for alias in source.aliases:
            assert ("coder" in alias) == ("coder" in source.name), (alias, source.name)
    with pytest.raises(ModelSourceError):
        find_source("qwen2.5-0.5b-instruct-gguf")  # it downloaded the Coder model


# ------------------------------------------------------------------ tiny reasoner


def test_the_kv_cache_is_passed_under_its_current_name() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime = HFRuntime.tiny()
    assert cache_keyword(runtime.model) == "cache"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runtime.complete("<reason>", stop=["</plan>"], max_new_tokens=3)
    assert not [w for w in caught if "past_key_values" in str(w.message)]


def test_one_call_plans_compile_for_local_runtimes_and_servers() -> None:
    grammar = ProtocolGrammar(max_calls=1, max_reason_chars=8, max_string_chars=8)
    first = grammar.pattern_for("")
    one = '<reason>ab</reason><plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>'
    assert grammar.allows(first, one)
    assert not grammar.allows(first, one.replace("}}]", '}}, {"tool": "moved", "args": {}}]'))
    assert not grammar.allows(first, one.replace('"mug"', '"a long label"'))
    assert "{0,0}" not in protocol_gbnf(max_calls=1)


def test_grammar_bounds_in_a_config_are_checked() -> None:
    with pytest.raises(ValueError, match="constrained: true"):
        load_runtime({"kind": "hf", "model": "tiny", "grammar": {"max_calls": 1}})
    with pytest.raises(
        ValueError, match=r"runtime\.grammar\.max_calls: .* greater than or equal to 1"
    ):
        load_runtime(
            {"kind": "hf", "model": "tiny", "constrained": True, "grammar": {"max_calls": 0}}
        )
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['x'\] in runtime\.grammar"):
        load_runtime({"kind": "hf", "model": "tiny", "constrained": True, "grammar": {"x": 1}})


@pytest.mark.slow
def test_the_tiny_reasoner_reaches_a_tool_round_in_64_tokens() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime = load_runtime("tiny")
    seg = ReasoningSegmenter(None, runtime, ReasonerConfig(max_new_tokens=64))
    seg.set_twin(Twin.from_json((EXAMPLE / "twin.json").read_text()))
    answer = seg.ask("the thing I could read closest to the thing I could store small items in")
    assert answer.result.rounds >= 1 and answer.result.n_tokens <= 64
    assert "</plan><results>" in answer.result.transcript.rollout


# ------------------------------------------------------------------ overlay caption


def test_the_overlay_caption_is_drawn_along_the_bottom() -> None:
    twin = Twin.from_json((EXAMPLE / "twin.json").read_text())
    frame = twin.latest
    rgb = np.full((frame.height, frame.width, 3), 200, np.uint8)
    plain = overlay_objects(rgb, frame, set())
    assert np.array_equal(plain, rgb)  # nothing answered, no caption: the input
    captioned = overlay_objects(rgb, frame, set(), caption='"the book" -> answered, ids [6]')
    h = rgb.shape[0]
    assert np.array_equal(captioned[: h // 2], rgb[: h // 2])  # the picture stays visible
    bottom = captioned[h - 12 :]
    assert bottom.min() < 100 and bottom.max() > 230  # dark band, white text


# ------------------------------------------------------------------ the tiny recipe


def test_the_tiny_recipe_writes_its_own_inputs(tmp_path) -> None:
    from frs_ros.training.config import load_recipe
    from frs_ros.training.data import ensure_synthetic_inputs, run_data

    recipe = load_recipe(ROOT / "training" / "recipes" / "tiny.yaml")
    assert recipe.data.synthetic == "runs/tiny/inputs"
    cwd = Path.cwd()
    os.chdir(tmp_path)  # the recipe's paths are relative to the working directory
    try:
        n, _ = run_data(recipe.data)
        assert n > 0 and (tmp_path / recipe.data.output).is_file()
        assert (tmp_path / "runs/tiny/inputs/samples.jsonl").is_file()
        assert not ensure_synthetic_inputs("runs/tiny/inputs")  # there: not rewritten
    finally:
        os.chdir(cwd)
    assert json.loads((tmp_path / recipe.data.output).read_text().splitlines()[0])["query"]


@pytest.mark.slow
def test_missing_perception_weights_are_a_user_error(tmp_path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}  # an empty cache
    proc = _frs("twin", str(EXAMPLE / "image.png"), "--models", "default", env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing can be downloaded: HF_HUB_OFFLINE is set" in lines[0]
    assert "Error:" not in lines[0]  # not reported as a crash
