"""Twin <-> frs_ros/msg/Twin, reasoning results -> frs_ros/msg/ReasonResult, and the
header stamps that must survive the round trip through the core's float seconds.

Every function takes a message-class provider (``frs_ros.io.messages.MessageTypes``), so
the same code builds rclpy messages on a ROS machine and rosbags messages in tests and bag
files. Camera messages (Image, CameraInfo) are ``frs_ros.io``'s.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, cast

import numpy as np

from frs_ros import validation
from frs_ros.io.messages import MessageTypes, image_message, split_stamp
from frs_ros.reasoning.answers import FrameMasks
from frs_ros.reasoning.protocol import INT32_MAX, INT32_MIN
from frs_ros.twin import RLE, DepthStats, FrameTwin, Twin, TwinObject
from frs_ros.twin import rle as rle_utils
from frs_ros.twin.model import Level


class _ExactStamps:
    """The exact header stamps behind recent float stamps.

    The core keeps stamps as float seconds (the twin contract), which near today's epoch
    resolves only ~240 ns; a twin, overlay or result about a frame must carry that frame's
    exact header stamp, or exact-time pairing with the camera image fails. Every stamp read
    from a message is remembered (bounded, newest kept) and restored when written back."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._stamps: OrderedDict[float, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, sec: int, nanosec: int) -> float:
        stamp = sec + nanosec * 1e-9
        with self._lock:
            self._stamps[stamp] = (sec, nanosec)
            self._stamps.move_to_end(stamp)
            if len(self._stamps) > self._size:
                self._stamps.popitem(last=False)
        return stamp

    def exact(self, stamp: float) -> tuple[int, int] | None:
        with self._lock:
            return self._stamps.get(stamp)


_STAMPS = _ExactStamps()


def stamp_to_time(types: MessageTypes, stamp: float) -> Any:
    """Seconds (float) -> builtin_interfaces/Time: the exact stamp it was read from, else
    rounded to the nanosecond."""
    exact = _STAMPS.exact(stamp) or split_stamp(stamp)
    return types.new("builtin_interfaces/msg/Time", sec=exact[0], nanosec=exact[1])


def time_to_stamp(time: Any) -> float:
    return _STAMPS.remember(int(time.sec), int(time.nanosec))


def header(types: MessageTypes, stamp: float, frame_id: str) -> Any:
    return types.new("std_msgs/msg/Header", stamp=stamp_to_time(types, stamp), frame_id=frame_id)


def object_to_msg(types: MessageTypes, obj: TwinObject) -> Any:
    d = obj.depth
    return types.new(
        "frs_ros/msg/TwinObject",
        id=obj.id,
        label=obj.label,
        score=obj.score,
        bbox=np.asarray(obj.bbox, dtype=np.float64),
        mask_height=obj.size[0],
        mask_width=obj.size[1],
        mask_counts=obj.mask["counts"],
        area=obj.area,
        area_ratio=obj.area_ratio,
        centroid=np.asarray(obj.centroid, dtype=np.float64),
        has_depth=d is not None,
        depth_source=d.source if d is not None else "",
        depth_mean=d.mean if d is not None else 0.0,
        depth_var=d.var if d is not None else 0.0,
        depth_median=d.median if d is not None else 0.0,
        depth_min=d.min if d is not None else 0.0,
        depth_max=d.max if d is not None else 0.0,
        depth_valid_ratio=d.valid_ratio if d is not None else 0.0,
        has_centroid_3d=obj.centroid_3d is not None,
        centroid_3d=np.asarray(obj.centroid_3d or (0.0, 0.0, 0.0), dtype=np.float64),
        level=obj.level,
        has_parent=obj.parent is not None,
        parent=obj.parent if obj.parent is not None else 0,
        attributes_json=json.dumps(obj.attributes),
    )


def _attributes(text: str, where: str) -> dict[str, Any]:
    try:
        attributes = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: attributes_json is not JSON ({exc})") from None
    return dict(validation.mapping(attributes, f"{where}: attributes_json"))


def msg_to_object(msg: Any, where: str = "twin object") -> TwinObject:
    """A TwinObject message as the core's object; bad content (a mask whose run lengths do
    not cover its size, attributes that are not a JSON object, ...) -> ValueError naming
    the object."""
    where = f"{where} {int(msg.id)}"
    mask: RLE = {
        "size": [int(msg.mask_height), int(msg.mask_width)],
        "counts": str(msg.mask_counts),
    }
    validation.rle(mask, f"{where}: mask")
    depth = None
    if msg.has_depth:
        depth = DepthStats(
            mean=float(msg.depth_mean),
            var=float(msg.depth_var),
            median=float(msg.depth_median),
            min=float(msg.depth_min),
            max=float(msg.depth_max),
            source=msg.depth_source,
            valid_ratio=float(msg.depth_valid_ratio),
        )
    attributes = _attributes(msg.attributes_json, where)
    try:
        return _object(msg, mask, depth, attributes)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _floats(values: Any, n: int, name: str) -> tuple[float, ...]:
    """A fixed-size float array field (rosbags gives a numpy array of any length)."""
    floats = tuple(float(v) for v in values)
    if len(floats) != n:
        raise ValueError(f"{name} must hold {n} numbers, got {len(floats)}")
    return floats


