"""Write small bundled examples: a rendered kitchen image and a short rendered video
(PNG frames + an animated GIF), each with the queries the generator can ask about it; and
the reasoner's few-shot examples (``frs_ros/assets/few_shot.jsonl``).

    python -m frs_ros.benchmark.examples examples/
    python -m frs_ros.benchmark.examples --few-shot
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from frs_ros.benchmark.generator import generate_sample
from frs_ros.benchmark.queries import TEMPLATES
from frs_ros.benchmark.render import render_twin
from frs_ros.benchmark.scene import SceneRejected, sample_scene, scene_twin
from frs_ros.reasoning.few_shot import FEW_SHOT_ASSET, FEW_SHOT_SPLIT, MAX_FEW_SHOT
from frs_ros.samples import Sample
from frs_ros.twin import Twin

FEW_SHOT_SEED = 0
# (category, level, negative) of few-shot example i, in the order k takes them. Level 2
# first: each shows two steps (knowledge or a filter, then a tool), and the three
# categories use different tools; then a negative (answer []), then level 3 (longer chains).
FEW_SHOT_CELLS: tuple[tuple[str, int, bool], ...] = (
    ("semantic", 2, False),
    ("temporal", 2, False),
    ("spatial", 2, False),
    ("semantic", 1, True),
    ("spatial", 3, False),
    ("temporal", 3, False),
)


def _queries(twin: Twin, seed: int) -> list[dict]:
    """One positive query per template that fits the twin (with its answer)."""
    out = []
    for (category, level), templates in TEMPLATES.items():
        for template in templates:
            for attempt in range(20):
                q = template(twin, np.random.default_rng([seed, level, attempt]), False)
                if q is not None:
                    labels = [twin.last_seen(i).label for i in q.ids]
                    out.append(
                        {
                            "query": q.text,
                            "category": category,
                            "level": level,
                            "ids": q.ids,
                            "labels": labels,
                        }
                    )
                    break
    return out


def _scene(seed: int, n_frames: int, size: tuple[int, int], need: set[str]) -> Twin:
    """The first seeded scene whose queries cover the categories in ``need``."""
    for k in range(500):
        try:
            rng = np.random.default_rng([seed, k])
            scene = sample_scene(
                rng, f"example/{k}", n_frames=n_frames, size=size, n_objects=(6, 8)
            )
            twin = scene_twin(scene)
        except SceneRejected:
            continue
        cats = {q["category"] for q in _queries(twin, seed)}
        if need <= cats and len(_queries(twin, seed)) >= 2 * len(need):
            return twin
    raise RuntimeError(f"no example scene covers {need} (seed {seed})")


def write_examples(out_dir: str | os.PathLike, seed: int = 0) -> list[Path]:
    out = Path(out_dir)
    written = []
    image = _scene(seed, 1, (240, 320), {"semantic", "spatial"})
    video = _scene(seed + 1, 6, (120, 160), {"temporal"})
    for name, twin in (("kitchen_image", image), ("kitchen_video", video)):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        frames = render_twin(twin)
        for t, (rgb, depth) in enumerate(frames):
            stem = "image" if len(frames) == 1 else f"frame_{t:03d}"
            Image.fromarray(rgb).save(folder / f"{stem}.png", optimize=True)
            mm = np.clip(depth * 1000.0, 0, 65535).astype(np.uint16)  # 16-bit mm, like sensors
            Image.fromarray(mm).save(folder / f"{stem}_depth.png", optimize=True)
            written += [folder / f"{stem}.png", folder / f"{stem}_depth.png"]
        if len(frames) > 1:
            gif = [Image.fromarray(rgb).quantize(64) for rgb, _ in frames]
            gif[0].save(
                folder / "video.gif", save_all=True, append_images=gif[1:], duration=500, loop=0
            )
            written.append(folder / "video.gif")
        queries = _queries(twin, seed)
        (folder / "queries.json").write_text(json.dumps(queries, indent=1) + "\n")
        (folder / "query.txt").write_text("\n".join(q["query"] for q in queries) + "\n")
        (folder / "twin.json").write_text(twin.to_json() + "\n")
        written += [folder / "queries.json", folder / "query.txt", folder / "twin.json"]
    return written


def few_shot_samples() -> list[Sample]:
    """The few-shot examples: train sample ``i`` of cell ``FEW_SHOT_CELLS[i]``."""
    return [
        generate_sample(FEW_SHOT_SPLIT, i, category, level, negative, seed=FEW_SHOT_SEED)
        for i, (category, level, negative) in enumerate(FEW_SHOT_CELLS)
    ]


def few_shot_lines(samples: list[Sample]) -> list[str]:
    """The asset's lines: what the prompt needs (twin, query, chain) and where it came from."""
    keys = ("id", "split", "category", "level", "negative", "gt_ids", "query", "chain", "twin")
    return [json.dumps({k: s.to_dict()[k] for k in keys}, separators=(",", ":")) for s in samples]


def write_few_shot(path: str | os.PathLike = FEW_SHOT_ASSET) -> Path:
    samples = few_shot_samples()
    assert len(samples) == MAX_FEW_SHOT, "MAX_FEW_SHOT must count the shipped examples"
    path = Path(path)
    path.write_text("\n".join(few_shot_lines(samples)) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    if sys.argv[1:] == ["--few-shot"]:
        print(write_few_shot())
    else:
        for p in write_examples(sys.argv[1] if len(sys.argv) > 1 else "examples"):
            print(p)
