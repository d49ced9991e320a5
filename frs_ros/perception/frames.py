"""Validation and normalisation of the frames perception accepts (docs/DESIGN.md §10).

Decisions (each raises ``ValueError``/``TypeError`` saying what and why, so a serving
process can report the frame and keep going):

- Colour: HxWx3 ``uint8`` RGB. Grey (HxW, HxWx1) is replicated to three channels, RGBA
  drops alpha. Other dtypes are rejected (their value range is ambiguous).
- Empty frames (a zero side) are rejected.
- Frames larger than ``max_side`` on a side are *rejected*. Frames within it but larger
  than ``work_side`` are processed downscaled (:func:`work_image`; the networks see at
  most 1024 px anyway) and the masks scaled back up (:func:`upscale_mask`): the twin keeps
  the caller's pixel frame, while mask post-processing, whose cost grows with the pixel
  count (an 8000x8000 frame has 64 M pixels per mask logit map), stays bounded.
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
from PIL import Image

from frs_ros import validation

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 8192
DEFAULT_WORK_SIDE = 2048


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
    return depth[_nearest(dh, h)[:, None], _nearest(dw, w)[None, :]]


def work_image(rgb: np.ndarray, work_side: int) -> np.ndarray:
    """``rgb`` downscaled (area-averaging) so that its longer side is at most
    ``work_side``; the frame itself when it is already small enough."""
    h, w = rgb.shape[:2]
    scale = work_side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # reducing_gap: PIL first shrinks by an integer factor (fast box filter), then resamples
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX, reducing_gap=2.0))


def upscale_mask(mask: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """A mask (or depth map) of the work image back at the frame size ``image_hw``
    (nearest)."""
    if mask.shape == tuple(image_hw):
        return mask
    return mask[_nearest(mask.shape[0], image_hw[0])[:, None], _nearest(mask.shape[1], image_hw[1])]


def _nearest(src: int, dst: int) -> np.ndarray:
    """For each of ``dst`` output pixels, the source pixel whose centre is nearest."""
    return np.minimum(((np.arange(dst) + 0.5) * src / dst).astype(np.int64), src - 1)