def _object(
    msg: Any, mask: RLE, depth: DepthStats | None, attributes: dict[str, Any]
) -> TwinObject:
    x0, y0, x1, y1 = _floats(msg.bbox, 4, "bbox")
    cx, cy = _floats(msg.centroid, 2, "centroid")
    c3 = _floats(msg.centroid_3d, 3, "centroid_3d") if msg.has_centroid_3d else None
    return TwinObject(
        id=int(msg.id),
        label=str(msg.label),
        score=float(msg.score),
        bbox=(x0, y0, x1, y1),
        mask=mask,
        area=int(msg.area),
        area_ratio=float(msg.area_ratio),
        centroid=(cx, cy),
        depth=depth,
        centroid_3d=(c3[0], c3[1], c3[2]) if c3 is not None else None,
        level=cast(Level, str(msg.level)),  # TwinObject checks it is one of LEVELS
        parent=int(msg.parent) if msg.has_parent else None,
        attributes=attributes,
    )


def frame_to_msg(types: MessageTypes, frame: FrameTwin) -> Any:
    return types.new(
        "frs_ros/msg/FrameTwin",
        header=header(types, frame.stamp, frame.frame_id),
        index=frame.index,
        width=frame.width,
        height=frame.height,
        objects=[object_to_msg(types, o) for o in frame.objects],
    )


def msg_to_frame(msg: Any) -> FrameTwin:
    where = f"twin frame {int(msg.index)}"
    objects = [msg_to_object(o, f"{where}, object") for o in msg.objects]
    try:
        return FrameTwin(
            index=int(msg.index),
            stamp=time_to_stamp(msg.header.stamp),
            width=int(msg.width),
            height=int(msg.height),
            objects=objects,
            frame_id=str(msg.header.frame_id),
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def twin_to_msg(types: MessageTypes, twin: Twin) -> Any:
    latest = twin.latest
    return types.new(
        "frs_ros/msg/Twin",
        header=header(types, latest.stamp, latest.frame_id),
        frames=[frame_to_msg(types, f) for f in twin.frames],
    )


def msg_to_twin(msg: Any) -> Twin:
    """A Twin message as the core's twin; bad content -> ValueError saying where."""
    if not msg.frames:
        raise ValueError("the Twin message has no frames")
    return Twin(frames=[msg_to_frame(f) for f in msg.frames])


def mono8_mask_to_msg(types: MessageTypes, mask: np.ndarray, hdr: Any) -> Any:
    """A boolean mask as sensor_msgs/Image mono8 (255 = selected)."""
    return image_message(types, mask.astype(np.uint8) * 255, "mono8", hdr)


def result_to_msg(
    types: MessageTypes,
    *,
    query_id: str,
    query_text: str,
    frame: FrameTwin,
    masks: FrameMasks,
    ids: list[int],
    unknown_ids: list[int],
    outcome: str,
    reasoning: str = "",
    timings: dict[str, float] | None = None,
) -> Any:
    """A ReasonResult for one frame: union mask + per-instance RLE aligned with ``ids``."""
    if masks.index != frame.index:
        raise ValueError(f"masks are for frame {masks.index}, not frame {frame.index}")
    timings = timings or {}
    hdr = header(types, frame.stamp, frame.frame_id)
    return types.new(
        "frs_ros/msg/ReasonResult",
        header=hdr,
        query_id=query_id,
        query_text=query_text,
        frame_index=frame.index,
        outcome=outcome,
        empty_target=not ids,
        object_ids=types.sequence("int32", ids),
        # ids the model named that are not in the twin; one beyond int32 cannot be a twin id
        unknown_ids=types.sequence(
            "int32", [i for i in unknown_ids if INT32_MIN <= i <= INT32_MAX]
        ),
        mask=mono8_mask_to_msg(types, rle_utils.decode(masks.union), hdr),
        instance_mask_counts=[
            masks.instances[i]["counts"] if i in masks.instances else "" for i in ids
        ],
        reasoning=reasoning,
        prompt_s=float(timings.get("prompt_s", 0.0)),
        generate_s=float(timings.get("generate_s", 0.0)),
        tools_s=float(timings.get("tools_s", 0.0)),
        total_s=float(timings.get("total_s", 0.0)),
    )
