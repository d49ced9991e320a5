"""Track ids across frames with any SAM-2 core (no video memory needed).

``BoxPromptTracker`` propagates each track by prompting SAM-2 with the track's box from
the previous frame, then associates fresh detections to tracks by mask IoU (Hungarian
assignment). It works with cores that cannot run SAM-2's video memory (onnxruntime).
A track unseen for more than ``max_lost`` consecutive frames is retired; ids are never
reused within a tracker's life.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from frs_ros.perception.config import TrackingConfig
from frs_ros.perception.segment import Candidate, ImageSegmenter, mask_iou


@dataclass
class Track:
    id: int
    mask: np.ndarray  # bool HxW, last seen
    label: str
    score: float
    source: str
    lost: int = 0  # consecutive frames not seen

    @property
    def box(self) -> np.ndarray:
        ys, xs = np.nonzero(self.mask)
        return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


class BoxPromptTracker:
    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self._since_detection = 0

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 1
        self._since_detection = 0

    def needs_detection(self) -> bool:
        """First frame, every ``redetect_every`` frames, or (``detect_when_empty``) when
        nothing is tracked."""
        if not self.tracks and self.config.detect_when_empty:
            return True
        return self._since_detection % self.config.redetect_every == 0

    def step(self, seg: ImageSegmenter, candidates: list[Candidate] | None) -> list[Track]:
        """Advance one frame (``seg`` holds its embeddings); returns the tracks seen in it."""
        self._propagate(seg)
        if candidates is not None:
            self._associate(candidates)
            self._since_detection = 0
        self._since_detection += 1
        self.tracks = {i: t for i, t in self.tracks.items() if t.lost <= self.config.max_lost}
        return [t for t in self.tracks.values() if t.lost == 0]

    def _propagate(self, seg: ImageSegmenter) -> None:
        tracks = list(self.tracks.values())
        if not tracks:
            return
        masks, iou = seg.boxes(np.stack([t.box for t in tracks]))
        for t, mask, score in zip(tracks, masks, iou, strict=True):
            if mask.any() and score >= self.config.keep_iou:
                t.mask, t.lost = mask, 0
            else:
                t.lost += 1  # keep the last mask: it is the best guess for re-association

    def _associate(self, candidates: list[Candidate]) -> None:
        tracks = list(self.tracks.values())
        matched: set[int] = set()
        if tracks and candidates:
            iou = mask_iou(
                np.stack([c.mask for c in candidates]), np.stack([t.mask for t in tracks])
            )
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= self.config.match_iou:
                    t, cand = tracks[c], candidates[r]
                    t.mask, t.label, t.score, t.source, t.lost = (
                        cand.mask,
                        cand.label,
                        cand.score,
                        cand.source,
                        0,
                    )
                    matched.add(int(r))
        for i, cand in enumerate(candidates):
            if i not in matched:
                self.tracks[self._next_id] = Track(
                    self._next_id, cand.mask, cand.label, cand.score, cand.source
                )
                self._next_id += 1
