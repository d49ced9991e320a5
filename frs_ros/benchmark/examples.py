"""Write small bundled examples: a rendered kitchen image and a short rendered video
(PNG frames + an animated GIF), each with the queries the generator can ask about it.

    python -m frs_ros.benchmark.examples examples/
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from frs_ros.benchmark.queries import TEMPLATES
from frs_ros.benchmark.render import render_twin
from frs_ros.benchmark.scene import SceneRejected, sample_scene, scene_twin
from frs_ros.twin import Twin


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


if __name__ == "__main__":
    for p in write_examples(sys.argv[1] if len(sys.argv) > 1 else "examples"):
        print(p)
