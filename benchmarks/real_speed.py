"""Where a real model's query time goes on a CPU (docs/cpu.md, "Real weights, end to end").

Times real GGUF weights end to end through ``ReasoningSegmenter.ask`` on benchmark queries
over small twins (at most ``--max-objects`` objects): for each twin a first query (new
twin: the twin's tokens are prefilled) and a second query on the same twin (only the new
query is prefilled). Per query: prefill tokens and seconds, generated tokens and decode
seconds, the grammar matcher's seconds (constrained-decoding overhead, as a share of
decode), tool seconds, rounds and wall time. One process: the system prompt is prefilled
by the first query only.

Side by side in the same run (``--llama-python``): a llama.cpp server
(``llama-cpp-python[server]``, docs/cpu.md says how to build it) on the same GGUF file and
the same grammar (GBNF) through the openai runtime; the row is skipped with a message when
that Python has no ``llama_cpp``.

    python benchmarks/real_speed.py models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \\
        --queries 10 --llama-python /work/llama-venv/bin/python --json out/real_speed.json

The shipped student (``--reasoner student``: the adapter merged, int8):

    python benchmarks/real_speed.py models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --adapter asset:student_smollm2 --precision int8 --prompt brief

``--draft-tokens 0 4`` adds a row per value in the same run: prompt-lookup drafts of up to
N tokens checked per step (N > 0 converts the model with every position's logits, an
entry of its own in the cache).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from frs_ros.benchmark import generate_split  # noqa: E402
from frs_ros.reasoning.engine import ReasonerConfig  # noqa: E402
from frs_ros.reasoning.runtime.export_cpu import PRECISIONS  # noqa: E402
from frs_ros.samples import Sample  # noqa: E402
from frs_ros.segmenter import ReasoningSegmenter  # noqa: E402


def pick_samples(n: int, max_objects: int) -> list[tuple[Sample, str]]:
    """``n`` (sample, second query) pairs: single-frame twins of at most ``max_objects``
    objects, one per twin; the second query is another benchmark query of the same
    category, asked on the same twin."""
    pool = [
        s
        for s in generate_split("test", 3, progress=False)
        if len(s.twin) == 1 and len(s.twin.ids) <= max_objects
    ]
    picked: list[tuple[Sample, str]] = []
    for i, s in enumerate(pool):
        other = next(
            (o.query for o in pool[i + 1 :] + pool[:i] if o.category == s.category), pool[0].query
        )
        picked.append((s, other))
        if len(picked) == n:
            break
    return picked


def uptime() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_queries(seg: ReasoningSegmenter, pairs: list[tuple[Sample, str]]) -> list[dict]:
    """Ask each twin's two queries; one row per query with the runtime's time split."""
    runtime = seg.reasoner.runtime if seg.reasoner else None
    timing = getattr(runtime, "timing", None)
    rows = []
    for sample, second in pairs:
        seg.set_twin(sample.twin)
        for kind, query in (("first", sample.query), ("second", second)):
            before = timing.snapshot() if timing is not None else None
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            out = seg.ask(query)
            wall = time.perf_counter() - t0
            r = out.result
            row: dict[str, Any] = {
                "sample": sample.id,
                "kind": kind,
                "objects": len(sample.twin.ids),
                "outcome": r.outcome,
                "rounds": r.rounds,
                "generated": r.n_tokens,
                "tools_s": r.timings.get("tools_s", 0.0),
                "wall_s": wall,
                "load1": load,
            }
            if before is not None:
                d = timing - before
                row |= {
                    "prefill_tokens": d.prefill_tokens,
                    "prefill_s": d.prefill_s,
                    "decode_tokens": d.decode_tokens,
                    "decode_steps": d.decode_steps,
                    "drafted": d.drafted,
                    "draft_accepted": d.draft_accepted,
                    "decode_s": d.decode_s,
                    "grammar_s": d.grammar_s,
                    "compile_s": d.compile_s,
                }
            rows.append(row)
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
            )
    return rows


def summarize(name: str, rows: list[dict], load: tuple[str, str]) -> dict:
    def med(kind: str, key: str) -> float | None:
        vals = [r[key] for r in rows if r["kind"] == kind and key in r]
        return statistics.median(vals) if vals else None

    total = sum(r["wall_s"] for r in rows)
    out: dict[str, Any] = {
        "runtime": name,
        "queries": len(rows),
        "first_s": med("first", "wall_s"),
        "second_s": med("second", "wall_s"),
        "queries_per_min": 60 * len(rows) / total if total else None,
        "generated": statistics.mean(r["generated"] for r in rows),
        "rounds": statistics.mean(r["rounds"] for r in rows),
        "tools_s": statistics.mean(r["tools_s"] for r in rows),
        "outcomes": {o: sum(r["outcome"] == o for r in rows) for o in {r["outcome"] for r in rows}},
        "load_before": load[0],
        "load_after": load[1],
    }
    if rows and "prefill_s" in rows[0]:
        pre_t = sum(r["prefill_tokens"] for r in rows)
        pre_s = sum(r["prefill_s"] for r in rows)
        dec_t = sum(r["decode_tokens"] for r in rows)
        dec_s = sum(r["decode_s"] for r in rows)
        steps = sum(r["decode_steps"] for r in rows)
        gram = sum(r["grammar_s"] for r in rows)
        drafted = sum(r["drafted"] for r in rows)
        out |= {
            "prefill_first": med("first", "prefill_tokens"),
            "prefill_second": med("second", "prefill_tokens"),
            "prefill_tok_s": pre_t / pre_s if pre_s else None,
            "decode_ms_token": 1000 * dec_s / dec_t if dec_t else None,
            "steps_per_token": steps / dec_t if dec_t else None,
            "grammar_share": gram / dec_s if dec_s else None,
            "draft_kept": sum(r["draft_accepted"] for r in rows) / drafted if drafted else None,
        }
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llama_server(python: str, gguf: Path, threads: int, context: int) -> tuple[Any, str] | None:
    """Start ``python -m llama_cpp.server`` on ``gguf``; (process, url) or None when that
    Python has no llama_cpp (the message says how to build it)."""
    check = subprocess.run([python, "-c", "import llama_cpp.server"], capture_output=True)
    if check.returncode != 0:
        print(
            f"llama.cpp row skipped: {python} cannot import llama_cpp.server "
            "(docs/cpu.md, 'llama.cpp as a peer', says how to build it)",
            file=sys.stderr,
        )
        return None
    port = free_port()
    cmd = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads)]
    cmd += ["--n_threads_batch", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {proc.returncode}") from None
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("llama.cpp server did not come up in 300 s")


def markdown(rows: list[dict]) -> str:
    def f(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    head = (
        "| runtime | queries | first query, s (median) | second query, s (median) "
        "| queries/min | prefill tokens first / second (median) | prefill tok/s "
        "| decode ms/token | forward passes / token | drafts kept | grammar / decode "
        "| generated tokens (mean) | rounds (mean) "
        "| tools s (mean) | outcomes | load before / after |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
    )
    lines = []
    for r in rows:
        pre = (
            f"{r['prefill_first']:.0f} / {r['prefill_second']:.0f}"
            if r.get("prefill_first") is not None
            else "-"
        )
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        lines.append(
            f"| {r['runtime']} | {r['queries']} | {f(r['first_s'], '.2f')} "
            f"| {f(r['second_s'], '.2f')} | {f(r['queries_per_min'], '.1f')} | {pre} "
            f"| {f(r.get('prefill_tok_s'), '.0f')} | {f(r.get('decode_ms_token'), '.1f')} "
            f"| {f(r.get('steps_per_token'), '.2f')} | {f(r.get('draft_kept'), '.0%')} "
            f"| {f(r.get('grammar_share'), '.1%')} "
            f"| {r['generated']:.0f} | {r['rounds']:.1f} "
            f"| {r['tools_s']:.3f} | {outcomes} | {r['load_before']} / {r['load_after']} |"
        )
    return head + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("gguf", type=Path, help="GGUF file (frs models get)")
    p.add_argument("--queries", type=int, default=10, help="twins (each: first + second query)")
    p.add_argument("--max-objects", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--prompt", default="full", help="system prompt style (full | brief)")
    p.add_argument("--adapter", default=None, help="LoRA adapter merged in (dir or asset:NAME)")
    p.add_argument("--precision", default="int4", choices=PRECISIONS)
    p.add_argument(
        "--draft-tokens",
        type=int,
        nargs="+",
        default=[0],
        help="prompt-lookup draft sizes, one row each (0: no drafts)",
    )
    p.add_argument("--llama-python", default=None, help="a Python with llama-cpp-python[server]")
    p.add_argument("--json", type=Path, default=None, help="write rows and summary here")
    args = p.parse_args(argv)
    if not args.gguf.is_file():
        print(
            f"error: {args.gguf} does not exist (frs models get ... --dir models)", file=sys.stderr
        )
        return 2
    from frs_ros.reasoning.runtime import load_runtime
    from frs_ros.reasoning.runtime.gguf_cache import converted_model

    pairs = pick_samples(args.queries, args.max_objects)
    config = ReasonerConfig(timeout_s=600, prompt=args.prompt)
    summaries, all_rows = [], {}

    for draft_tokens in args.draft_tokens:
        load0 = uptime()
        t = time.perf_counter()
        model_dir = converted_model(
            args.gguf,
            precision=args.precision,
            adapter=args.adapter,
            all_logits=draft_tokens > 0,
            log=lambda line: print(line, file=sys.stderr),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runtime = load_runtime(
                {
                    "kind": "ort-genai",
                    "model": str(model_dir),
                    "threads": args.threads,
                    "context": args.context,
                    "constrained": True,
                    "draft_tokens": draft_tokens,
                }
            )
        name = f"ort-genai {args.precision}{' + adapter' if args.adapter else ''}"
        if draft_tokens:
            name += f", drafts of {draft_tokens}"
        print(f"{name} loaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        rows = run_queries(ReasoningSegmenter(None, runtime, config), pairs)
        summaries.append(summarize(f"{name}, constrained (llguidance)", rows, (load0, uptime())))
        all_rows[name] = rows
        del runtime

    if args.llama_python and args.adapter:
        # llama.cpp would serve the base weights: its LoRA files are GGUF, not peft's
        print("llama.cpp row skipped: it cannot merge a peft adapter", file=sys.stderr)
    elif args.llama_python:
        load0 = uptime()
        server = llama_server(args.llama_python, args.gguf, args.threads, args.context)
        if server is not None:
            proc, url = server
            try:
                spec = {
                    "kind": "openai",
                    "model": args.gguf.name,
                    "tokenizer": str(model_dir),
                    "constrained": True,
                    "server": "llamacpp",
                    "endpoint": {"url": url, "timeout_s": 600, "max_retries": 0},
                }
                rt = load_runtime(spec)
                rows = run_queries(ReasoningSegmenter(None, rt, config), pairs)
                name = "llama.cpp server (llama-cpp-python), GBNF"
                summaries.append(summarize(name, rows, (load0, uptime())))
                all_rows["llama.cpp"] = rows
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    table = markdown(summaries)
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summaries, "rows": all_rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
