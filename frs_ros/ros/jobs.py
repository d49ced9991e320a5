"""The work of the nodes, without rclpy: frame intake, perception, reasoning state, drawing.

Nodes (``*_node.py``) only wire these to topics and services, so the single-process
pipeline node and the separate nodes share every line of behaviour, and the tests can
drive the same code through the rclpy test double.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from frs_ros.io.frames import Frame
from frs_ros.io.images import compressed_to_rgb, depth_to_metres, image_to_rgb
from frs_ros.io.messages import MessageTypes
from frs_ros.reasoning import Reasoner, ReasonerConfig, ReasoningResult, answer_masks
from frs_ros.reasoning.engine import validate_query
from frs_ros.ros import conversions as conv
from frs_ros.twin import CameraIntrinsics, FrameTwin, Twin
from frs_ros.twin.aggregator import TwinAggregator
from frs_ros.visualization import OverlayItem, color_for, draw_overlay


def frame_from_messages(image: Any, depth: Any = None, info: Any = None) -> Frame:
    """Decode an Image or CompressedImage (+ depth Image + CameraInfo); bad input -> ValueError."""
    rgb = compressed_to_rgb(image) if hasattr(image, "format") else image_to_rgb(image)
    depth_m = depth_to_metres(depth) if depth is not None else None
    if depth_m is not None and depth_m.shape != rgb.shape[:2]:
        raise ValueError(
            f"depth image is {depth_m.shape[1]}x{depth_m.shape[0]} but the colour image is "
            f"{rgb.shape[1]}x{rgb.shape[0]}; register depth to the colour camera"
        )
    intrinsics = CameraIntrinsics.from_k(info.k) if info is not None else None
    return Frame(
        index=0,  # a stream has no source position; the perception pipeline numbers frames
        rgb=rgb,
        stamp=conv.time_to_stamp(image.header.stamp),
        frame_id=str(image.header.frame_id),
        depth=depth_m,
        intrinsics=intrinsics,
    )


class RateLimiter:
    """Keeps at most ``max_rate_hz`` frames per second of *message* time (0 = all).

    Message stamps, not wall clock, so a replayed bag is throttled the same way each run.
    """

    def __init__(self, max_rate_hz: float) -> None:
        if max_rate_hz < 0:
            raise ValueError(f"max_rate_hz must be >= 0, got {max_rate_hz}")
        self.period = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
        self._last: float | None = None

    def accept(self, stamp: float) -> bool:
        if self._last is not None and stamp < self._last:
            self._last = None  # time went backwards (bag restarted): start over
        if self._last is not None and stamp - self._last < self.period:
            return False
        self._last = stamp
        return True


@dataclass
class Answer:
    success: bool
    message: str
    result: Any  # frs_ros/msg/ReasonResult (an empty one on failure)


class ReasonerJob:
    """Answers queries on the latest twin and follows answered tracks onto new frames.

    Thread safety: the twin is swapped under a short lock, so frames keep flowing while a
    query is being reasoned about; reasoning itself is serialised (one LLM runtime).
    """

    def __init__(
        self,
        types: MessageTypes,
        runtime: Any,
        config: ReasonerConfig,
        max_query_chars: int = 2000,
    ) -> None:
        self.types = types
        self.runtime = runtime
        self.config = config
        self.max_query_chars = max_query_chars
        self._lock = threading.Lock()
        self._reason_lock = threading.Lock()
        self._twin: Twin | None = None
        self._previous: ReasoningResult | None = None
        self._tracking: tuple[str, str, list[int]] | None = None  # query id, text, ids
        self._ids = itertools.count(1)

    def update_twin(self, twin: Twin) -> Any | None:
        """Store the newest twin; when following an answer, its result on the new frame."""
        with self._lock:
            self._twin = twin
            tracking = self._tracking
        if tracking is None:
            return None
        query_id, text, ids = tracking
        masks = answer_masks(twin, ids)
        return conv.result_to_msg(
            self.types,
            query_id=query_id,
            query_text=text,
            frame=twin.latest,
            masks=masks.latest,
            ids=[i for i in ids if i in masks.latest.instances],
            unknown_ids=[],
            outcome="tracking",
        )

    def reset(self) -> None:
        with self._lock:
            self._tracking = None
            self._previous = None

    def failure(self, message: str, query_id: str = "", text: str = "") -> Answer:
        result = self.types.new(
            "frs_ros/msg/ReasonResult",
            query_id=query_id,
            query_text=text[:200],
            outcome="error",
            empty_target=True,
            reasoning=message,
        )
        return Answer(False, message, result)

    def answer(self, query: Any) -> Answer:
        """Answer a frs_ros/msg/ReasonQuery. Never raises on bad input: success=False."""
        query_id = str(query.id) or f"q{next(self._ids)}"
        try:  # empty, oversized, control characters: the one query validator of every interface
            text = validate_query(str(query.text), self.max_query_chars)
        except ValueError as exc:
            return self.failure(str(exc), query_id)
        with self._lock:
            twin, previous = self._twin, self._previous
        if twin is None or not twin.frames:
            return self.failure(
                "no frame received yet: the twin is empty (is the camera publishing?)",
                query_id,
                text,
            )
        try:  # a query may set its own rounds and timeout; the rest is the node's
            config = self.config.with_query_options(
                max_rounds=query.max_rounds, timeout_s=query.timeout_s
            )
        except ValueError as exc:
            return self.failure(f"invalid query option: {exc}", query_id, text)
        try:
            with self._reason_lock:
                result = Reasoner(self.runtime, config).answer(
                    twin, text, previous if query.follow_up else None
                )
            masks = answer_masks(twin, result.ids)
            msg = conv.result_to_msg(
                self.types,
                query_id=query_id,
                query_text=text,
                frame=twin.latest,
                masks=masks.latest,
                ids=result.ids,
                unknown_ids=result.unknown_ids,
                outcome=result.outcome,
                reasoning=result.reasoning,
                timings=result.timings,
            )
        except Exception as exc:  # the model or runtime failed: report, keep serving
            return self.failure(f"reasoner failed: {type(exc).__name__}: {exc}", query_id, text)
        with self._lock:
            self._previous = result
            self._tracking = (query_id, text, list(result.ids)) if query.track else None
        found = ", ".join(map(str, result.ids)) or "none (empty target)"
        return Answer(True, f"{result.outcome}: objects {found}", msg)


def overlay_for(rgb: np.ndarray, frame: FrameTwin | None, result: Any | None) -> np.ndarray:
    """The overlay image: the answered objects of ``result`` (else every object of the
    frame twin) in their colours with their labels."""
    if frame is None:
        return rgb
    wanted = set(int(i) for i in result.object_ids) if result is not None else None
    items = [
        OverlayItem(o.id, o.decode_mask(), f"{o.id}:{o.label}")
        for o in frame.objects
        if (wanted is None or o.id in wanted) and o.size == rgb.shape[:2]
    ]
    return draw_overlay(rgb, items)


def markers_for(types: MessageTypes, frame: FrameTwin, ids: list[int] | None) -> Any:
    """visualization_msgs/MarkerArray: a sphere and a text label at each 3D centroid.

    Only objects with a 3D centroid (metric depth + CameraInfo) get markers; a DELETEALL
    first clears markers of objects that are gone.
    """
    hdr = conv.header(types, frame.stamp, frame.frame_id)
    new = types.new
    markers = [new("visualization_msgs/msg/Marker", header=hdr, ns="frs", action=3)]
    for obj in frame.objects:
        if obj.centroid_3d is None or (ids is not None and obj.id not in ids):
            continue
        x, y, z = obj.centroid_3d
        r, g, b = (c / 255.0 for c in color_for(obj.id))
        pose = new(
            "geometry_msgs/msg/Pose",
            position=new("geometry_msgs/msg/Point", x=x, y=y, z=z),
            orientation=new("geometry_msgs/msg/Quaternion", w=1.0),
        )
        color = new("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=0.9)
        for kind, offset, text in ((2, 0, ""), (9, 100000, f"{obj.id}:{obj.label}")):
            markers.append(
                new(
                    "visualization_msgs/msg/Marker",
                    header=hdr,
                    ns="frs",
                    id=obj.id + offset,
                    type=kind,  # 2 = SPHERE, 9 = TEXT_VIEW_FACING
                    action=0,
                    pose=pose,
                    scale=new("geometry_msgs/msg/Vector3", x=0.05, y=0.05, z=0.05),
                    color=color,
                    text=text,
                )
            )
    return new("visualization_msgs/msg/MarkerArray", markers=markers)


class PerceptionJob:
    """Frames -> frame twins (perception core) -> the windowed Twin (aggregator)."""

    def __init__(self, pipeline: Any, window: int, extra_labels: list[str] | None = None) -> None:
        self.pipeline = pipeline
        self.aggregator = TwinAggregator(window=window)
        self.extra_labels = list(extra_labels or [])
        # a reset (lifecycle deactivate, another thread) waits for the frame in progress
        self._lock = threading.Lock()

    def process(self, frame: Frame) -> Twin | None:
        """The twin after this frame, or None when the aggregator dropped it (out of order)."""
        with self._lock:
            frame_twin = self.pipeline.process_frame(
                frame.rgb,
                depth=frame.depth,
                intrinsics=frame.intrinsics,
                stamp=frame.stamp,
                extra_labels=self.extra_labels,
                frame_id=frame.frame_id,
            )
            if not self.aggregator.push(frame_twin):
                return None
            return self.aggregator.twin()

    def reset(self) -> None:
        with self._lock:
            self.pipeline.reset()
            self.aggregator.clear()


def split_labels(text: str) -> list[str]:
    """Comma-separated labels of a ROS string parameter (lists cannot default to empty)."""
    return [s.strip() for s in text.split(",") if s.strip()]
