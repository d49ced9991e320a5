"""COCO run-length encoding of binary masks, through pycocotools.

Masks never travel as raw arrays in twins, prompts or messages (docs/DESIGN.md §3): they are
COCO RLE dicts ``{"size": [h, w], "counts": "<compressed string>"}``.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from pycocotools import mask as mask_utils


class RLE(TypedDict):
    size: list[int]
    counts: str


def _check_mask(mask: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}")
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    if mask.dtype != np.bool_:
        if mask.dtype.kind not in "uib":
            raise TypeError(f"mask must be boolean or integer 0/1, got dtype {mask.dtype}")
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise ValueError("integer mask must contain only 0 and 1")
    return mask


def encode(mask: np.ndarray) -> RLE:
    """Encode a 2-D boolean (or 0/1 integer) mask as a JSON-safe COCO RLE."""
    mask = _check_mask(mask)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode()}


def decode(rle: RLE) -> np.ndarray:
    """Decode a COCO RLE (compressed string or uncompressed list counts) to a bool mask."""
    if "size" not in rle or "counts" not in rle:
        raise ValueError("RLE must have 'size' and 'counts'")
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE, as in some public datasets
        coded = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        coded = {"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}
    return mask_utils.decode(coded).astype(bool)


def area(rle: RLE) -> int:
    return int(mask_utils.area(_coded(rle)))


def to_bbox(rle: RLE) -> tuple[float, float, float, float]:
    """Tight box (x_min, y_min, x_max, y_max) in pixels; all zeros for an empty mask."""
    x, y, w, h = (float(v) for v in mask_utils.toBbox(_coded(rle)))
    return (x, y, x + w, y + h)


def merge(rles: list[RLE], size: tuple[int, int]) -> RLE:
    """Union of masks; an empty list gives an empty mask of ``size`` (h, w)."""
    if not rles:
        return encode(np.zeros(size, dtype=bool))
    merged = mask_utils.merge([_coded(r) for r in rles], intersect=False)
    return {"size": [int(v) for v in merged["size"]], "counts": merged["counts"].decode()}


def _coded(rle: RLE) -> dict:
    counts = rle["counts"]
    return {
        "size": list(rle["size"]),
        "counts": counts.encode() if isinstance(counts, str) else counts,
    }


def intersection_area(a: RLE, b: RLE) -> int:
    """Pixels in both masks, computed on the RLEs (no decode)."""
    if list(a["size"]) != list(b["size"]):
        raise ValueError(f"mask sizes differ: {a['size']} vs {b['size']}")
    return int(mask_utils.area(mask_utils.merge([_coded(a), _coded(b)], intersect=True)))
