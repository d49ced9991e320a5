"""Render a twin frame as an RGB image and a metric depth image (float32 metres).

Rendering works from the twin alone (masks, labels, median depths), so any benchmark
sample can be fed through the full perception path (render → perception → twin →
reasoning). Objects are painted far to near in their label's colour, shaded by the
distance to the mask's box centre (a soft dome, so a detector sees a volume rather than a
flat sticker); the background is a table (lower half) under a wall, with its own depth.
"""

from __future__ import annotations

import zlib

import numpy as np

from frs_ros.benchmark.scene import BACKGROUND_DEPTH_M
from frs_ros.benchmark.vocabulary import KIND_BY_NAME
from frs_ros.twin import FrameTwin, Twin, TwinObject
from frs_ros.twin import rle as rle_utils

WALL_RGB = np.array([205, 200, 190], dtype=np.float32)
TABLE_RGB = np.array([150, 115, 80], dtype=np.float32)


def label_colour(label: str) -> np.ndarray:
    """The vocabulary colour, or a stable colour derived from the label's name."""
    kind = KIND_BY_NAME.get(label)
    if kind is not None:
        return np.array(kind.colour, dtype=np.float32)
    h = zlib.crc32(label.encode())  # stable across runs, unlike hash()
    return np.array([(h >> s) & 0xFF for s in (0, 8, 16)], dtype=np.float32)


def _background(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy = np.arange(h, dtype=np.float32)[:, None] / max(h - 1, 1)
    table = np.broadcast_to(yy > 0.45, (h, w))
    rgb = np.where(table[..., None], TABLE_RGB, WALL_RGB) * (0.85 + 0.15 * yy[..., None])
    # the table recedes from 1.2 m (bottom edge) to the wall: depth grows with distance
    depth = np.where(table, 1.2 + (1.0 - yy) * (BACKGROUND_DEPTH_M - 1.2), BACKGROUND_DEPTH_M)
    return rgb.astype(np.float32), depth.astype(np.float32)


def render_frame(frame: FrameTwin) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [H, W, 3], depth float32 [H, W] metres) of one frame twin."""
    h, w = frame.height, frame.width
    rgb, depth = _background(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    def far_first(o: TwinObject) -> tuple[float, int]:
        d = o.depth.median if o.depth is not None else BACKGROUND_DEPTH_M
        return (-d, o.id)

    for obj in sorted(frame.objects, key=far_first):
        mask = rle_utils.decode(obj.mask)
        x0, y0, x1, y1 = obj.bbox
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = max((x1 - x0) / 2, 1.0), max((y1 - y0) / 2, 1.0)
        r2 = np.clip(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2, 0.0, 1.0)
        shade = 1.1 - 0.45 * r2  # lit centre, darker rim
        colour = label_colour(obj.label)
        rgb[mask] = np.clip(colour[None, :] * shade[mask][:, None], 0, 255)
        if obj.depth is not None and obj.depth.source == "metric":
            depth[mask] = obj.depth.median
    return rgb.round().astype(np.uint8), depth


def render_twin(twin: Twin) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB, depth) per frame, oldest first."""
    if not twin.frames:
        raise ValueError("cannot render a twin without frames")
    return [render_frame(f) for f in twin.frames]
