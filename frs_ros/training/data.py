"""The ``data`` stage: bags + annotations and benchmark JSONL -> one training-set JSONL.

Annotation files (YAML or JSON) attach queries and ground truth to logged bags::

    bag: recordings/kitchen_01        # rosbag2 dir or file; relative to this file
    image_topic: /camera/color/image_raw   # optional (default: the first image topic)
    depth_topic: /camera/depth/image_rect_raw     # optional, metric depth
    camera_info_topic: /camera/color/camera_info  # optional
    annotations:
      - id: kitchen_01/q1
        query: the mug someone just put down
        start: 2.0          # seconds from the first image (the twin's time window)
        end: 4.5
        category: temporal  # semantic | spatial | temporal
        level: 2
        negative: false     # true: nothing matches (gt must be empty)
        gt:
          ids: [3]          # track ids in the cached twin ...
          # rle: {"<frame index>": {"size": [h, w], "counts": "..."}}   ... or masks

``validate_annotations`` reports every problem with its location, e.g.
``kitchen.yaml: annotations[2].gt: give exactly one of 'ids' or 'rle'``.
Large sets are split across processes with ``accelerate``
(``PartialState().split_between_processes``); each process writes its own shard.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from frs_ros.samples import Sample, read_jsonl, write_jsonl
from frs_ros.training.bags import BagReport, bag_to_twins
from frs_ros.training.config import DataConfig
from frs_ros.twin import Twin
from frs_ros.yaml_safe import load_yaml_file

log = logging.getLogger(__name__)
_TOP = {"bag", "image_topic", "depth_topic", "camera_info_topic", "annotations"}
_ITEM = {"id", "query", "start", "end", "category", "level", "negative", "gt"}
CATEGORIES = ("semantic", "spatial", "temporal")


def load_annotations(path: str | Path) -> dict[str, Any]:
    """Parse and validate; raises ``ValueError`` listing every problem found."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    doc = load_yaml_file(path)  # YAML is a superset of JSON
    errors = validate_annotations(doc, str(path))
    if errors:
        raise ValueError("invalid annotations:\n  " + "\n  ".join(errors))
    doc["bag"] = str((path.parent / doc["bag"]).resolve())
    return doc


def validate_annotations(doc: Any, where: str = "annotations") -> list[str]:
    if not isinstance(doc, dict):
        return [f"{where}: must be a mapping with 'bag' and 'annotations'"]
    errs = [f"{where}: unknown key {k!r} (known: {sorted(_TOP)})" for k in doc if k not in _TOP]
    if not isinstance(doc.get("bag"), str) or not doc.get("bag"):
        errs.append(f"{where}: 'bag' must be a path to a rosbag2 directory or file")
    items = doc.get("annotations")
    if not isinstance(items, list) or not items:
        return [*errs, f"{where}: 'annotations' must be a non-empty list"]
    seen: set[str] = set()
    for i, a in enumerate(items):
        at = f"{where}: annotations[{i}]"
        if not isinstance(a, dict):
            errs.append(f"{at}: must be a mapping")
            continue
        errs += [f"{at}: unknown key {k!r} (known: {sorted(_ITEM)})" for k in a if k not in _ITEM]
        if not isinstance(a.get("id"), str) or a["id"] in seen:
            errs.append(f"{at}.id: must be a unique string")
        seen.add(str(a.get("id")))
        if not isinstance(a.get("query"), str) or not a["query"].strip():
            errs.append(f"{at}.query: must be a non-empty string")
        start, end = a.get("start", 0.0), a.get("end")
        if not isinstance(start, int | float) or not isinstance(end, int | float) or end < start:
            errs.append(f"{at}: 'start' and 'end' must be seconds with start <= end")
        if a.get("category", "semantic") not in CATEGORIES:
            errs.append(f"{at}.category: must be one of {CATEGORIES}")
        gt = a.get("gt")
        if (
            not isinstance(gt, dict)
            or len(set(gt) & {"ids", "rle"}) != 1
            or set(gt)
            - {
                "ids",
                "rle",
            }
        ):
            errs.append(f"{at}.gt: give exactly one of 'ids' or 'rle'")
            continue
        if "ids" in gt and not all(isinstance(x, int) for x in gt["ids"] or []):
            errs.append(f"{at}.gt.ids: must be a list of integer track ids")
        if "rle" in gt and not (
            isinstance(gt["rle"], dict)
            and all(
                isinstance(v, dict) and {"size", "counts"} <= set(v) for v in gt["rle"].values()
            )
        ):
            errs.append(f"{at}.gt.rle: must map frame index -> COCO RLE {{size, counts}}")
        if a.get("negative") and (gt.get("ids") or gt.get("rle")):
            errs.append(f"{at}: negative: true needs an empty gt")
    return errs


