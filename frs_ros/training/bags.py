"""rosbag2 (sqlite3 or MCAP) -> frames -> the online perception -> frame twins, cached.

Reading uses rosbags' ``AnyReader`` (no ROS install needed); images are decoded with the
ROS layer's pure-numpy converter (``frs_ros.ros.image_conversion``), so offline twins are
built from exactly the pixels the live node would see.

Cache: one JSON file per frame twin under
``<cache_dir>/<bag hash>/<topic>/<profile>/<frame index>.json`` — content-addressed by the
bag's hash (its metadata and storage files: sizes plus the first and last MiB of each, so
hashing a 50 GB bag stays cheap), the image topic, the frame index and the perception
profile. Already cached frames are skipped, so an interrupted build resumes; the tracker
then restarts at the first uncached frame (track ids of a resumed bag may differ from an
uninterrupted build, masks do not). A bag that cannot be opened, and a frame that cannot
be decoded or perceived, is skipped and reported — never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from frs_ros.ros.image_conversion import compressed_to_rgb, depth_to_metres, image_to_rgb
from frs_ros.twin import CameraIntrinsics, FrameTwin

log = logging.getLogger(__name__)
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
_EDGE = 1 << 20


@dataclass
class BagReport:
    bag: str
    frames: int = 0  # twins available (cached or built)
    built: int = 0  # built in this run
    skipped: list[str] = field(default_factory=list)  # "frame 3: why" / "bag: why"

    @property
    def ok(self) -> bool:
        return not any(s.startswith("bag:") for s in self.skipped)


def bag_hash(path: str | Path) -> str:
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            h.update(fh.read(_EDGE))
            if size > 2 * _EDGE:
                fh.seek(size - _EDGE)
                h.update(fh.read(_EDGE))
    return h.hexdigest()[:16]


def _slug(topic: str) -> str:
    return topic.strip("/").replace("/", "__") or "root"


def _intrinsics(msg: Any) -> CameraIntrinsics:
    k = list(msg.k)
    return CameraIntrinsics(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]))


def _pick_topic(reader: Any, wanted: str, types: tuple[str, ...]) -> str:
    topics = {c.topic: c.msgtype for c in reader.connections}
    if wanted:
        if wanted not in topics:
            raise ValueError(f"topic {wanted} is not in the bag (topics: {sorted(topics)})")
        return wanted
    for t, typ in sorted(topics.items()):
        if typ in types:
            return t
    raise ValueError(f"the bag has no {' or '.join(types)} topic (topics: {sorted(topics)})")


def iter_bag_frames(
    path: str | Path,
    image_topic: str = "",
    depth_topic: str = "",
    info_topic: str = "",
) -> Iterator[tuple[int, float, Any, np.ndarray | None, CameraIntrinsics | None, str]]:
    """(index, stamp s, image message, latest depth m, intrinsics, topic) per image message,
    in log order. Messages are decoded lazily by the caller (a bad frame is one frame)."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(path)]) as reader:
        topic = _pick_topic(reader, image_topic, IMAGE_TYPES)
        wanted = [c for c in reader.connections if c.topic in {topic, depth_topic, info_topic}]
        depth: np.ndarray | None = None
        intr: CameraIntrinsics | None = None
        index = 0
        for conn, stamp, raw in reader.messages(connections=wanted):
            if conn.topic == topic:
                yield index, stamp * 1e-9, (reader, raw, conn.msgtype), depth, intr, topic
                index += 1
            elif conn.topic == depth_topic:
                try:
                    depth = depth_to_metres(reader.deserialize(raw, conn.msgtype))
                except (ValueError, TypeError, KeyError) as err:
                    log.warning("%s: bad depth message skipped: %s", path, err)
            elif conn.topic == info_topic:
                intr = _intrinsics(reader.deserialize(raw, conn.msgtype))


def decode_image(handle: tuple[Any, bytes, str]) -> np.ndarray:
    reader, raw, msgtype = handle
    msg = reader.deserialize(raw, msgtype)
    return compressed_to_rgb(msg) if msgtype.endswith("CompressedImage") else image_to_rgb(msg)


def bag_to_twins(
    path: str | Path,
    cache_dir: str | Path,
    pipeline: Any,
    profile: str,
    *,
    image_topic: str = "",
    depth_topic: str = "",
    info_topic: str = "",
    stride: int = 1,
    max_frames: int = 0,
) -> tuple[list[FrameTwin], BagReport]:
    """Frame twins of one bag (cached); never raises for a bad bag or frame."""
    report = BagReport(str(path))
    twins: list[FrameTwin] = []
    try:
        key = bag_hash(path)
        pipeline.reset()
        frames = iter_bag_frames(path, image_topic, depth_topic, info_topic)
        for index, stamp, handle, depth, intr, topic in tqdm(frames, desc=Path(path).name):
            if index % stride or (max_frames and len(twins) >= max_frames):
                continue
            file = Path(cache_dir) / key / _slug(topic) / profile / f"{index}.json"
            if file.is_file():
                twins.append(FrameTwin.from_dict(json.loads(file.read_text())))
                continue
            try:
                twin = pipeline.process_frame(decode_image(handle), depth, intr, stamp=stamp)
            except Exception as err:  # one bad frame must not end a long build
                report.skipped.append(f"frame {index}: {type(err).__name__}: {err}")
                continue
            twin.index = index
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(".tmp")
            tmp.write_text(json.dumps(twin.to_dict()))
            tmp.replace(file)
            twins.append(twin)
            report.built += 1
    except Exception as err:  # unreadable / corrupted bag: report and go on with the rest
        report.skipped.append(f"bag: {type(err).__name__}: {err}")
        log.warning("skipping bag %s: %s", path, err)
    report.frames = len(twins)
    return twins, report
