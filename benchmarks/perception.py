"""Perception latency and memory: torch cores vs onnxruntime cores, side by side.

    python benchmarks/perception.py [--models sam2,owlv2,depth] [--runs 5] [--quick]
                                    [--frames 6] [--no-pipeline]

Models are REAL-SIZE architectures with random weights (same compute as the released
checkpoints, which cannot be downloaded here): SAM 2.1 hiera-tiny at 1024 px, OWLv2
base-patch16 at 960 px, Depth-Anything-V2-Small at 518 px. Every measurement runs in a
fresh subprocess, so peak memory (VmHWM from /proc/self/status, minus the RSS right after
imports) is that measurement's own. Latency: median of ``--runs`` after one warm-up.
The pipeline rows run ``PerceptionPipeline`` over synthetic frames with the default
perception config, tracking (re-detect every 5th frame) vs re-detecting every frame.
The CPU may be shared: compare the torch and onnxruntime columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAM2_SIZE, OWLV2_SIZE, DEPTH_SIZE = 1024, 960, 518
FRAME_HW = (480, 640)  # pipeline frames; the depth network input follows their aspect
N_BOXES, N_QUERIES, QUERY_LENGTH = 8, 4, 16
MODELS = ("sam2", "owlv2", "depth")
WORKLOAD_NAMES = {
    "sam2": ["sam2 encoder", f"sam2 decoder ({N_BOXES} boxes)"],
    "owlv2": [f"owlv2 ({N_QUERIES} queries)"],
    "depth": ["depth anything v2"],
}


# --------------------------------------------------------------------------- models


def real_size_models(sam2_size: int = SAM2_SIZE) -> dict[str, Any]:
    """Random-weight models with the released checkpoints' architectures (config values
    from transformers' defaults, whose docstrings name these checkpoints, and the
    checkpoints' config.json where they differ: OWLv2 960 px, Depth V2 out_indices).
    SAM 2 is built for ``sam2_size`` inputs as ``load_sam2`` sizes a checkpoint; OWLv2
    and Depth Anything keep the checkpoints' configs (their cores choose the input size)."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Sam2Config,
        Sam2Model,
    )

    from frs_ros.perception.models import sized_sam2_config

    torch.manual_seed(0)
    return {
        # transformers' defaults = sam2.1-hiera-tiny
        "sam2": lambda: Sam2Model(sized_sam2_config(Sam2Config(), sam2_size)).eval(),
        "owlv2": lambda: Owlv2ForObjectDetection(
            Owlv2Config(vision_config={"image_size": OWLV2_SIZE, "patch_size": 16})
        ).eval(),
        "depth": lambda: DepthAnythingForDepthEstimation(
            DepthAnythingConfig(
                backbone_config={
                    "model_type": "dinov2",
                    "hidden_size": 384,
                    "num_hidden_layers": 12,
                    "num_attention_heads": 6,
                    "image_size": DEPTH_SIZE,
                    "patch_size": 14,
                    "out_indices": [3, 6, 9, 12],
                    "reshape_hidden_states": False,
                }
            )
        ).eval(),
    }


def torch_cores(names: list[str]) -> dict[str, Any]:
    from frs_ros.perception.torch_cores import TorchDepthCore, TorchOwlv2Core, TorchSam2Core

    build = real_size_models()
    wrap = {
        "sam2": TorchSam2Core,
        "owlv2": TorchOwlv2Core,
        "depth": lambda m: TorchDepthCore(m, DEPTH_SIZE),
    }
    return {n: wrap[n](build[n]()) for n in names}


def ort_cores(export_dir: Path, names: list[str], threads: int | None) -> dict[str, Any]:
    from frs_ros.perception.onnx import runtime

    export = runtime.OnnxExport.open(export_dir)
    loaders = {
        "sam2": runtime.load_sam2_core,
        "owlv2": runtime.load_owlv2_core,
        "depth": runtime.load_depth_core,
    }
    cpu = runtime.providers_for("cpu")
    return {n: loaders[n](export, cpu, threads=threads) for n in names}


