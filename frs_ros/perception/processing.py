"""torch- and torchvision-free pre/post-processing around the perception cores.

Each function reproduces what the transformers processor of the model does, with the
released checkpoints' parameters (docs/DESIGN.md §7: the SAM-2 processors need torchvision,
which cannot be imported here; the OWLv2/DPT ones have PIL fallbacks we test against):

- SAM 2 (``Sam2ImageProcessorFast`` + ``Sam2Processor``): the image is resized straight to
  S x S (no aspect-preserving pad: the SAM-2 processor disables SAM-1's padding), bilinear,
  scaled to [0, 1], normalised with ImageNet mean/std. Point and box coordinates scale by
  S/W in x and S/H in y. Low-res mask logits are upsampled bilinearly (align_corners=False)
  to the original size and thresholded at 0.
- OWLv2 (``Owlv2ImageProcessor``): scaled to [0, 1], padded bottom/right to a square with
  0, resized to S x S with a Gaussian anti-aliasing filter and linear ``scipy.ndimage.zoom``
  (as skimage does), normalised with CLIP mean/std. Boxes are normalised (cx, cy, w, h) of
  the padded square, so pixels = box × max(H, W).
- Depth Anything V2 (``DPTImageProcessor``, ``keep_aspect_ratio``, ``ensure_multiple_of``
  14, size 518, bicubic, ImageNet mean/std).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def _to_chw_batch(img: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """HxWx3 float in [0, 1] → normalised [1, 3, H, W] float32."""
    x = (img.astype(np.float32) - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _pil_resize(rgb: np.ndarray, size_hw: tuple[int, int], resample: int) -> np.ndarray:
    h, w = size_hw
    return np.asarray(Image.fromarray(rgb).resize((w, h), resample=resample))


def _linear_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] matrix of 1-D linear interpolation, align_corners=False, edge-clamped
    (the convention of ``torch.nn.functional.interpolate(mode="bilinear")``)."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    w = np.zeros((n_out, n_in), np.float64)
    np.add.at(w, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(w, (np.arange(n_out), hi), frac)
    return w.astype(np.float32)


def resize_bilinear(x: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of the last two axes of ``x`` (any leading shape), as two small
    matrix products — exact torch ``interpolate(bilinear, align_corners=False)`` without
    torch, and fast for a stack of masks (no per-mask Python loop)."""
    h, w = x.shape[-2:]
    wy = _linear_weights(h, size_hw[0])
    wx = _linear_weights(w, size_hw[1])
    return np.einsum("oh,...hw,pw->...op", wy, x.astype(np.float32), wx, optimize=True)


# --------------------------------------------------------------------------- SAM 2


