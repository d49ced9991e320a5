"""Overlay drawing for RViz, the ``frs`` CLI and reports: coloured masks and labels.

Pure numpy (alpha blending, box outlines) plus PIL for text; no ROS, no OpenCV.
"""

from __future__ import annotations

import colorsys
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from frs_ros.twin.model import FrameTwin


def color_for(obj_id: int) -> tuple[int, int, int]:
    """A stable, well-separated colour per id (golden-ratio hue steps)."""
    hue = (obj_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 1.0)
    return (int(r * 255), int(g * 255), int(b * 255))


@dataclass(frozen=True)
class OverlayItem:
    """One object to draw: its id (for the colour), a boolean mask and a text label."""

    obj_id: int
    mask: np.ndarray
    label: str = ""


def draw_overlay(rgb: np.ndarray, items: Sequence[OverlayItem], alpha: float = 0.5) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) with each item's mask blended in its colour and its label
    written at the mask's top-left corner. Returns a new array; the input is untouched."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = rgb.astype(np.float32)
    for item in items:
        if item.mask.shape != rgb.shape[:2]:
            raise ValueError(
                f"mask of object {item.obj_id} is {item.mask.shape}, image is {rgb.shape[:2]}"
            )
        m = item.mask.astype(bool)
        out[m] = (1.0 - alpha) * out[m] + alpha * np.asarray(color_for(item.obj_id), np.float32)
    image = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for item in items:
        ys, xs = np.nonzero(item.mask)
        if not item.label or ys.size == 0:
            continue
        x, y = int(xs.min()), int(ys.min())
        box = draw.textbbox((x, y), item.label, font=font)
        draw.rectangle(box, fill=color_for(item.obj_id))
        draw.text((x, y), item.label, fill=(0, 0, 0), font=font)
    return np.asarray(image)


def draw_caption(rgb: np.ndarray, caption: str, alpha: float = 0.7) -> np.ndarray:
    """``rgb`` with ``caption`` written in white over a dark band along the bottom edge,
    wrapped to the image width (at most a third of its height). Returns a new array."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    width, height = image.size
    lines: list[str] = []
    for word in caption.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width - 8:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    line_h = int(draw.textbbox((0, 0), "Ag", font=font)[3]) + 2
    lines = lines[: max(1, height // 3 // line_h)]
    top = height - line_h * len(lines) - 4
    out = np.array(rgb, dtype=np.float32)
    out[top:] *= 1.0 - alpha  # darken the band so the text reads on any image
    image = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(lines):
        draw.text((4, top + 2 + k * line_h), line, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def overlay_objects(
    rgb: np.ndarray,
    frame: FrameTwin | None,
    ids: Collection[int] | None = None,
    caption: str = "",
) -> np.ndarray:
    """``rgb`` with the objects of its frame twin drawn and labelled ``id:label`` — only
    ``ids`` when given, every object otherwise — and ``caption`` (e.g. the query and its
    answer) along the bottom. Objects whose masks have another size than the image (a twin
    of another stream) are skipped rather than drawn misplaced."""
    out = rgb
    if frame is not None:
        items = [
            OverlayItem(o.id, o.decode_mask(), f"{o.id}:{o.label}")
            for o in frame.objects
            if (ids is None or o.id in ids) and o.size == rgb.shape[:2]
        ]
        out = draw_overlay(rgb, items)
    return draw_caption(out, caption) if caption else out
