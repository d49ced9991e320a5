"""GPU rows (the paper's Table 5 columns: ms/frame, FPS, GPU memory) on any CUDA machine.

    python benchmarks/gpu.py [--frames 30] [--dtypes float16,float32] [--json out/gpu.json]

Perception: ``PerceptionPipeline`` with the default perception config over synthetic 640x480
frames, tracking (re-detect every 5th frame, the default) and re-detecting every frame,
on real-size random-weight networks (the released checkpoints' architectures, built as
benchmarks/perception.py builds them: their weights cannot be downloaded here) moved to
CUDA in each dtype. Reasoner: a random-weight Qwen3-0.6B-size model through the torch
runtime on CUDA, one benchmark query end to end (prompt prefill + ``--reasoner-tokens``
generated tokens; random weights do not stop early), in float16. GPU memory is
``torch.cuda.max_memory_allocated`` per row. Exits 2 with a message when there is no CUDA
device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _sync() -> None:
    import torch

    torch.cuda.synchronize()


def perception_row(dtype: str, frames: int, redetect_every: int) -> dict[str, Any]:
    import torch
    from perception import DEPTH_SIZE, pipeline_workload, real_size_models

    from frs_ros.perception.torch_cores import TorchDepthCore, TorchOwlv2Core, TorchSam2Core

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    dt = getattr(torch, dtype)
    build = real_size_models()
    cores = {
        "sam2": TorchSam2Core(build["sam2"]().to("cuda", dt)),
        "owlv2": TorchOwlv2Core(build["owlv2"]().to("cuda", dt)),
        "depth": TorchDepthCore(build["depth"]().to("cuda", dt), DEPTH_SIZE),
    }
    warm, clip = pipeline_workload(cores, redetect_every, frames)
    warm()
    _sync()
    t = time.perf_counter()
    clip()
    _sync()
    total = time.perf_counter() - t
    return {
        "part": f"perception, {'tracked' if redetect_every > 1 else 'detect every frame'}",
        "dtype": dtype,
        "ms_per_frame": 1000 * total / frames,
        "fps": frames / total,
        "gpu_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def reasoner_row(dtype: str, tokens: int, repeats: int) -> dict[str, Any]:
    import torch
    from reasoning import qwen3_06b_config
    from transformers import AutoTokenizer, Qwen3ForCausalLM

    from frs_ros.benchmark import generate_split
    from frs_ros.reasoning import Reasoner, ReasonerConfig
    from frs_ros.reasoning.runtime.hf import HFRuntime
    from frs_ros.reasoning.runtime.tiny_tokenizer import TINY_TOKENIZER_DIR

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(TINY_TOKENIZER_DIR))
    config = qwen3_06b_config()  # Qwen/Qwen3-0.6B's shapes and 151,936-token vocabulary
    config.eos_token_id = tokenizer.eos_token_id
    model = Qwen3ForCausalLM(config).to("cuda", getattr(torch, dtype))
    runtime = HFRuntime(model, tokenizer)
    reasoner = Reasoner(runtime, ReasonerConfig(max_new_tokens=tokens, max_rounds=1))
    sample = next(s for s in generate_split("test", 1, progress=False) if len(s.twin) == 1)
    times, n = [], []
    for i in range(repeats + 1):
        runtime.reset_cache()  # every query prefills the whole prompt, as a first query does
        _sync()
        t = time.perf_counter()
        result = reasoner.answer(sample.twin, sample.query)
        _sync()
        if i:  # the first is a warm-up
            times.append(time.perf_counter() - t)
            n.append(result.n_tokens)
    per_query = statistics.median(times)
    return {
        "part": f"reasoner (Qwen3-0.6B size, {statistics.mean(n):.0f} tokens, prompt prefilled)",
        "dtype": dtype,
        "ms_per_frame": 1000 * per_query,
        "fps": 1 / per_query,
        "gpu_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def markdown(rows: list[dict[str, Any]], device: str) -> str:
    lines = [
        f"GPU: {device}",
        "",
        "| part | dtype | ms / frame (query) | FPS | GPU memory (GiB) |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['part']} | {r['dtype']} | {r['ms_per_frame']:.1f} | {r['fps']:.2f} "
            f"| {r['gpu_mem_gib']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--dtypes", default="float16,float32")
    p.add_argument("--reasoner-tokens", type=int, default=150)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-perception", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("error: no CUDA device (benchmarks/gpu.py needs one)", file=sys.stderr)
        return 2
    device = torch.cuda.get_device_name(0)
    rows = []
    for dtype in args.dtypes.split(","):
        if not args.skip_perception:
            for every in (5, 1):
                rows.append(perception_row(dtype, args.frames, every))
                print(json.dumps(rows[-1]), flush=True)
    rows.append(reasoner_row("float16", args.reasoner_tokens, args.repeats))
    print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows, device))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
