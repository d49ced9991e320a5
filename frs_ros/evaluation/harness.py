"""The evaluation harness (``frs eval``): run a predictor over a benchmark split, score it
with ``frs_ros.metrics`` per category x level, and measure efficiency (FastReasonSeg
seed Table 5: parameters, peak memory, latency, throughput).

Modes:
- ``twin``: reasoning only, on the ground-truth twin of each sample.
- ``full``: render each frame (``frs_ros.benchmark.render``) → perception → twin →
  reasoning. Perceived track ids differ from the ground truth, so only masks are compared.

Resumable: one JSON line per scored sample is appended (and flushed to disk) to
``predictions.jsonl`` (ids, outcome, scores and the rollout text, so a failure can be
read); a rerun with the same output folder skips the samples already there, and a line cut
short by a kill is dropped and redone.

Reports: the category x level tables, bootstrap 95 % confidence intervals overall and per
category (``MetricsAccumulator.ci_markdown``; ``metrics_ci.json``) and the efficiency table.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from frs_ros.benchmark.render import render_frame
from frs_ros.benchmark.scene import camera_intrinsics
from frs_ros.evaluation.predictors import Predictor, count_parameters
from frs_ros.metrics import MetricsAccumulator, SampleResult
from frs_ros.reasoning.answers import answer_masks
from frs_ros.samples import Sample, read_appended
from frs_ros.twin import RLE, Twin
from frs_ros.twin import rle as rle_utils

MODES: tuple[str, ...] = ("twin", "full")
PREDICTIONS = "predictions.jsonl"


@dataclass
class EvalReport:
    metrics: MetricsAccumulator
    efficiency: dict[str, Any]
    out_dir: Path
    n_new: int  # samples evaluated by this run (the rest were resumed)
    chain_failures: list[str]  # oracle only: samples whose replay differed from the chain
    bootstrap: int = 1000  # resamples of the confidence intervals (0: none)

    def markdown(self) -> str:
        parts = [self.metrics.to_markdown()]
        if self.bootstrap and len(self.metrics):
            parts.append(self.metrics.ci_markdown(n_resamples=self.bootstrap))
        return "\n".join([*parts, efficiency_markdown([self.efficiency])])


def peak_rss_bytes() -> int:
    """The process's resident-set high-water mark (VmHWM), from /proc or getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def _stack(unions: Sequence[RLE], size: tuple[int, ...] | None = None) -> np.ndarray:
    frames = []
    for rle in unions:
        m = rle_utils.decode(rle)
        if size is not None and m.shape != size:  # perception may have resized the frame
            img = Image.fromarray(m.astype(np.uint8) * 255).resize(
                (size[1], size[0]), Image.Resampling.NEAREST
            )
            m = np.asarray(img) > 127
        frames.append(m)
    return np.stack(frames)


def perceive(sample: Sample, pipeline: Any) -> Twin:
    """Render the sample's frames and observe them with a ``PerceptionPipeline``, as a new
    stream whose window holds the whole clip."""
    from frs_ros.io.frames import Frame
    from frs_ros.segmenter import ReasoningSegmenter

    segmenter = ReasoningSegmenter(pipeline, window=max(len(sample.twin), 1))
    segmenter.reset_stream()
    for f in sample.twin.frames:
        rgb, depth = render_frame(f)
        intrinsics = camera_intrinsics(f.width, f.height)
        segmenter.observe(Frame(f.index, f.stamp, rgb, depth, intrinsics))
    twin = segmenter.twin
    if twin is None:
        raise ValueError(f"sample {sample.id}: no frame to perceive")
    return twin


