"""Small generated inputs for smoke runs and tests: a rosbag2 of moving shapes (sqlite3 or
MCAP, written with ``frs_ros.io.bags``), an annotation file for it, and a JSONL of twin
samples with oracle chains. ``python -m frs_ros.training.synthetic DIR`` writes all three
into DIR (what ``training/recipes/tiny.yaml`` reads)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from frs_ros.io.bags import write_frames
from frs_ros.io.frames import Frame
from frs_ros.samples import Sample, write_jsonl
from frs_ros.twin.synthetic import random_twin, shape_mask

TOPIC = "/camera/image_raw"


def write_bag(
    path: str | Path, n_frames: int = 3, storage: str = "mcap", size: tuple[int, int] = (32, 40)
) -> Path:
    """A rosbag2 with ``n_frames`` rgb8 images of a drifting square and a disc on TOPIC."""
    return write_frames(path, _moving_shapes(n_frames, size), image_topic=TOPIC, storage=storage)


def _moving_shapes(n_frames: int, size: tuple[int, int]) -> Iterator[Frame]:
    h, w = size
    for t in range(n_frames):
        rgb = np.full((h, w, 3), 40, np.uint8)
        rgb[shape_mask(size, (8 + 2 * t, 10), (5, 5), "rect")] = (220, 30, 30)
        rgb[shape_mask(size, (28, 20 + t), (6, 6), "ellipse")] = (30, 30, 220)
        yield Frame(index=t, stamp=(t + 1) / 10, rgb=rgb, frame_id="camera")


def oracle_samples(n: int, seed: int = 0) -> list[Sample]:
    """Twins of 2 shapes; query "the <label>", oracle chain using the ``find`` tool."""
    out = []
    for i in range(n):
        twin = random_twin(2, size=(24, 32), seed=seed * 10_000 + i)
        label = twin.latest.objects[0].label
        ids = [o.id for o in twin.latest.objects if o.label == label]
        chain = (
            f"<reason>the query names a {label}</reason>"
            f'<plan>[{{"tool": "find", "args": {{"label": "{label}"}}}}]</plan>'
            f"<answer>{json.dumps({'ids': ids})}</answer>"
        )
        out.append(Sample.from_ids(f"gen-{seed}-{i}", twin, f"the {label}", ids, chain=chain))
    return out


def write_inputs(out_dir: str | Path, storage: str = "mcap") -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bag = write_bag(out / "bag", storage=storage)
    annotations = out / "annotations.yaml"
    annotations.write_text(
        yaml.safe_dump(
            {
                "bag": "bag",
                "image_topic": TOPIC,
                "annotations": [
                    {
                        "id": "bag/q1",
                        "query": "the giraffe",
                        "start": 0.0,
                        "end": 1.0,
                        "category": "semantic",
                        "negative": True,
                        "gt": {"ids": []},
                    },
                ],
            }
        )
    )
    samples = out / "samples.jsonl"
    write_jsonl(samples, oracle_samples(3))
    return {"bag": bag, "annotations": annotations, "samples": samples}


if __name__ == "__main__":
    for k, v in write_inputs(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny/inputs").items():
        print(f"{k}: {v}")
