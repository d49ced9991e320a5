"""Per-frame digital twin construction (docs/DESIGN.md §1, FastReasonSeg §3 "Digital Twin
Representation Construction"): OWLv2 labels/boxes, SAM-2 masks with persistent track ids,
depth statistics from a sensor (metric) or Depth Anything V2 (relative)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from frs_ros.perception.config import PerceptionConfig, load_perception_config
from frs_ros.perception.cores import DepthCore, Owlv2Core, Sam2Core
from frs_ros.perception.frames import as_metric_depth, as_rgb, upscale_mask, work_image
from frs_ros.perception.models import ModelProfile, load_profile
from frs_ros.perception.segment import (
    Detector,
    ImageSegmenter,
    detect_and_segment,
    relative_depth_map,
)
from frs_ros.perception.tracker import BoxPromptTracker
from frs_ros.twin.geometry import CameraIntrinsics, DepthSource
from frs_ros.twin.model import FrameTwin, Twin, TwinObject

if TYPE_CHECKING:
    from frs_ros.io.frames import Frame


class PerceptionPipeline:
    """Frames in, ``FrameTwin``s out; consecutive ``process_frame`` calls form one stream
    (track ids persist) until ``reset()``."""

    def __init__(
        self,
        sam2: Sam2Core,
        owlv2: Owlv2Core,
        tokenizer: Any,
        depth: DepthCore | None = None,
        config: PerceptionConfig | None = None,
    ) -> None:
        self.config = config or load_perception_config()
        self.segmenter = ImageSegmenter(sam2)
        self.detector = Detector(owlv2, tokenizer, self.config.detection)
        self.depth = depth
        self.tracker = BoxPromptTracker(self.config.tracking)
        self.reset()

    @classmethod
    def from_profile(
        cls,
        profile: str | os.PathLike[str] | ModelProfile = "default",
        config: str | os.PathLike[str] | dict[str, Any] | PerceptionConfig | None = None,
    ) -> PerceptionPipeline:
        """The models of ``profile`` (``default``, ``cpu``, ``tiny`` or a YAML path) on the
        profile's backend (torch or onnxruntime), with ``config`` or, when None, the
        perception config the profile names (``perception:``)."""
        from frs_ros.perception.backends import load_cores

        prof = load_profile(profile)
        cfg = load_perception_config(config if config is not None else prof.perception)
        cores = load_cores(prof, depth=cfg.use_depth_model)
        return cls(cores.sam2, cores.owlv2, cores.tokenizer, cores.depth, cfg)

    def reset(self) -> None:
        """Start a new stream: forget tracks, restart frame indices and ids."""
        self.tracker.reset()
        self._index = 0
        self._detected_labels: set[str] = set()
        self._depth_map: tuple[int, np.ndarray] | None = None  # (frame index, relative map)

    def labels(self, extra_labels: Sequence[str] = ()) -> list[str]:
        """The vocabulary plus a query's extra labels ("just-in-time" twin), de-duplicated."""
        out: list[str] = []
        for label in (*self.config.vocabulary, *extra_labels):
            label = str(label).strip()
            if label and label not in out:
                out.append(label)
        return out

    def process_frame(
        self,
        rgb: np.ndarray,
        depth: np.ndarray | None = None,
        intrinsics: CameraIntrinsics | None = None,
        stamp: float = 0.0,
        extra_labels: Sequence[str] = (),
        frame_id: str = "",
    ) -> FrameTwin:
        """One frame → its twin. ``depth``: sensor depth (uint16 mm or float m), metric;
        without it Depth Anything gives relative depth (if enabled), else no depth."""
        full = as_rgb(rgb, self.config.max_side)
        hw = full.shape[:2]
        metric = as_metric_depth(depth, hw) if depth is not None else None
        rgb = work_image(full, self.config.work_side)  # masks come back at rgb's size
        self.segmenter.set_image(rgb)
        candidates = None
        labels = self.labels(extra_labels)
        # A query's labels that no detection has looked for yet make this frame a keyframe:
        # the twin must not wait for the next scheduled one to contain what was asked for.
        if self.tracker.needs_detection() or not set(labels) <= self._detected_labels:
            candidates = detect_and_segment(
                rgb, self.segmenter, self.detector, labels, self.config.proposals
            )
            self._detected_labels = set(labels)
        tracks = self.tracker.step(self.segmenter, candidates)
        source: DepthSource
        if metric is not None:
            depth_map, source = metric, "metric"
        elif self.depth is not None:
            depth_map, source = upscale_mask(self._relative_depth(self.depth, rgb), hw), "relative"
        else:
            depth_map, source = None, "relative"
        objects = [
            TwinObject.from_mask(
                t.id,
                t.label,
                t.score,
                upscale_mask(t.mask, hw),
                depth=depth_map,
                depth_source=source,
                intrinsics=intrinsics,
                attributes={"source": t.source},
            )
            for t in sorted(tracks, key=lambda t: t.id)
        ]
        frame = FrameTwin(self._index, float(stamp), hw[1], hw[0], objects, frame_id)
        self._index += 1
        return frame

    def process(self, frame: Frame, extra_labels: Sequence[str] = ()) -> FrameTwin:
        """``process_frame`` of a decoded :class:`~frs_ros.io.frames.Frame` (any source)."""
        return self.process_frame(
            frame.rgb,
            frame.depth,
            frame.intrinsics,
            stamp=frame.stamp,
            extra_labels=extra_labels,
            frame_id=frame.frame_id,
        )

    def _relative_depth(self, depth: DepthCore, rgb: np.ndarray) -> np.ndarray:
        """Depth Anything's map, recomputed every ``depth_every`` frames (and when the frame
        size changes); in between the last map stands in, which is stale where things moved."""
        cached = self._depth_map
        if (
            cached is None
            or cached[1].shape != rgb.shape[:2]
            or self._index - cached[0] >= self.config.depth_every
        ):
            cached = self._depth_map = (self._index, relative_depth_map(depth, rgb))
        return cached[1]

    def process_video(
        self,
        frames: Iterable[np.ndarray],
        depths: Iterable[np.ndarray | None] | None = None,
        intrinsics: CameraIntrinsics | None = None,
        fps: float = 30.0,
        extra_labels: Sequence[str] = (),
        progress: bool = True,
    ) -> Twin:
        """A whole clip → a Twin (a new stream: ``reset()`` first). For endless streams use
        ``process_frame`` with ``frs_ros.twin.aggregator.TwinAggregator`` (bounded memory)."""
        self.reset()
        frames = list(frames)
        depth_list = list(depths) if depths is not None else [None] * len(frames)
        if len(depth_list) != len(frames):
            raise ValueError(f"{len(depth_list)} depth images for {len(frames)} frames")
        out = [
            self.process_frame(rgb, d, intrinsics, stamp=i / fps, extra_labels=extra_labels)
            for i, (rgb, d) in enumerate(
                tqdm(zip(frames, depth_list, strict=True), total=len(frames), disable=not progress)
            )
        ]
        return Twin(frames=out)
