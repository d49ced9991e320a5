"""COCO run-length encoding of binary masks, through pycocotools.

Masks never travel as raw arrays in twins, prompts or messages (docs/DESIGN.md §3): they are
COCO RLE dicts ``{"size": [h, w], "counts": "<compressed string>"}``.

pycocotools trusts an RLE's counts: counts that do not add up to h * w make its decode
return uninitialised memory (or write past the mask) and its merge loop forever. Every RLE
is therefore checked against its size (``frs_ros.validation.rle``, bounded by
``max_pixels``) before pycocotools sees it; a bad one is a ValueError.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
from pycocotools import mask as mask_utils

from frs_ros import validation


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
    return np.asarray(mask_utils.decode(_coded(rle)), dtype=bool)


def area(rle: RLE) -> int:
    return int(mask_utils.area(_coded(rle)))


def to_bbox(rle: RLE) -> tuple[float, float, float, float]:
    """Tight box (x_min, y_min, x_max, y_max) in pixels; all zeros for an empty mask."""
    x, y, w, h = (float(v) for v in mask_utils.toBbox(_coded(rle)))
    return (x, y, x + w, y + h)


def merge(rles: list[RLE], size: tuple[int, int]) -> RLE:
    """Union of masks; an empty list gives an empty mask of ``size`` (h, w)."""
    if not rles:
        h, w = validation.mask_size(list(size), "merge size")
        return encode(np.zeros((h, w), dtype=bool))
    coded = [_coded(r) for r in rles]
    _same_size(coded)
    merged = mask_utils.merge(coded, intersect=False)
    return {"size": [int(v) for v in merged["size"]], "counts": merged["counts"].decode()}


def _coded(rle: RLE) -> dict[str, Any]:
    """The RLE as pycocotools takes it, after the size check (``validation.rle``)."""
    checked = validation.rle(rle)
    h, w = checked["size"]
    counts = checked["counts"]
    if isinstance(counts, list | tuple):  # uncompressed RLE, as in some public datasets
        coded: dict[str, Any] = mask_utils.frPyObjects(
            {"size": [h, w], "counts": list(counts)}, h, w
        )
        return coded
    return {"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}


def _same_size(coded: list[dict[str, Any]]) -> None:
    sizes = {tuple(c["size"]) for c in coded}
    if len(sizes) > 1:
        raise ValueError(f"mask sizes differ: {sorted(sizes)}")


def intersection_area(a: RLE, b: RLE) -> int:
    """Pixels in both masks, computed on the RLEs (no decode)."""
    coded = [_coded(a), _coded(b)]
    _same_size(coded)
    return int(mask_utils.area(mask_utils.merge(coded, intersect=True)))