def sam2_preprocess(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """HxWx3 uint8 RGB → [1, 3, S, S] float32."""
    resized = _pil_resize(rgb, (image_size, image_size), Image.Resampling.BILINEAR)
    return _to_chw_batch(resized / np.float32(255.0), IMAGENET_MEAN, IMAGENET_STD)


def sam2_scale_xy(coords: np.ndarray, image_hw: tuple[int, int], image_size: int) -> np.ndarray:
    """Pixel coordinates ``[..., 2k]`` as (x, y, x, y, …) → the S x S model frame."""
    h, w = image_hw
    out = np.asarray(coords, np.float32).copy()
    out[..., 0::2] *= image_size / w
    out[..., 1::2] *= image_size / h
    return out


def sam2_masks(
    low_res_logits: np.ndarray, image_hw: tuple[int, int], threshold: float = 0.0
) -> np.ndarray:
    """Mask logits ``[..., s, s]`` → boolean masks ``[..., H, W]`` of the original image."""
    return resize_bilinear(low_res_logits, image_hw) > threshold


# --------------------------------------------------------------------------- OWLv2


def owlv2_preprocess(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """HxWx3 uint8 RGB → [1, 3, S, S] float32 (pad to square, anti-aliased resize)."""
    img = rgb.astype(np.float32) / np.float32(255.0)
    h, w = img.shape[:2]
    side = max(h, w)
    img = np.pad(img, ((0, side - h), (0, side - w), (0, 0)), constant_values=0.0)
    factors = np.array([side / image_size, side / image_size, 1.0])
    sigma = np.maximum(0.0, (factors - 1.0) / 2.0)
    filtered = ndimage.gaussian_filter(img, sigma, cval=0, mode="mirror")
    out = ndimage.zoom(filtered, 1.0 / factors, order=1, mode="mirror", cval=0, grid_mode=True)
    out = np.clip(out, img.min(), img.max())  # as skimage: no overshoot past the input range
    return _to_chw_batch(out, CLIP_MEAN, CLIP_STD)


@dataclass(frozen=True)
class Detections:
    """Detector output in image pixels: ``boxes`` [N, 4] (x0, y0, x1, y1), ``scores`` [N],
    ``labels`` [N] indices into the query list."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes [N, 4] x [M, 4] → [N, M]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, best first. (torchvision.ops.nms
    is not importable here; the detector keeps at most a few hundred boxes.)"""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, np.int64)


def owlv2_detections(
    logits: np.ndarray,
    pred_boxes: np.ndarray,
    image_hw: tuple[int, int],
    score_threshold: float,
    nms_iou: float,
    max_detections: int = 100,
) -> Detections:
    """Raw OWLv2 output (``logits`` [1, P, Q], ``pred_boxes`` [1, P, 4] normalised cxcywh
    of the padded square) → thresholded, per-label NMS'd detections in pixels."""
    h, w = image_hw
    logits, pred_boxes = logits[0], pred_boxes[0]
    labels = logits.argmax(-1)
    scores = 1.0 / (1.0 + np.exp(-logits.max(-1).astype(np.float64)))
    cx, cy, bw, bh = pred_boxes.T.astype(np.float64)
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1) * max(h, w)
    boxes = np.clip(boxes, 0, [w, h, w, h])
    ok = (scores > score_threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, labels = boxes[ok], scores[ok], labels[ok]
    kept = [
        np.flatnonzero(labels == lab)[nms(boxes[labels == lab], scores[labels == lab], nms_iou)]
        for lab in np.unique(labels)
    ]
    idx = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    idx = idx[np.argsort(-scores[idx], kind="stable")][:max_detections]
    return Detections(boxes[idx].astype(np.float32), scores[idx], labels[idx].astype(np.int64))


# --------------------------------------------------------------------------- Depth Anything


def depth_input_hw(
    image_hw: tuple[int, int], input_size: int, multiple: int = 14
) -> tuple[int, int]:
    """DPT's ``keep_aspect_ratio`` + ``ensure_multiple_of``: scale the side that needs the
    smaller change to ``input_size``, round both sides to a multiple of ``multiple``."""
    h, w = image_hw
    sh, sw = input_size / h, input_size / w
    if abs(1 - sw) < abs(1 - sh):
        sh = sw
    else:
        sw = sh

    def constrain(v: float) -> int:
        x = round(v / multiple) * multiple
        return x if x >= multiple else int(np.ceil(v / multiple)) * multiple

    return constrain(sh * h), constrain(sw * w)


def depth_preprocess(rgb: np.ndarray, input_size: int) -> np.ndarray:
    """HxWx3 uint8 RGB → [1, 3, h, w] float32, h and w multiples of 14."""
    resized = _pil_resize(rgb, depth_input_hw(rgb.shape[:2], input_size), Image.Resampling.BICUBIC)
    return _to_chw_batch(resized / np.float32(255.0), IMAGENET_MEAN, IMAGENET_STD)


def relative_depth(inverse_depth: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Depth Anything's relative inverse depth ``[1, h, w]`` (larger = nearer) → the twin's
    relative depth at image size: grows with distance, in [0, 1], 0 = nearest in the frame.

    The network's disparity is affine-invariant (unknown scale *and* shift), so a faithful
    metric inverse is impossible; we min-max normalise it and flip it. The result orders
    pixels by distance, which is what the twin's relations and tools compare. Upsampling is
    bilinear (the DPT processor uses bicubic, which can overshoot the range).
    """
    inv = resize_bilinear(inverse_depth.reshape(inverse_depth.shape[-2:]), image_hw)
    finite = np.isfinite(inv)
    if not finite.any():
        return np.full(image_hw, np.nan, np.float32)
    lo, hi = float(inv[finite].min()), float(inv[finite].max())
    if hi - lo <= 1e-12:
        return np.where(finite, 0.0, np.nan).astype(np.float32)
    return (1.0 - (inv - lo) / (hi - lo)).astype(np.float32)
