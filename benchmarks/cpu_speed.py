"""The reasoner on a CPU robot: every runtime side by side in one run (docs/cpu.md).

Qwen3-0.6B architecture with random weights (random weights cost the same compute as
trained ones), 2 threads, the tiny tokenizer (the real Qwen3 tokenizer cannot be
downloaded here, so token *counts* are the tiny tokenizer's). Rows: torch fp32, torch bf16
(HFRuntime) and onnxruntime-genai int4 / int8 (OrtGenaiRuntime, converted by the same code
as `frs export-cpu`). Each runtime runs in its own subprocess, so its peak RSS is its own.

Columns:
- decode ms/token (best of --repeats x --decode-tokens) and its ratio to the floor
  weight bytes / copy bandwidth (bandwidth measured at the start of this run);
- prefill tok/s of a cold 1,024-token prompt;
- cold start: the system prompt's prefill (once per process: the cache keeps it);
- first query on a new compact twin (system prompt cached) and a follow-up query on the
  same twin (min-max over --queries): the benchmark's oracle rollouts replayed with
  teacher forcing, i.e. the prompt prefilled, every model-written token one forward pass
  (what generating it costs), every engine ``<results>`` block prefilled; tool execution
  itself is not timed.

A second table counts tokens per query for the full and brief system
prompts on the benchmark's oracle chains, and checks that the oracle's accuracy stays 1.0.

Perception rows: the twin pipeline with tracking, frames/s for the
``default`` and ``cpu`` model profiles (their input sizes and perception configs), torch
and onnxruntime, SAM 2.1 hiera-tiny / OWLv2 base-16 / Depth-Anything-V2-Small with random
weights built at the profile's sizes, 2 threads, each in a fresh subprocess. A clip of
640x480 frames (the bundled kitchen clip, upscaled, played forwards then backwards) runs
for ``--perception-intervals`` keyframe intervals after a one-frame warm-up, so keyframe
work is amortised exactly; per-stage times are measured around the cores, and the
process's CPU time too (on 2 idle cores a frame takes between CPU/2 and CPU seconds).
``--perception-only`` skips the reasoner rows (~20 min).

    python benchmarks/cpu_speed.py [--work-dir /tmp/frs_cpu_speed] [--prompt brief]
                                   [--perception-only | --no-perception]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

RUNTIMES = ("torch-fp32", "torch-bf16", "ort-int4", "ort-int8")
THREADS = 2
PERCEPTION_ROWS = [(p, b) for p in ("default", "cpu") for b in ("torch", "onnx")]
FRAME_HW = (480, 640)


def progress(msg: str) -> None:
    print(f"[cpu bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- rollouts


def oracle_rollouts(prompt_style: str, n_per_cell: int) -> list[dict[str, Any]]:
    """Benchmark samples' oracle chains through the real engine: prompts, spans, outcome."""
    from frs_ros.benchmark.generator import generate_split
    from frs_ros.reasoning import ReasonerConfig
    from frs_ros.reasoning.engine import MAX_NEW_TOKENS
    from frs_ros.reasoning.protocol import model_parts
    from frs_ros.reasoning.runtime.base import ScriptedRuntime
    from frs_ros.segmenter import ReasoningSegmenter

    config = ReasonerConfig(
        max_rounds=8, max_new_tokens=MAX_NEW_TOKENS, timeout_s=600.0, prompt=prompt_style
    )
    out = []
    for s in generate_split("test", n_per_cell, seed=0, progress=False):
        # the chain twice: a first query, then the same as a follow-up on the same twin
        seg = ReasoningSegmenter(runtime=ScriptedRuntime(model_parts(s.chain) * 2), config=config)
        first = seg.ask(s.query, twin=s.twin).result
        follow = seg.ask(s.query, twin=s.twin, follow_up=True).result
        out.append(
            {
                "id": s.id,
                "objects": len(s.twin.latest.objects),
                "correct": sorted(first.ids) == sorted(s.gt_ids),
                "chain_ok": first.transcript.rollout == s.chain,
                "first": (first.transcript.prompt, first.transcript.spans),
                "follow": (follow.transcript.prompt, follow.transcript.spans),
            }
        )
    return out


