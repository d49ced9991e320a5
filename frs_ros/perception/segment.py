"""One frame → object candidates: OWLv2 detection, box-prompted SAM-2 masks, and SAM-2
automatic proposals for what detection misses, filtered as in DTwinSeger §3.1.

Everything talks to the cores through numpy (``cores.py``), so torch and onnxruntime
cores are interchangeable here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from frs_ros.perception import processing as P
from frs_ros.perception.config import DetectionConfig, ProposalConfig
from frs_ros.perception.cores import DepthCore, Owlv2Core, Sam2Core

OWLV2_MAX_TEXT_LENGTH = 16  # OWLv2's text position embeddings (processor pads to this)


@dataclass
class Candidate:
    """An object mask found in one frame, before it gets a track id."""

    mask: np.ndarray  # bool HxW
    label: str
    score: float
    source: str  # "detection" | "proposal"


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of bool masks [N, H, W] x [M, H, W] → [N, M] (one matrix product)."""
    fa = a.reshape(len(a), -1).astype(np.float32)
    fb = b.reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


class ImageSegmenter:
    """SAM-2 on one image: encode once, decode many prompts (cf. sam2's SAM2ImagePredictor)."""

    def __init__(self, core: Sam2Core) -> None:
        self.core = core
        self._embeddings: list[np.ndarray] | None = None
        self._hw: tuple[int, int] = (0, 0)

    def set_image(self, rgb: np.ndarray) -> None:
        self._hw = rgb.shape[:2]
        self._embeddings = self.core.encode(P.sam2_preprocess(rgb, self.core.image_size))

    def _decode(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._embeddings is None:
            raise RuntimeError("call set_image() before decoding prompts")
        logits, iou = self.core.decode(self._embeddings, points, labels, boxes, multimask)
        return P.sam2_masks(logits[0], self._hw), iou[0]

    def boxes(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """xyxy pixel boxes [N, 4] → (bool masks [N, H, W], predicted IoU [N])."""
        if len(boxes) == 0:
            return np.zeros((0, *self._hw), bool), np.zeros(0, np.float32)
        model_boxes = P.sam2_scale_xy(boxes, self._hw, self.core.image_size)[None]
        masks, iou = self._decode(points=None, labels=None, boxes=model_boxes, multimask=False)
        return masks[:, 0], iou[:, 0]

    def points(self, points: np.ndarray, multimask: bool) -> tuple[np.ndarray, np.ndarray]:
        """One foreground point per prompt, (x, y) px [N, 2] → masks [N, M, H, W], IoU [N, M]."""
        model_pts = P.sam2_scale_xy(points, self._hw, self.core.image_size)[None, :, None, :]
        labels = np.ones((1, len(points), 1), np.int64)
        return self._decode(points=model_pts, labels=labels, boxes=None, multimask=multimask)


class Detector:
    """OWLv2 open-vocabulary detection over a list of labels."""

    def __init__(self, core: Owlv2Core, tokenizer: Any, config: DetectionConfig) -> None:
        self.core = core
        self.tokenizer = tokenizer
        self.config = config

    def __call__(self, rgb: np.ndarray, labels: Sequence[str]) -> P.Detections:
        if not labels:
            raise ValueError("detection needs at least one label")
        enc = self.tokenizer(
            list(labels),
            padding="max_length",
            max_length=OWLV2_MAX_TEXT_LENGTH,
            truncation=True,
            return_tensors="np",
        )
        logits, boxes = self.core.detect(
            P.owlv2_preprocess(rgb, self.core.image_size), enc["input_ids"], enc["attention_mask"]
        )
        c = self.config
        return P.owlv2_detections(
            logits, boxes, rgb.shape[:2], c.score_threshold, c.nms_iou, c.max_detections
        )


def relative_depth_map(core: DepthCore, rgb: np.ndarray) -> np.ndarray:
    """Depth Anything V2 → the twin's relative depth (grows with distance, [0, 1])."""
    inverse = core.predict(P.depth_preprocess(rgb, core.input_size))
    return P.relative_depth(inverse, rgb.shape[:2])


def point_grid(n: int, hw: tuple[int, int]) -> np.ndarray:
    """n x n cell-centred points over the image, (x, y) pixels [n*n, 2]."""
    h, w = hw
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    xs, ys = np.meshgrid(c * w, c * h)
    return np.stack([xs.ravel(), ys.ravel()], -1)


def _dedup(masks: list[np.ndarray], scores: list[float], tau: float) -> list[int]:
    """Greedy: best score first, drop a mask whose IoU with a kept one exceeds τ."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    kept: list[int] = []
    for i in order:
        if kept and mask_iou(masks[i][None], np.stack([masks[k] for k in kept])).max() > tau:
            continue
        kept.append(int(i))
    return kept


def propose(
    seg: ImageSegmenter, hw: tuple[int, int], config: ProposalConfig, taken: np.ndarray | None
) -> list[Candidate]:
    """SAM-2 "everything" proposals filtered as DTwinSeger §3.1 does:
    predicted IoU > θ; pairwise IoU > τ de-duplication; centroid re-prompting in multimask
    mode (best predicted IoU of the three); containment in the largest mask > τ' dropped.
    Proposals mostly covered by ``taken`` (the detected objects' union) are dropped too:
    proposals are for what detection missed."""
    grid = point_grid(config.points_per_side, hw)
    masks: list[np.ndarray] = []
    scores: list[float] = []
    for start in range(0, len(grid), config.batch_size):
        m, iou = seg.points(grid[start : start + config.batch_size], multimask=False)
        for mask, s in zip(m[:, 0], iou[:, 0], strict=True):
            if s > config.pred_iou_threshold and mask.sum() >= config.min_area:
                masks.append(mask)
                scores.append(float(s))
    if not masks:
        return []
    kept = _dedup(masks, scores, config.dedup_iou)
    masks, scores = [masks[i] for i in kept], [scores[i] for i in kept]
    if config.recenter:
        masks, scores = _recenter(seg, masks, scores, config)
        kept = _dedup(masks, scores, config.dedup_iou)
        masks, scores = [masks[i] for i in kept], [scores[i] for i in kept]
    if not masks:
        return []
    areas = np.array([m.sum() for m in masks])
    largest = masks[int(areas.argmax())]
    out: list[Candidate] = []
    for mask, score, area in zip(masks, scores, areas, strict=True):
        if mask is not largest and (mask & largest).sum() / area > config.containment:
            continue
        if taken is not None and (mask & taken).sum() / area > config.overlap_with_detections:
            continue
        out.append(Candidate(mask, config.label, min(max(score, 0.0), 1.0), "proposal"))
    return out


def _recenter(
    seg: ImageSegmenter, masks: list[np.ndarray], scores: list[float], config: ProposalConfig
) -> tuple[list[np.ndarray], list[float]]:
    """Re-prompt SAM-2 at each mask's centroid (eq. 2) in multimask mode; keep the output
    with the best predicted IoU when it passes θ, else the original mask."""
    centroids = np.array([[xs.mean(), ys.mean()] for ys, xs in (np.nonzero(m) for m in masks)])
    new_masks, new_scores = list(masks), list(scores)
    for start in range(0, len(centroids), config.batch_size):
        m, iou = seg.points(centroids[start : start + config.batch_size], multimask=True)
        for j, (mm, ii) in enumerate(zip(m, iou, strict=True)):
            best = int(ii.argmax())
            if ii[best] > config.pred_iou_threshold and mm[best].sum() >= config.min_area:
                new_masks[start + j] = mm[best]
                new_scores[start + j] = float(ii[best])
    return new_masks, new_scores


def detect_and_segment(
    rgb: np.ndarray,
    seg: ImageSegmenter,
    detector: Detector,
    labels: Sequence[str],
    proposals: ProposalConfig,
) -> list[Candidate]:
    """All candidates of one frame (``seg`` already holds this frame's embeddings)."""
    det = detector(rgb, labels)
    masks, _ = seg.boxes(det.boxes)
    out = [
        Candidate(mask, labels[int(lab)], float(score), "detection")
        for mask, score, lab in zip(masks, det.scores, det.labels, strict=True)
        if mask.any()
    ]
    if proposals.enabled:
        taken = np.any([c.mask for c in out], axis=0) if out else None
        out.extend(propose(seg, rgb.shape[:2], proposals, taken))
    return out
