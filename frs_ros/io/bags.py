"""rosbag2 (sqlite3 or MCAP) reading and writing through ``rosbags``: no ROS install needed.

Reading: the colour messages of a bag in log order (:func:`iter_bag_images`), each with the
latest depth and CameraInfo logged before it, decoded lazily (a cached frame never pays for
it), or directly as :class:`~frs_ros.io.frames.Frame` (:func:`bag_frames`). Writing: one
:class:`BagWriter` for every bag the project produces — camera streams of frames (test
inputs, the synthetic training bag) and frs_ros' own messages (twins, results).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from frs_ros.io.camera import intrinsics_from_camera_info
from frs_ros.io.frames import Frame, reading
from frs_ros.io.images import colour_to_rgb, depth_to_metres
from frs_ros.io.messages import RosbagsTypes, frame_messages, split_stamp
from frs_ros.twin.geometry import CameraIntrinsics

if TYPE_CHECKING:
    from rosbags.highlevel import AnyReader

log = logging.getLogger(__name__)

BAG_SUFFIXES = {".mcap", ".db3"}
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
STORAGES = ("mcap", "sqlite3")


@dataclass
class BagImage:
    """One colour message of a bag, not yet decoded (a cached frame never pays for it), with
    the latest depth (metres) and intrinsics logged before it."""

    index: int
    stamp: float  # log time, seconds
    topic: str
    depth: np.ndarray | None
    intrinsics: CameraIntrinsics | None
    _reader: AnyReader
    _raw: bytes
    _msgtype: str

    def decode(self) -> tuple[np.ndarray, float, str]:
        """(RGB, header stamp in s, frame id); bad data raises."""
        # rosbags types the message it builds from the bag's own definitions as object
        msg: Any = self._reader.deserialize(self._raw, self._msgtype)
        rgb = colour_to_rgb(msg)
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        return rgb, stamp, msg.header.frame_id


def iter_bag_images(
    path: str | Path,
    image_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
) -> Iterator[BagImage]:
    """Colour messages of a rosbag2 (sqlite3 or MCAP) in log order, through rosbags.

    The colour topic defaults to the first Image/CompressedImage topic without "depth" in
    its name. Depth is paired by arrival order (the latest depth message), as a recorder of
    a synchronised RGB-D camera writes them; a bad depth or CameraInfo message is skipped
    with a warning.
    """
    from rosbags.highlevel import AnyReader, AnyReaderError

    path = Path(path)
    bag = path.parent if path.is_file() and path.suffix == ".db3" else path
    # rosbags reports a truncated or corrupt bag as AnyReaderError, an Exception only
    with reading(path, "rosbag2", (AnyReaderError,)), AnyReader([bag]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        if not image_topic:
            candidates = [t for t, ty in topics.items() if ty in IMAGE_TYPES and "depth" not in t]
            if not candidates:
                raise ValueError(f"bag {path} has no colour image topic (topics: {topics})")
            image_topic = sorted(candidates)[0]
        for t in (image_topic, depth_topic, info_topic):
            if t and t not in topics:
                raise ValueError(f"topic {t} is not in bag {path} (topics: {sorted(topics)})")
        conns = [c for c in reader.connections if c.topic in {image_topic, depth_topic, info_topic}]
        depth: np.ndarray | None = None
        intrinsics: CameraIntrinsics | None = None
        index = 0
        for conn, stamp_ns, raw in reader.messages(connections=conns):
            if conn.topic == image_topic:
                yield BagImage(
                    index, stamp_ns * 1e-9, conn.topic, depth, intrinsics, reader, raw, conn.msgtype
                )
                index += 1
                continue
            try:
                msg = reader.deserialize(raw, conn.msgtype)
                if conn.topic == depth_topic:
                    depth = depth_to_metres(msg)
                else:
                    intrinsics = intrinsics_from_camera_info(msg)
            except (ValueError, TypeError, KeyError, AssertionError) as exc:
                log.warning("skipping a bad %s message at %d: %s", conn.topic, stamp_ns, exc)


def bag_frames(
    path: Path, image_topic: str | None, depth_topic: str | None, info_topic: str | None
) -> Iterator[Frame]:
    """The decoded frames of :func:`iter_bag_images`; an undecodable one is skipped with a
    warning."""
    for image in iter_bag_images(path, image_topic, depth_topic, info_topic):
        try:
            rgb, stamp, frame_id = image.decode()
        except (ValueError, TypeError, KeyError, AssertionError) as exc:
            log.warning("skipping an unreadable %s frame %d: %s", image.topic, image.index, exc)
            continue
        yield Frame(image.index, stamp, rgb, image.depth, image.intrinsics, frame_id)


class BagWriter:
    """A rosbag2 being written (``storage`` ``mcap`` or ``sqlite3``), used as a context
    manager. Messages are classes of ``types`` — by default Jazzy's standard types only, so
    writing a camera stream needs no msg/ directory; pass ``RosbagsTypes()`` to write
    frs_ros' own messages. A topic's connection is added with its first message."""

    def __init__(
        self, path: str | Path, *, storage: str = "mcap", types: RosbagsTypes | None = None
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.path = Path(path)
        self.types = types or RosbagsTypes(own_interfaces=False)
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._writer.close()

    def write(self, topic: str, msg: Any, log_ns: int) -> None:
        """Serialize ``msg`` (a class of ``self.types``) to ``topic`` at log time ``log_ns``."""
        msgtype = msg.__msgtype__
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self.types.store)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise ValueError(f"topic {topic} carries {conn.msgtype}, not {msgtype}")
        self._writer.write(conn, log_ns, self.types.store.serialize_cdr(msg, msgtype))

    def write_frame(
        self,
        frame: Frame,
        *,
        image_topic: str,
        depth_topic: str = "",
        info_topic: str = "",
        depth_encoding: str = "32FC1",
        log_ns: int | None = None,
    ) -> None:
        """A frame as a camera driver records it: rgb8 colour and, when the frame has depth
        and intrinsics and the topics are given, depth (``32FC1`` m or ``16UC1`` mm) and
        CameraInfo before it — readers pair an image with the depth logged before it. Header
        stamp and frame id are the frame's; the log time defaults to the header stamp."""
        sec, nanosec = split_stamp(frame.stamp)
        stamp = self.types.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
        header = self.types.new("std_msgs/msg/Header", stamp=stamp, frame_id=frame.frame_id)
        image, depth, info = frame_messages(self.types, frame, header, depth_encoding)
        ns = sec * 10**9 + nanosec if log_ns is None else log_ns
        if depth is not None and depth_topic:
            self.write(depth_topic, depth, ns)
        if info is not None and info_topic:
            self.write(info_topic, info, ns)
        self.write(image_topic, image, ns)


def write_frames(
    path: str | Path,
    frames: Iterable[Frame],
    *,
    image_topic: str,
    depth_topic: str = "",
    info_topic: str = "",
    depth_encoding: str = "32FC1",
    storage: str = "mcap",
) -> Path:
    """A rosbag2 of ``frames`` (see :meth:`BagWriter.write_frame`); returns ``path``."""
    with BagWriter(path, storage=storage) as writer:
        for frame in frames:
            writer.write_frame(
                frame,
                image_topic=image_topic,
                depth_topic=depth_topic,
                info_topic=info_topic,
                depth_encoding=depth_encoding,
            )
    return Path(path)
