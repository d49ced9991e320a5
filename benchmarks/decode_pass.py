"""What one onnxruntime-genai forward pass costs, by cache length and tokens per pass.

docs/cpu.md, "Where a second query's time goes": the second query on a twin is
decode-bound, so its time is (forward passes) x (cost of a pass). This measures that cost
directly on a converted model (raw onnxruntime-genai, no Python decode loop around it): for
each cache length N, the median of ``--repeats`` passes of k random tokens appended on top
of N cached tokens, each rewound before the next.

    python benchmarks/decode_pass.py models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --adapter asset:student_smollm2 --precision int8 --all-logits

A ``.gguf`` file is converted as a reasoner config would convert it (once, cached); a
directory written by ``frs export-cpu`` is loaded as it is.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from frs_ros.reasoning.runtime.export_cpu import PRECISIONS  # noqa: E402
from frs_ros.reasoning.runtime.gguf_cache import converted_model  # noqa: E402
from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime, require_ort_genai  # noqa: E402


def pass_ms(model, og, cached: int, tokens: int, repeats: int, rng: np.random.Generator) -> float:
    """Median milliseconds of appending ``tokens`` tokens on top of ``cached`` ones."""
    gen = og.Generator(model, og.GeneratorParams(model))
    gen.append_tokens(rng.integers(100, 10_000, cached).astype(np.int32))
    times = []
    for _ in range(repeats):
        ids = rng.integers(100, 10_000, tokens).astype(np.int32)
        start = time.perf_counter()
        gen.append_tokens(ids)
        times.append(time.perf_counter() - start)
        gen.rewind_to(cached)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", type=Path, help="a .gguf file or an `frs export-cpu` directory")
    p.add_argument("--adapter", default=None, help="with a .gguf: LoRA adapter merged in")
    p.add_argument("--precision", default="int8", choices=PRECISIONS)
    p.add_argument("--all-logits", action="store_true", help="the graph drafts need")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (None: all CPUs)")
    p.add_argument("--cached", type=int, nargs="+", default=[64, 900, 2000])
    p.add_argument("--tokens", type=int, nargs="+", default=[1, 2, 5])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--context", type=int, default=4096)
    args = p.parse_args(argv)
    if not args.model.exists():
        print(f"error: {args.model} does not exist (frs models get)", file=sys.stderr)
        return 2
    if max(args.cached) + max(args.tokens) > args.context:
        print("error: the longest cache plus a pass exceeds --context", file=sys.stderr)
        return 2
    og = require_ort_genai()
    root = args.model
    if root.suffix == ".gguf":
        root = converted_model(
            root,
            precision=args.precision,
            adapter=args.adapter,
            all_logits=args.all_logits,
            log=lambda line: print(line, file=sys.stderr),
        )
    # the runtime's own loading (threads, cache length), then its model driven raw
    model = OrtGenaiRuntime(root, threads=args.threads, context=args.context).og_model
    rng = np.random.default_rng(0)
    header = " | ".join(f"{k}-token pass ms" for k in args.tokens)
    print(f"| tokens in the cache | {header} |")
    print("|---:|" + "---:|" * len(args.tokens))
    for cached in args.cached:
        cells = [f"{pass_ms(model, og, cached, k, args.repeats, rng):.1f}" for k in args.tokens]
        print(f"| {cached:,} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
