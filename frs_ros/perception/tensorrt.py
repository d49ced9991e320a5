"""Build TensorRT engines from the exported ONNX graphs (NVIDIA GPUs only).

    python -m frs_ros.perception.tensorrt --export DIR [--cache DIR] [--fp32]

Engines are cached under a key made of the ONNX file's hash, the TensorRT version, the GPU
name, the precision and the optimisation profile: an engine is only valid for the exact
TensorRT build and GPU model that made it, so any change rebuilds instead of loading a
stale one. ``tensorrt`` is imported lazily; without it (e.g. on a CPU-only machine) the
builder raises ``TensorRTUnavailableError``. The simpler route to TensorRT is onnxruntime's
TensorRT execution provider (``frs_ros.perception.onnx.runtime.providers_for("tensorrt")``),
which builds and caches engines itself; this module is for running engines without
onnxruntime. See docs/onnx_tensorrt.md for what was verified where.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from frs_ros.perception.onnx.profiles import DEFAULT_DIM_RANGES, Profile, optimisation_profile


class TensorRTUnavailableError(RuntimeError):
    """TensorRT (or a CUDA GPU) is not available on this machine."""


def import_tensorrt() -> ModuleType:
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTUnavailableError(
            "TensorRT is not installed: it needs an NVIDIA GPU with CUDA; install it with "
            "`pip install tensorrt` there (or use onnxruntime's TensorRT execution provider "
            "from onnxruntime-gpu). On CPU-only machines run the ONNX graphs with "
            "onnxruntime's CPU provider instead."
        ) from exc
    return tensorrt


def engine_cache_key(
    onnx_sha256: str, *, trt_version: str, gpu_name: str, fp16: bool, profile: Profile
) -> str:
    """Hex key of an engine: same ONNX bytes, TensorRT build, GPU, precision and profile."""
    payload = json.dumps(
        {
            "onnx": onnx_sha256,
            "tensorrt": trt_version,
            "gpu": gpu_name,
            "fp16": fp16,
            "profile": {k: [list(s) for s in v] for k, v in sorted(profile.items())},
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cuda_gpu_name() -> str:
    import torch  # only for the device name; the engines themselves don't need torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailableError("no CUDA GPU visible: TensorRT engines need one")
    return torch.cuda.get_device_name(0)


def build_engine(
    onnx_path: str | Path,
    cache_dir: str | Path,
    *,
    onnx_sha256: str,
    profile: Profile,
    fp16: bool = True,
    workspace_gib: float = 4.0,
) -> Path:
    """Serialized engine for ``onnx_path`` from the cache, built first if missing."""
    trt = import_tensorrt()
    key = engine_cache_key(
        onnx_sha256,
        trt_version=trt.__version__,
        gpu_name=cuda_gpu_name(),
        fp16=fp16,
        profile=profile,
    )
    engine_path = Path(cache_dir) / f"{Path(onnx_path).stem}-{key}.engine"
    if engine_path.is_file():
        return engine_path
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}:\n{errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if profile:
        opt_profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile.items():
            opt_profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(opt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {onnx_path} (see its log)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    return engine_path


def build_export(
    export_dir: str | Path,
    cache_dir: str | Path | None = None,
    *,
    fp16: bool = True,
    dim_ranges: Mapping[str, tuple[int, int, int]] = DEFAULT_DIM_RANGES,
) -> dict[str, Path]:
    """Engines for every graph of an export directory (its ``manifest.json``)."""
    from tqdm import tqdm

    from frs_ros.perception.onnx.runtime import OnnxExport

    export = OnnxExport.open(export_dir)
    cache = Path(cache_dir) if cache_dir else export.root / "trt_engines"
    engines = {}
    for name, entry in tqdm(export.manifest["graphs"].items(), desc="TensorRT", unit="engine"):
        engines[name] = build_engine(
            export.graph_path(name),
            cache,
            onnx_sha256=entry["sha256"],
            profile=optimisation_profile(entry["inputs"], dim_ranges),
            fp16=fp16,
        )
    return engines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frs_ros.perception.tensorrt")
    parser.add_argument("--export", required=True, type=Path, help="ONNX export directory")
    parser.add_argument("--cache", type=Path, help="engine cache (default EXPORT/trt_engines)")
    parser.add_argument("--fp32", action="store_true", help="build FP32 engines (default FP16)")
    args = parser.parse_args(argv)
    try:
        engines = build_export(args.export, args.cache, fp16=not args.fp32)
    except (TensorRTUnavailableError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, path in engines.items():
        print(f"{name:22s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