# --------------------------------------------------------------------------- workloads


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def workloads(cores: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """One call per measured graph, with fixed random inputs."""
    out: dict[str, Callable[[], Any]] = {}
    if "sam2" in cores:
        sam2 = cores["sam2"]
        image = _rng().standard_normal((1, 3, SAM2_SIZE, SAM2_SIZE)).astype(np.float32)
        embeddings = sam2.encode(image)
        corners = np.sort(_rng().random((1, N_BOXES, 2, 2)) * SAM2_SIZE, axis=2)
        boxes = corners.reshape(1, N_BOXES, 4).astype(np.float32)
        out["sam2 encoder"] = lambda: sam2.encode(image)
        out[f"sam2 decoder ({N_BOXES} boxes)"] = lambda: sam2.decode(
            embeddings, None, None, boxes, True
        )
    if "owlv2" in cores:
        owl = cores["owlv2"]
        image = _rng().standard_normal((1, 3, OWLV2_SIZE, OWLV2_SIZE)).astype(np.float32)
        ids = _rng().integers(0, 49406, (N_QUERIES, QUERY_LENGTH))
        ids[:, -1] = 49407  # end token (highest id): OWLv2 pools the text there
        mask = np.ones_like(ids)
        out[f"owlv2 ({N_QUERIES} queries)"] = lambda: owl.detect(image, ids, mask)
    if "depth" in cores:
        depth = cores["depth"]
        from frs_ros.perception.processing import depth_input_hw

        hw = depth_input_hw(FRAME_HW, DEPTH_SIZE)
        image = _rng().standard_normal((1, 3, *hw)).astype(np.float32)
        out["depth anything v2"] = lambda: depth.predict(image)
    return out


def pipeline_workload(
    cores: dict[str, Any], redetect_every: int, frames: int
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(warm-up on one frame, the whole clip)."""
    from frs_ros.perception.config import load_perception_config
    from frs_ros.perception.models import tiny_clip_tokenizer
    from frs_ros.perception.pipeline import PerceptionPipeline

    # The CLIP tokenizer cannot be downloaded; the tiny one gives the same input shapes.
    config = load_perception_config().with_overrides(tracking={"redetect_every": redetect_every})
    pipe = PerceptionPipeline(
        cores["sam2"], cores["owlv2"], tiny_clip_tokenizer(), cores["depth"], config
    )
    rng = _rng()
    clip = [rng.integers(0, 256, (*FRAME_HW, 3), dtype=np.uint8) for _ in range(frames)]
    return (
        lambda: pipe.process_video(clip[:1], progress=False),
        lambda: pipe.process_video(clip, progress=False),
    )


# --------------------------------------------------------------------------- measuring


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh process: build the cores, warm up, time, report peak memory."""
    if job["backend"] == "torch":
        import torch

        torch.set_num_threads(job["threads"])
    baseline = _status_kib("VmRSS")
    t0 = time.perf_counter()
    if job["backend"] == "torch":
        cores = torch_cores(job["models"])
    else:
        cores = ort_cores(Path(job["export_dir"]), job["models"], job["threads"])
    load_s = time.perf_counter() - t0
    if job["kind"] == "pipeline":
        warmup, fn = pipeline_workload(cores, job["redetect_every"], job["frames"])
    else:
        warmup = fn = workloads(cores)[job["name"]]
    warmup()
    times = []
    for _ in range(job["runs"]):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    peak = _status_kib("VmHWM")
    return {
        "median_s": statistics.median(times),
        "load_s": load_s,
        "peak_mib": (peak - baseline) / 1024,
    }


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--_worker", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(
            f"worker {job['name']} ({job['backend']}) failed:\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def export_real_size(names: list[str], out: Path) -> None:
    from frs_ros.perception.onnx.export import export_models

    build = real_size_models()
    kwargs = {n: build[n]() for n in names}
    export_models(
        out, **kwargs, depth_input_size=DEPTH_SIZE, frame_hw=FRAME_HW, source="real-size random"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma list of " + ",".join(MODELS)
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--frames", type=int, default=6, help="frames per pipeline run")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="2 runs, 3 pipeline frames")
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--export-dir", type=Path, help="reuse a real-size export here")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        print(json.dumps(worker(json.loads(args._worker))))
        return 0
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if bad := set(names) - set(MODELS):
        parser.error(f"unknown models {sorted(bad)}; choose from {MODELS}")
    runs, frames = (2, 3) if args.quick else (args.runs, args.frames)
    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as tmp:
        export_dir = args.export_dir or Path(tmp) / "onnx"
        if not (export_dir / "manifest.json").is_file():
            print(f"exporting real-size {names} to {export_dir} ...", file=sys.stderr)
            export_real_size(names, export_dir)
        base = {"export_dir": str(export_dir), "threads": args.threads, "runs": runs}
        jobs = []
        for model in names:
            for name in WORKLOAD_NAMES[model]:
                for backend in ("torch", "onnxruntime"):
                    jobs.append(
                        {
                            **base,
                            "kind": "model",
                            "name": name,
                            "models": [model],
                            "backend": backend,
                        }
                    )
        pipeline = not args.no_pipeline and set(MODELS) <= set(names)
        if pipeline:
            for label, every in (("tracking (re-detect every 5)", 5), ("re-detect every frame", 1)):
                for backend in ("torch", "onnxruntime"):
                    jobs.append(
                        {
                            **base,
                            "kind": "pipeline",
                            "name": f"pipeline, {label}",
                            "models": names,
                            "backend": backend,
                            "redetect_every": every,
                            "frames": frames,
                            "runs": 1,
                        }
                    )
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for job in tqdm(jobs, desc="benchmark", unit="run"):
            try:
                result = run_worker(job)
            except RuntimeError as exc:  # report the others rather than lose the whole run
                print(exc, file=sys.stderr)
                continue
            results[(job["name"], job["backend"])] = result
            tqdm.write(f"{job['name']} / {job['backend']}: {json.dumps(result)}", file=sys.stderr)
    print_table(results, frames, runs, args.threads)
    if not pipeline:
        print("\n(pipeline rows skipped: they need all three models and no --no-pipeline)")
    return 0


def print_table(
    results: dict[tuple[str, str], dict[str, Any]], frames: int, runs: int, threads: int
) -> None:
    print(f"\nCPU, {threads} threads, median of {runs} runs after 1 warm-up (pipeline: one run")
    print("of the clip after a 1-frame warm-up); peak = VmHWM - RSS after imports\n")
    print("| workload | torch ms | onnxruntime ms | ort / torch | torch peak MiB | ort peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in dict.fromkeys(k[0] for k in results):
        t, o = results.get((name, "torch")), results.get((name, "onnxruntime"))
        if t is None or o is None:
            status = ["failed" if r is None else "ok" for r in (t, o)]
            print(f"| {name} | {status[0]} | {status[1]} | | | |")
            continue
        if name.startswith("pipeline"):
            tf, of = frames / t["median_s"], frames / o["median_s"]
            print(
                f"| {name} ({frames} frames) | {1000 / tf:.0f} /frame = {tf:.3f} fps | "
                f"{1000 / of:.0f} /frame = {of:.3f} fps | {o['median_s'] / t['median_s']:.2f} | "
                f"{t['peak_mib']:.0f} | {o['peak_mib']:.0f} |"
            )
        else:
            print(
                f"| {name} | {1000 * t['median_s']:.0f} | {1000 * o['median_s']:.0f} | "
                f"{o['median_s'] / t['median_s']:.2f} | {t['peak_mib']:.0f} | {o['peak_mib']:.0f} |"
            )


if __name__ == "__main__":
    sys.exit(main())
