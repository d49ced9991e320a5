"""Export directory errors, provider selection and the TensorRT helpers that need no GPU."""

from __future__ import annotations

import json
import sys

import pytest

from frs_ros.perception import tensorrt
from frs_ros.perception.onnx.export import main as export_main
from frs_ros.perception.onnx.manifest import MANIFEST
from frs_ros.perception.onnx.profiles import DEFAULT_DIM_RANGES, optimisation_profile
from frs_ros.perception.onnx.runtime import (
    OnnxExport,
    OnnxExportError,
    load_onnx_cores,
    providers_for,
    tensorrt_provider_options,
)
from frs_ros.perception.tensorrt import TensorRTUnavailableError, engine_cache_key

DECODER_INPUTS = [
    {"name": "image_embeddings_2", "dtype": "float32", "shape": [1, 32, 8, 8]},
    {"name": "points", "dtype": "float32", "shape": [1, "num_prompts", "points_per_prompt", 2]},
    {"name": "labels", "dtype": "int64", "shape": [1, "num_prompts", "points_per_prompt"]},
]


def test_missing_manifest_names_the_export_command(tmp_path) -> None:
    with pytest.raises(OnnxExportError, match=r"frs_ros\.perception\.onnx\.export"):
        load_onnx_cores(tmp_path)


def test_missing_graph_file_is_named(tmp_path) -> None:
    manifest = {"graphs": {"depth": {"file": "depth.onnx", "inputs": []}}, "depth": {}}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    export = OnnxExport.open(tmp_path)
    with pytest.raises(OnnxExportError, match=r"depth\.onnx .* is missing"):
        export.graph_path("depth")
    with pytest.raises(OnnxExportError, match="no 'owlv2' graph"):
        export.graph_path("owlv2")


def test_export_cli_reports_an_unknown_profile(tmp_path, capsys) -> None:
    assert export_main(["--models", "no-such-profile", "--out", str(tmp_path)]) == 2
    assert "no model profile" in capsys.readouterr().err


def test_providers() -> None:
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="unknown backend"):
        providers_for("metal")


def test_gpu_backend_without_a_gpu_build_is_an_error(monkeypatch) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        providers_for("tensorrt")


def test_tensorrt_provider_options_carry_cache_fp16_and_profile(tmp_path) -> None:
    profile = optimisation_profile(DECODER_INPUTS, DEFAULT_DIM_RANGES)
    options = tensorrt_provider_options(tmp_path, fp16=True, profile=profile)
    assert options["trt_fp16_enable"] is True
    assert options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path)
    assert options["trt_profile_min_shapes"] == "points:1x1x1x2,labels:1x1x1"
    assert options["trt_profile_max_shapes"] == "points:1x64x16x2,labels:1x64x16"


def test_optimisation_profile_covers_only_dynamic_inputs() -> None:
    profile = optimisation_profile(DECODER_INPUTS, DEFAULT_DIM_RANGES)
    assert set(profile) == {"points", "labels"}
    assert profile["points"] == ((1, 1, 1, 2), (1, 8, 2, 2), (1, 64, 16, 2))
    with pytest.raises(ValueError, match="no \\(min, opt, max\\) range"):
        optimisation_profile(DECODER_INPUTS, {"num_prompts": (1, 2, 3)})
    with pytest.raises(ValueError, match="min <= opt <= max"):
        optimisation_profile(DECODER_INPUTS, {**DEFAULT_DIM_RANGES, "num_prompts": (4, 2, 8)})


def test_engine_cache_key_changes_with_every_ingredient() -> None:
    profile = optimisation_profile(DECODER_INPUTS, DEFAULT_DIM_RANGES)
    base = {"trt_version": "10.3.0", "gpu_name": "NVIDIA H100", "fp16": True, "profile": profile}
    key = engine_cache_key("a" * 64, **base)
    assert key == engine_cache_key("a" * 64, **base)
    variants = [
        engine_cache_key("b" * 64, **base),
        engine_cache_key("a" * 64, **{**base, "trt_version": "10.4.0"}),
        engine_cache_key("a" * 64, **{**base, "gpu_name": "NVIDIA L4"}),
        engine_cache_key("a" * 64, **{**base, "fp16": False}),
        engine_cache_key(
            "a" * 64,
            **{
                **base,
                "profile": optimisation_profile(
                    DECODER_INPUTS, {**DEFAULT_DIM_RANGES, "num_prompts": (1, 4, 64)}
                ),
            },
        ),
    ]
    assert len({key, *variants}) == 6


def test_tensorrt_missing_gives_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    with pytest.raises(TensorRTUnavailableError, match="pip install tensorrt"):
        tensorrt.import_tensorrt()
    with pytest.raises(TensorRTUnavailableError):
        tensorrt.build_engine(tmp_path / "x.onnx", tmp_path, onnx_sha256="0" * 64, profile={})


def test_tensorrt_cli_without_tensorrt_exits_cleanly(monkeypatch, tmp_path, capsys) -> None:
    (tmp_path / "depth.onnx").write_bytes(b"not built here")
    entry = {"file": "depth.onnx", "sha256": "0" * 64, "inputs": []}
    (tmp_path / MANIFEST).write_text(json.dumps({"graphs": {"depth": entry}}))
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert tensorrt.main(["--export", str(tmp_path)]) == 2
    assert "TensorRT is not installed" in capsys.readouterr().err
