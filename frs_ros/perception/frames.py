"""Validation and normalisation of the frames perception accepts (docs/DESIGN.md §10).

Decisions (each raises ``ValueError``/``TypeError`` saying what and why, so a serving
process can report the frame and keep going):

- Colour: HxWx3 ``uint8`` RGB. Grey (HxW, HxWx1) is replicated to three channels, RGBA
  drops alpha. Other dtypes are rejected (their value range is ambiguous).
- Empty frames (a zero side) are rejected.
- Frames larger than ``max_side`` on a side are *rejected*, not downscaled: masks, boxes
  and centroids must be in the caller's pixel frame, and a silent downscale would hand
  back a twin of another size. Raise ``max_side`` in ``config/perception.yaml`` if needed.
- Depth: ``uint16`` is millimetres (``16UC1``), floating point is metres (``32FC1``);
  the result is float32 metres, 0/NaN meaning "no return". Values beyond
  ``frs_ros.validation.MAX_DEPTH_M`` (or negative, or infinite) are no measurement either
  and become NaN. A depth image of another size
  than the colour frame but the same aspect ratio (within 2 %) — e.g. a depth sensor at a
  lower resolution, registered to colour — is resampled nearest-neighbour with a warning
  (nearest keeps the "no return" zeros instead of blending them into fake near depths);
  a different aspect ratio means unregistered depth and is rejected.
"""

from __future__ import annotations

import logging

import numpy as np

from frs_ros import validation

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 8192


def as_rgb(image: np.ndarray, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Validate a colour frame and return it as contiguous HxWx3 uint8 RGB."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"frame must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"frame must be HxW, HxWx1, HxWx3 or HxWx4, got shape {image.shape}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"frame is empty ({w}x{h})")
    if max(h, w) > max_side:
        raise ValueError(
            f"frame {w}x{h} exceeds max_side={max_side}; downscale it before perception "
            f"or raise max_side in the perception config"
        )
    return np.ascontiguousarray(image)


def as_metric_depth(depth: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Validate a sensor depth image; return float32 metres of size ``image_hw``."""
    if not isinstance(depth, np.ndarray):
        raise TypeError(f"depth must be a numpy array, got {type(depth).__name__}")
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise ValueError(f"depth must be HxW, got shape {depth.shape}")
    if depth.size == 0:
        raise ValueError(f"depth image is empty ({depth.shape[1]}x{depth.shape[0]})")
    if depth.dtype == np.uint16:
        metres = depth.astype(np.float32) / np.float32(1000.0)
    elif depth.dtype.kind == "f":
        metres = depth.astype(np.float32)
    else:
        raise TypeError(
            f"depth must be uint16 millimetres (16UC1) or float metres (32FC1), got {depth.dtype}"
        )
    if metres.shape != tuple(image_hw):
        metres = _resample_depth(metres, image_hw)
    return validation.sane_metric_depth(metres)


def _resample_depth(depth: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    dh, dw = depth.shape
    h, w = image_hw
    if abs((dw / dh) / (w / h) - 1.0) > 0.02:
        raise ValueError(
            f"depth {dw}x{dh} and colour {w}x{h} have different aspect ratios: "
            f"the depth is not registered to the colour camera"
        )
    log.warning("depth %dx%d resampled (nearest) to the colour frame %dx%d", dw, dh, w, h)
    rows = np.minimum(((np.arange(h) + 0.5) * dh / h).astype(np.int64), dh - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * dw / w).astype(np.int64), dw - 1)
    return depth[rows[:, None], cols[None, :]]