def evaluate(
    samples: Iterable[Sample],
    predictor: Predictor,
    out_dir: str | os.PathLike,
    *,
    mode: str = "twin",
    pipeline: Any = None,
    limit: int | None = None,
    progress: bool = True,
    chart: bool = True,
    bootstrap: int = 1000,
) -> EvalReport:
    """Evaluate ``predictor`` on ``samples``; write predictions, tables, chart, efficiency."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "full" and pipeline is None:
        raise ValueError("full mode needs a perception pipeline")
    if mode == "full" and predictor.needs_gt_twin:
        raise ValueError(
            f"the {predictor.name} predictor answers with ground-truth ids, which mean nothing "
            "on a perceived twin; evaluate it with mode 'twin'"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pred_path = out / PREDICTIONS
    records = read_appended(pred_path)
    acc = MetricsAccumulator()
    for rec in records:
        acc.add_result(SampleResult(**rec["score"]))
    done = {rec["id"] for rec in records}
    todo = [s for s in samples if s.id not in done]
    if limit is not None:
        todo = todo[: max(limit - len(done), 0)]

    n_new = 0
    with pred_path.open("a", encoding="utf-8") as fh:
        for sample in tqdm(todo, desc=f"eval {predictor.name} ({mode})", disable=not progress):
            record = _evaluate_one(sample, predictor, mode, pipeline, acc)
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # a kill loses at most the sample being scored
            records.append(record)
            n_new += 1

    efficiency = _efficiency(records, predictor, mode, pipeline)
    _write_reports(out, acc, efficiency, chart, bootstrap)
    failures = [r["id"] for r in records if r.get("chain_ok") is False]
    return EvalReport(acc, efficiency, out, n_new, failures, bootstrap)


def _evaluate_one(
    sample: Sample,
    predictor: Predictor,
    mode: str,
    pipeline: Any,
    acc: MetricsAccumulator,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    twin = perceive(sample, pipeline) if mode == "full" else sample.twin
    t1 = time.perf_counter()
    pred = predictor.predict(sample, twin)
    t2 = time.perf_counter()
    gt = _stack(sample.gt_masks)
    pred_masks = _stack([f.union for f in answer_masks(twin, pred.ids).frames], gt.shape[1:])
    score = acc.add(
        sample.id, sample.category, sample.level, pred_masks, gt, negative=sample.negative
    )
    return {
        "id": sample.id,
        "query": sample.query,
        "category": sample.category,
        "level": sample.level,
        "negative": sample.negative,
        "gt_ids": sample.gt_ids,
        "pred_ids": pred.ids,
        "outcome": pred.outcome,
        "n_tokens": pred.n_tokens,
        "rounds": pred.rounds,
        "chain_ok": pred.chain_ok,
        "rollout": pred.rollout,
        "n_frames": len(sample.twin),
        "perception_s": t1 - t0,
        "reasoning_s": t2 - t1,
        "score": asdict(score),
    }


def _efficiency(
    records: list[dict[str, Any]], predictor: Predictor, mode: str, pipeline: Any
) -> dict[str, Any]:
    n = len(records)
    frames = sum(r["n_frames"] for r in records)
    total = sum(r["perception_s"] + r["reasoning_s"] for r in records)
    llm = getattr(predictor, "runtime", None)
    llm_params: int | None = 0
    if llm is not None:
        # runtimes without torch modules say what they know (None: unknown, as a server's)
        llm_params = (
            llm.parameter_count if hasattr(llm, "parameter_count") else count_parameters(llm)
        )
    perception_params = count_parameters(pipeline) if pipeline is not None else 0
    return {
        "method": predictor.name,
        "mode": mode,
        "samples": n,
        "frames": frames,
        "llm_params": llm_params,
        "total_params": None if llm_params is None else llm_params + perception_params,
        "peak_rss_bytes": peak_rss_bytes(),
        "latency_ms_per_query": 1000 * total / n if n else float("nan"),
        "latency_ms_per_frame": 1000 * total / frames if frames else float("nan"),
        "reasoning_ms_per_query": 1000 * sum(r["reasoning_s"] for r in records) / n
        if n
        else float("nan"),
        "throughput_fps": frames / total if total > 0 else float("nan"),
        "throughput_qps": n / total if total > 0 else float("nan"),
        "tokens_per_query": sum(r["n_tokens"] for r in records) / n if n else 0.0,
        "outcomes": _count(r["outcome"] for r in records),
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _params(n: int | None) -> str:
    if n is None:
        return "unknown"
    if n == 0:
        return "0"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def efficiency_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Table 5 of the FastReasonSeg seed, one row per evaluated method."""
    lines = [
        "| Method | Mode | LLM Params | Total Params | Peak Memory (RSS) | Latency / query (ms)"
        " | Latency / frame (ms) | Throughput (FPS) | Tokens / query |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['mode']} | {_params(r['llm_params'])} | "
            f"{_params(r['total_params'])} | {r['peak_rss_bytes'] / 2**30:.2f} GiB | "
            f"{r['latency_ms_per_query']:.1f} | {r['latency_ms_per_frame']:.1f} | "
            f"{r['throughput_fps']:.2f} | {r['tokens_per_query']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _write_reports(
    out: Path, acc: MetricsAccumulator, efficiency: dict[str, Any], chart: bool, bootstrap: int
) -> None:
    tables = acc.to_markdown(metrics=("J", "F", "J&F", "gIoU", "cIoU", "R"))
    if bootstrap and len(acc):
        tables += "\n" + acc.ci_markdown(n_resamples=bootstrap)
        rows = acc.confidence_intervals(n_resamples=bootstrap)
        safe = [
            {
                k: [None if isinstance(v, float) and v != v else v for v in val]
                if isinstance(val, tuple)
                else val
                for k, val in row.items()
            }
            for row in rows
        ]
        (out / "metrics_ci.json").write_text(
            json.dumps({"resamples": bootstrap, "confidence": 0.95, "seed": 0, "rows": safe})
            + "\n",
            encoding="utf-8",
        )
    (out / "metrics.md").write_text(tables, encoding="utf-8")
    acc.write_csv(out / "metrics.csv")
    acc.write_json(out / "metrics.json")
    (out / "efficiency.md").write_text(efficiency_markdown([efficiency]), encoding="utf-8")
    record = {k: (None if isinstance(v, float) and v != v else v) for k, v in efficiency.items()}
    (out / "efficiency.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if chart and len(acc):
        acc.plot_bars(out / "jf.png", "J&F")