def annotated_samples(doc: dict[str, Any], twins: list[Any]) -> list[Sample]:
    """One sample per annotation: the twin of its time window and its ground truth."""
    out = []
    t0 = twins[0].stamp if twins else 0.0
    for a in doc["annotations"]:
        frames = [f for f in twins if a.get("start", 0.0) <= f.stamp - t0 <= a["end"]]
        if not frames:
            log.warning("annotation %s: no frame in [%s, %s] s", a["id"], a.get("start"), a["end"])
            continue
        twin = Twin(frames=frames)
        extra = dict(
            category=a.get("category", "semantic"),
            level=int(a.get("level", 1)),
            negative=bool(a.get("negative", False)),
        )
        if "ids" in a["gt"]:
            s = Sample.from_ids(a["id"], twin, a["query"], list(a["gt"]["ids"]), **extra)
        else:
            gt = {int(k): v for k, v in a["gt"]["rle"].items()}
            s = Sample.from_dict(
                {"id": a["id"], "query": a["query"], "twin": twin.to_dict(), "gt": gt, **extra},
                f"annotation {a['id']}",
            )
        out.append(s)
    return out


def ensure_synthetic_inputs(folder: str | Path) -> bool:
    """The generated smoke inputs (a bag, its annotations, oracle samples) in ``folder``,
    written unless all are there already; True when they were written."""
    from frs_ros.training.synthetic import write_inputs

    out = Path(folder)
    if all((out / name).exists() for name in ("bag", "annotations.yaml", "samples.jsonl")):
        return False
    written = write_inputs(out)
    log.info("data: wrote the synthetic inputs %s", ", ".join(map(str, written.values())))
    return True


def run_data(cfg: DataConfig) -> tuple[int, list[BagReport]]:
    """Build the training-set JSONL; returns (samples written, per-bag reports)."""
    from accelerate import PartialState

    state = PartialState()
    if cfg.synthetic and state.is_main_process:
        ensure_synthetic_inputs(cfg.synthetic)
    state.wait_for_everyone()
    samples: list[Sample] = []
    for path in cfg.jsonl:
        samples += read_jsonl(path)
    docs = [load_annotations(p) for p in cfg.annotations]
    bags = sorted(set(cfg.bags) | {d["bag"] for d in docs})
    reports: list[BagReport] = []
    pipeline = None
    with state.split_between_processes(bags) as mine:
        for bag in mine:
            if pipeline is None:
                from frs_ros.perception.pipeline import PerceptionPipeline

                pipeline = PerceptionPipeline.from_profile(cfg.perception_profile)
            doc = next((d for d in docs if d["bag"] == bag), {})
            twins, report = bag_to_twins(
                bag,
                cfg.cache_dir,
                pipeline,
                cfg.perception_profile,
                image_topic=doc.get("image_topic") or cfg.image_topic,
                depth_topic=doc.get("depth_topic") or cfg.depth_topic,
                info_topic=doc.get("camera_info_topic") or cfg.camera_info_topic,
                stride=cfg.frame_stride,
                max_frames=cfg.max_frames,
            )
            reports.append(report)
            if doc and twins:
                samples += annotated_samples(doc, twins)
    out = Path(cfg.output)
    if state.num_processes > 1:
        out = out.with_suffix(f".rank{state.process_index}.jsonl")
    n_eval = int(len(samples) * cfg.eval_fraction)
    write_jsonl(out, samples[n_eval:])
    if n_eval:
        write_jsonl(out.with_suffix(".eval.jsonl"), samples[:n_eval])
    (out.parent / (out.stem + ".report.json")).write_text(
        json.dumps([r.__dict__ for r in reports], indent=1)
    )
    return len(samples) - n_eval, reports
