"""Message-side work of the nodes, without rclpy: frame intake, query and result messages
around the :class:`~frs_ros.segmenter.ReasoningSegmenter` (which does the perceiving and
reasoning), drawing.

Nodes (``*_node.py``) only wire these to topics and services, so the single-process
pipeline node and the separate nodes share every line of behaviour.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from frs_ros.io.camera import intrinsics_from_camera_info
from frs_ros.io.frames import Frame
from frs_ros.io.images import colour_to_rgb, depth_to_metres
from frs_ros.io.messages import MessageTypes
from frs_ros.ros import conversions as conv
from frs_ros.segmenter import QueryError, ReasoningSegmenter, SegmentationBase
from frs_ros.twin import FrameTwin, Twin
from frs_ros.visualization import color_for, overlay_objects


def frame_from_messages(image: Any, depth: Any = None, info: Any = None) -> Frame:
    """Decode an Image or CompressedImage (+ depth Image + CameraInfo); bad input -> ValueError."""
    rgb = colour_to_rgb(image)
    depth_m = depth_to_metres(depth) if depth is not None else None
    if depth_m is not None and depth_m.shape != rgb.shape[:2]:
        raise ValueError(
            f"depth image is {depth_m.shape[1]}x{depth_m.shape[0]} but the colour image is "
            f"{rgb.shape[1]}x{rgb.shape[0]}; register depth to the colour camera"
        )
    intrinsics = intrinsics_from_camera_info(info) if info is not None else None
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
    """The reasoner's messages around a :class:`ReasoningSegmenter`: ReasonQuery in,
    ReasonResult out, and the tracked answer's result on every new twin. Refused queries
    and failing models become failed results, so the node keeps serving."""

    def __init__(self, types: MessageTypes, segmenter: ReasoningSegmenter) -> None:
        self.types = types
        self.segmenter = segmenter
        self._ids = itertools.count(1)

    def update_twin(self, twin: Twin) -> Any | None:
        """Store the newest twin; when following an answer, its result on the new frame."""
        self.segmenter.set_twin(twin)
        tracked = self.segmenter.tracked()
        return self._result_msg(tracked) if tracked is not None else None

    def reset(self) -> None:
        self.segmenter.reset_conversation()

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
        try:  # a query may set its own rounds and timeout; the rest is the node's
            answer = self.segmenter.ask(
                str(query.text),
                follow_up=bool(query.follow_up),
                track=bool(query.track),
                query_id=query_id,
                max_rounds=query.max_rounds,
                timeout_s=query.timeout_s,
            )
        except QueryError as exc:  # refused before reasoning: the text may be the problem
            return self.failure(str(exc), query_id)
        except Exception as exc:  # the model or runtime failed: report, keep serving
            message = f"reasoner failed: {type(exc).__name__}: {exc}"
            return self.failure(message, query_id, str(query.text))
        found = ", ".join(map(str, answer.ids)) or "none (empty target)"
        return Answer(True, f"{answer.outcome}: objects {found}", self._result_msg(answer))

    def _result_msg(self, answer: SegmentationBase) -> Any:
        return conv.result_to_msg(
            self.types,
            query_id=answer.query_id,
            query_text=answer.query,
            frame=answer.twin.latest,
            masks=answer.masks.latest,
            ids=answer.ids,
            unknown_ids=answer.unknown_ids,
            outcome=answer.outcome,
            reasoning=answer.reasoning,
            timings=answer.timings,
        )


def overlay_for(rgb: np.ndarray, frame: FrameTwin | None, result: Any | None) -> np.ndarray:
    """The overlay image: the answered objects of ``result`` (else every object of the
    frame twin) in their colours with their labels."""
    wanted = {int(i) for i in result.object_ids} if result is not None else None
    return overlay_objects(rgb, frame, wanted)


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


def split_labels(text: str) -> list[str]:
    """Comma-separated labels of a ROS string parameter (lists cannot default to empty)."""
    return [s.strip() for s in text.split(",") if s.strip()]