def token_table(tok: Any, n_per_cell: int) -> str:
    """Tokens per query, full vs brief system prompt, on the oracle chains (item 4)."""
    from frs_ros.reasoning.prompt import system_prompt

    lines = [
        "| system prompt | system tokens | twin + query tokens (mean) | model tokens (mean) "
        "| engine tokens (mean) | fresh-process query total (mean) | oracle accuracy "
        "| chains reproduced |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    n = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    for style in ("full", "brief"):
        rollouts = oracle_rollouts(style, n_per_cell)
        system = n(system_prompt(style=style))
        user = model = engine = total = 0.0
        for r in rollouts:
            prompt, spans = r["first"]
            user += n(prompt) - system
            model += sum(n(t) for t, src in spans if src == "model")
            engine += sum(n(t) for t, src in spans if src == "engine")
            total += n(prompt) + sum(n(t) for t, _ in spans)
        k = len(rollouts)
        acc = sum(r["correct"] for r in rollouts) / k
        ok = sum(r["chain_ok"] for r in rollouts)
        lines.append(
            f"| {style} | {system} | {user / k:.0f} | {model / k:.0f} | {engine / k:.0f} "
            f"| {total / k:.0f} | {acc:.2f} | {ok}/{k} |"
        )
    return "\n".join(lines)


def replay(rt: Any, prompt: str, spans: list[tuple[str, str]]) -> float:
    """Seconds to run a rollout: prompt and engine text prefilled, model text token by token.

    Uses the runtimes' cache primitives (``_prefill`` reuses the cached prefix; ``_forward``
    runs one generated token), so the cost is exactly what ``complete`` would spend."""
    t = time.perf_counter()
    ids = rt.encode(prompt)
    rt._prefill(ids)
    for text, source in spans:
        new = rt.encode(text)
        if source == "engine":
            rt._prefill(ids + new)
        else:
            for token in new:
                rt._forward([token])
        ids = ids + new
    return time.perf_counter() - t


# ---------------------------------------------------------------------- one runtime


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux keeps that across ``execve``, so a
    child would report at least its parent's peak; ``VmHWM`` belongs to the new image."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(name: str, work: Path) -> tuple[Any, int]:
    """The runtime and the bytes of weights one decode step reads."""
    import torch

    torch.set_num_threads(THREADS)
    if name.startswith("torch"):
        from reasoning import weight_bytes

        from frs_ros.reasoning.runtime.hf import HFRuntime

        dtype = "float32" if name == "torch-fp32" else "bfloat16"
        rt = HFRuntime.from_pretrained(work / "hf", dtype=dtype)
        return rt, weight_bytes(rt.model)
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    path = work / name
    rt = OrtGenaiRuntime(path, threads=THREADS)
    return rt, sum(f.stat().st_size for f in path.glob("*.onnx*"))


def measure(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    rt, n_bytes = load(name, work)
    tok_ids = list(range(100, 100 + 1024))  # ordinary tokens of the tiny vocabulary
    with torch.inference_mode():
        rt._prefill(tok_ids[:8])  # first-call set-up (allocations, kernels) is not prefill
        rt.reset_cache()
        t = time.perf_counter()
        rt._prefill(tok_ids)
        prefill = 1024 / (time.perf_counter() - t)

        per_token = []
        for r in range(args.repeats):
            rt._prefill(tok_ids[:64])  # a short cached context; every step below is 1 token
            t = time.perf_counter()
            for i in range(args.decode_tokens):
                rt._forward([200 + i + r])
            per_token.append((time.perf_counter() - t) / args.decode_tokens)

        tests = [r for r in oracle_rollouts(args.prompt, 1) if r["objects"] <= 10]
        tests = tests[: args.queries]
        rt.reset_cache()
        # the process starts: the system prompt is prefilled once and stays cached
        system_text = tests[0]["first"][0].split("<|im_start|>user")[0]
        t = time.perf_counter()
        rt._prefill(rt.encode(system_text))
        cold_start = time.perf_counter() - t
        system_tokens = rt.last_prefill_tokens
        first, follow = [], []
        for r in tests:
            first.append(replay(rt, *r["first"]))
            follow.append(replay(rt, *r["follow"]))
    return {
        "runtime": name,
        "decode_s": min(per_token),
        "weight_bytes": n_bytes,
        "prefill_tps": prefill,
        "cold_start_s": cold_start,
        "system_tokens": system_tokens,
        "first_s": (min(first), max(first)),
        "follow_s": (min(follow), max(follow)),
        "queries": len(tests),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------------- perception


class TimedCore:
    """A perception core that adds the seconds and calls of each method to ``stats``
    (SAM 2 decodes split by prompt kind: boxes = tracking and detections, points =
    proposals, whose prompt count is recorded too)."""

    def __init__(self, core: Any, name: str, stats: dict[str, float]) -> None:
        self._core, self._name, self._stats = core, name, stats

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._core, attr)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            key = f"{self._name} {attr}"
            if attr == "decode":
                points = args[1] if len(args) > 1 else kwargs.get("points")
                key += " (points)" if points is not None else " (boxes)"
                if points is not None:
                    self._stats["point prompts"] += points.shape[1]
            t = time.perf_counter()
            out = value(*args, **kwargs)
            self._stats[key] += time.perf_counter() - t
            self._stats[key + " calls"] += 1
            return out

        return timed


class PlausibleBoxes:
    """OWLv2 with its box output replaced by fixed boxes of 5-30 % of the frame side:
    random weights saturate the box head (every box has zero width), which would leave no
    detection and nothing to track. The network still runs in full; only its boxes are
    swapped."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self.image_size = core.image_size

    def detect(self, *args: Any) -> tuple[Any, Any]:
        import numpy as np

        logits, boxes = self._core.detect(*args)
        rng = np.random.default_rng(0)
        n = boxes.shape[1]
        centres = rng.uniform(0.1, 0.65, (1, n, 2))  # the frame's part of the padded square
        sizes = rng.uniform(0.05, 0.3, (1, n, 2))
        return logits, np.concatenate([centres, sizes], -1).astype(np.float32)


def perception_profile(name: str) -> Any:
    from frs_ros.perception.models import load_profile

    return load_profile(name)


def perception_export_dir(work: Path, profile: Any) -> Path:
    sizes = (profile.sam2_image_size, profile.owlv2_image_size, profile.depth_input_size)
    return work / ("perception-onnx-" + "-".join(str(v) for v in sizes))


def prepare_perception(work: Path, profiles: list[str]) -> None:
    """Real-size random-weight ONNX graphs at each profile's sizes, laid out as the onnx
    backend's export directory (depth per input shape in ``depth_<h>x<w>/``); cached."""
    import torch
    from perception import real_size_models

    from frs_ros.perception.onnx.export import export_models
    from frs_ros.perception.processing import depth_input_hw

    torch.set_num_threads(THREADS)
    for name in profiles:
        prof = perception_profile(name)
        out = perception_export_dir(work, prof)
        if not (out / "manifest.json").is_file():
            progress(f"exporting real-size {name} perception graphs (random weights) to {out}")
            build = real_size_models(prof.sam2_image_size)
            export_models(
                out,
                sam2=build["sam2"](),
                owlv2=build["owlv2"](),
                owlv2_image_size=prof.owlv2_image_size,
                source=f"real-size random, {name} sizes",
            )
        hw = depth_input_hw(FRAME_HW, prof.depth_input_size)
        depth_dir = out / f"depth_{hw[0]}x{hw[1]}"
        if not (depth_dir / "manifest.json").is_file():
            export_models(
                depth_dir,
                depth=real_size_models()["depth"](),
                depth_input_size=prof.depth_input_size,
                frame_hw=FRAME_HW,
                source=f"real-size random, {name} sizes",
            )


def perception_cores(profile: Any, backend: str, work: Path) -> tuple[Any, Any, Any]:
    """(sam2, owlv2, depth) cores of ``profile`` on ``backend``, random real-size weights."""
    if backend == "torch":
        import torch
        from perception import real_size_models

        from frs_ros.perception.torch_cores import TorchDepthCore, TorchOwlv2Core, TorchSam2Core

        torch.set_num_threads(THREADS)
        build = real_size_models(profile.sam2_image_size)
        return (
            TorchSam2Core(build["sam2"]()),
            TorchOwlv2Core(build["owlv2"](), profile.owlv2_image_size),
            TorchDepthCore(build["depth"](), profile.depth_input_size),
        )
    from frs_ros.perception.backends import ShapeCachedOrtDepthCore
    from frs_ros.perception.onnx import runtime

    root = perception_export_dir(work, profile)
    export = runtime.OnnxExport.open(root)
    cpu = runtime.providers_for("cpu")
    return (
        runtime.load_sam2_core(export, cpu, threads=THREADS),
        runtime.load_owlv2_core(export, cpu, threads=THREADS),
        ShapeCachedOrtDepthCore(profile, root, cpu, THREADS),
    )


def perception_clip(frames: int) -> list[Any]:
    """The bundled kitchen clip at 640x480, played forwards then backwards (smooth motion
    for the tracker, however many frames are asked for)."""
    import numpy as np
    from PIL import Image

    root = Path(__file__).resolve().parents[1] / "examples" / "kitchen_video"
    src = [
        np.asarray(Image.open(p).convert("RGB").resize(FRAME_HW[::-1], Image.Resampling.BICUBIC))
        for p in sorted(root.glob("frame_[0-9][0-9][0-9].png"))
    ]
    order = list(range(len(src))) + list(range(len(src) - 2, 0, -1))
    return [src[order[i % len(order)]] for i in range(frames)]


def measure_perception(name: str, backend: str, work: Path, intervals: int) -> dict[str, Any]:
    """Twin frames/s with tracking for one profile on one backend (in its own process)."""
    from frs_ros.perception.config import load_perception_config
    from frs_ros.perception.models import tiny_clip_tokenizer
    from frs_ros.perception.pipeline import PerceptionPipeline

    profile = perception_profile(name)
    # Random weights score nothing above the thresholds, which would leave nothing to track.
    # Every OWLv2 box passes instead, capped at 10 per keyframe (the twin size the reasoner
    # rows assume), and propagated masks are kept whatever their predicted IoU, so the
    # tracker carries real work between keyframes. Proposals keep their thresholds (random
    # masks fail them: the re-centring decode and de-duplication are not measured).
    config = load_perception_config(profile.perception).with_overrides(
        detection={"score_threshold": 0.0, "max_detections": 10}, tracking={"keep_iou": 0.0}
    )
    stats: dict[str, float] = defaultdict(float)
    t = time.perf_counter()
    sam2, owlv2, depth = perception_cores(profile, backend, work)
    load_s = time.perf_counter() - t
    # The real CLIP tokenizer cannot be downloaded; the tiny one gives the same input shapes
    # (16 tokens per label, ids inside OWLv2's vocabulary).
    pipe = PerceptionPipeline(
        TimedCore(sam2, "sam2", stats),
        TimedCore(PlausibleBoxes(owlv2), "owlv2", stats),
        tiny_clip_tokenizer(),
        TimedCore(depth, "depth", stats),
        config,
    )
    frames = intervals * config.tracking.redetect_every
    clip = perception_clip(frames)
    pipe.process_video(clip[:1], progress=False)  # warm-up: one keyframe
    stats.clear()
    tracked = 0
    pipe.reset()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    for rgb in clip:
        tracked += len(pipe.process_frame(rgb).objects)
    total = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return {
        "profile": name,
        "backend": backend,
        "sizes": [profile.sam2_image_size, profile.owlv2_image_size, profile.depth_input_size],
        "frames": frames,
        "total_s": total,
        "cpu_s": cpu_s,
        "load_s": load_s,
        "stats": dict(stats),
        "objects_per_frame": tracked / frames,
        "points_per_side": config.proposals.points_per_side,
        "redetect_every": config.tracking.redetect_every,
        "depth_every": config.depth_every,
        "peak_rss_mb": peak_rss_mb(),
    }


def perception_table(rows: list[dict[str, Any]]) -> str:
    stages = [
        ("SAM 2 encode", ["sam2 encode"]),
        ("SAM 2 box decode (tracking, detections)", ["sam2 decode (boxes)"]),
        ("proposals (SAM 2 point decode)", ["sam2 decode (points)"]),
        ("OWLv2", ["owlv2 detect"]),
        ("Depth Anything", ["depth predict"]),
    ]
    head = (
        "| profile | backend | SAM 2 / OWLv2 / depth px | frames/s | ms/frame | CPU s/frame "
        "| keyframes / frames | depth runs | "
        + " | ".join(f"{label} ms/frame" for label, _ in stages)
        + " | rest ms/frame | point prompts / keyframe | objects / frame | peak RSS MB |"
    )
    lines = [head, "|" + "---|" * 3 + "---:|" * (len(stages) + 10)]
    for r in rows:
        st, n = r["stats"], r["frames"]
        keyframes = int(st.get("owlv2 detect calls", 0))
        per = [1000 * sum(st.get(k, 0.0) for k in keys) / n for _, keys in stages]
        rest = 1000 * r["total_s"] / n - sum(per)
        lines.append(
            f"| {r['profile']} | {r['backend']} | {'/'.join(str(v) for v in r['sizes'])} "
            f"| {n / r['total_s']:.2f} | {1000 * r['total_s'] / n:,.0f} "
            f"| {r['cpu_s'] / n:.2f} | {keyframes} / {n} "
            f"| {int(st.get('depth predict calls', 0))} | "
            + " | ".join(f"{v:,.0f}" for v in per)
            + f" | {rest:,.0f} | {st.get('point prompts', 0) / max(keyframes, 1):.0f} "
            f"| {r['objects_per_frame']:.1f} | {r['peak_rss_mb']:,.0f} |"
        )
    lines.append("")
    lines.append("Per call (ms): ")
    lines.append("")
    lines.append(
        "| profile | backend | SAM 2 encode | OWLv2 (keyframe) | Depth Anything "
        "| box decode | point decode (64 prompts max per call) |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        st = r["stats"]

        def per_call(key: str, st: dict[str, float] = st) -> str:
            calls = st.get(key + " calls", 0)
            return f"{1000 * st[key] / calls:,.0f}" if calls else "-"

        lines.append(
            f"| {r['profile']} | {r['backend']} | {per_call('sam2 encode')} "
            f"| {per_call('owlv2 detect')} | {per_call('depth predict')} "
            f"| {per_call('sam2 decode (boxes)')} | {per_call('sam2 decode (points)')} |"
        )
    return "\n".join(lines)


def run_perception(work: Path) -> list[dict[str, Any]]:
    prepare_perception(work, sorted({p for p, _ in PERCEPTION_ROWS}))
    rows = []
    for name, backend in PERCEPTION_ROWS:
        progress(f"perception {name} / {backend}: measuring in a subprocess")
        cmd = [sys.executable, __file__, "--perception-one", f"{name}:{backend}", *sys.argv[1:]]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"perception {name}/{backend} failed:\n{run.stderr[-3000:]}")
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
        progress(f"  {rows[-1]['frames'] / rows[-1]['total_s']:.3f} frames/s")
    return rows


# ---------------------------------------------------------------------- set-up


def prepare(work: Path) -> None:
    """A random-weight Qwen3-0.6B checkpoint and its int4 / int8 conversions (cached)."""
    import torch
    from reasoning import qwen3_06b_config
    from transformers import Qwen3ForCausalLM

    from frs_ros.reasoning.runtime.export_cpu import convert
    from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

    if not (work / "hf" / "config.json").is_file():
        progress("saving a random-weight Qwen3-0.6B checkpoint (bf16, like the hub's)")
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(qwen3_06b_config()).to(torch.bfloat16)
        model.save_pretrained(str(work / "hf"))
        load_tiny_tokenizer().save_pretrained(str(work / "hf"))
        del model
    for precision in ("int4", "int8"):
        if not (work / f"ort-{precision}" / "genai_config.json").is_file():
            progress(f"converting to {precision} (frs export-cpu)")
            convert(work / "hf", work / f"ort-{precision}", precision=precision, work_dir=work)


def reasoner_report(work: Path, args: argparse.Namespace) -> None:
    from reasoning import copy_bandwidth_gbs

    from frs_ros.reasoning.runtime.hf import auto_dtype, cpu_has_fast_bf16
    from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

    t0 = time.time()
    prepare(work)
    load_avg = os.getloadavg()
    bw = copy_bandwidth_gbs()
    rows = []
    for name in args.runtimes:
        progress(f"{name}: measuring in a subprocess")
        cmd = [sys.executable, __file__, "--one", name, *sys.argv[1:]]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{run.stderr[-3000:]}")
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    load_after = os.getloadavg()

    import torch

    auto = auto_dtype(torch.bfloat16, torch.device("cpu"))
    print(
        f"Qwen3-0.6B architecture, random weights, {THREADS} threads, {os.cpu_count()} CPUs; "
        f"copy bandwidth (read + write) {bw:.1f} GB/s; CPU native bf16: {cpu_has_fast_bf16()} "
        f"(`dtype: auto` on a bf16 checkpoint loads {str(auto).removeprefix('torch.')}); "
        f"load average before / after: {load_avg[0]:.1f} / {load_after[0]:.1f}; "
        f"{args.prompt} system prompt ({rows[0]['system_tokens']} tokens), "
        f"{rows[0]['queries']} timed queries (min-max), twins of <= 10 objects; "
        f"run took {time.time() - t0:.0f} s.\n"
    )
    print(
        "| runtime | decode ms/token | floor ms (weights GB) | x floor | prefill tok/s (1,024) "
        "| cold start: system prompt s | first query, new twin s | follow-up, same twin s "
        "| peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        floor = r["weight_bytes"] / (bw * 1e9)
        print(
            f"| {r['runtime']} | {r['decode_s'] * 1e3:.0f} | {floor * 1e3:.0f} "
            f"({r['weight_bytes'] / 1e9:.2f}) | {r['decode_s'] / floor:.1f} "
            f"| {r['prefill_tps']:.0f} | {r['cold_start_s']:.1f} "
            f"| {r['first_s'][0]:.1f}-{r['first_s'][1]:.1f} "
            f"| {r['follow_s'][0]:.1f}-{r['follow_s'][1]:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    print()
    print("Tokens per query on the benchmark's oracle chains (test split, tiny tokenizer):\n")
    print(token_table(load_tiny_tokenizer(), 2))


def perception_report(work: Path) -> None:
    t0 = time.time()
    load_avg = os.getloadavg()
    rows = run_perception(work)
    load_after = os.getloadavg()
    print(
        f"\nTwin pipeline with tracking: {FRAME_HW[1]}x{FRAME_HW[0]} frames, random-weight "
        f"real-size models at each profile's sizes, {THREADS} threads, {os.cpu_count()} CPUs; "
        f"load average (1/5/15 min) before {'/'.join(f'{v:.1f}' for v in load_avg)}, "
        f"after {'/'.join(f'{v:.1f}' for v in load_after)}; run took {time.time() - t0:.0f} s."
        "\n"
    )
    print(perception_table(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", default="/tmp/frs_cpu_speed", help="checkpoints (cached)")
    ap.add_argument("--prompt", choices=("full", "brief"), default="brief")
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--queries", type=int, default=1, help="timed queries (min-max reported)")
    ap.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--perception-only", action="store_true", help="skip the reasoner rows")
    only.add_argument("--no-perception", action="store_true", help="skip the perception rows")
    ap.add_argument(
        "--perception-intervals", type=int, default=1, help="keyframe intervals timed per row"
    )
    ap.add_argument("--one", choices=RUNTIMES, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--perception-one", help=argparse.SUPPRESS)  # child: PROFILE:BACKEND
    args = ap.parse_args()
    work = Path(args.work_dir)
    if args.one:
        print(json.dumps(measure(args.one, work, args)))
        return
    if args.perception_one:
        name, backend = args.perception_one.split(":")
        print(json.dumps(measure_perception(name, backend, work, args.perception_intervals)))
        return
    work.mkdir(parents=True, exist_ok=True)
    if not args.perception_only:
        reasoner_report(work, args)
    if not args.no_perception:
        perception_report(work)


if __name__ == "__main__":
    main()
