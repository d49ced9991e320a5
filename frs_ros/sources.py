"""Frame sources for offline use (``frs`` command line, dataset building).

One iterator of :class:`Frame` for every input people bring: an image file, a folder of
images, an animated GIF, a video file (through PyAV when installed) and a rosbag2
(sqlite3 or MCAP, through ``rosbags``; colour + optional depth + CameraInfo). Frames are
produced lazily, so memory stays bounded however long the input is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from frs_ros.twin.geometry import CameraIntrinsics

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}
BAG_SUFFIXES = {".mcap", ".db3"}


@dataclass
class Frame:
    index: int
    stamp: float  # seconds
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray | None = None  # metres, float32
    intrinsics: CameraIntrinsics | None = None
    frame_id: str = ""


def kind_of(path: str | Path) -> str:
    """``image`` | ``folder`` | ``gif`` | ``video`` | ``rosbag``; a clear error otherwise."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input {p} does not exist")
    if p.is_dir():
        return "rosbag" if (p / "metadata.yaml").is_file() else "folder"
    suffix = p.suffix.lower()
    if suffix == ".gif":
        return "gif"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in BAG_SUFFIXES:
        return "rosbag"
    raise ValueError(
        f"cannot read {p}: expected an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a folder "
        f"of images, a .gif, a video ({', '.join(sorted(VIDEO_SUFFIXES))}) or a rosbag2"
    )


def iter_frames(
    path: str | Path,
    *,
    fps: float = 10.0,
    max_frames: int | None = None,
    stride: int = 1,
    image_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
) -> Iterator[Frame]:
    """Frames of any supported input, every ``stride``-th, at most ``max_frames``.

    ``fps`` stamps frames of inputs that carry no time (folders, GIFs without durations).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    kind = kind_of(path)
    if kind == "rosbag":
        frames = _bag_frames(Path(path), image_topic, depth_topic, info_topic)
    elif kind == "video":
        frames = _video_frames(Path(path))
    else:
        frames = _pil_frames(Path(path), kind, fps)
    out = 0
    for i, frame in enumerate(frames):
        if i % stride:
            continue
        if max_frames is not None and out >= max_frames:
            return
        frame.index = out
        out += 1
        yield frame


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


# What a damaged file raises while being read: PIL (OSError, e.g. a 0-byte or truncated
# image; DecompressionBombError), PyAV (FFmpegError, a ValueError), short reads (EOFError).
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
)


@contextmanager
def _reading(path: Path, what: str, errors: tuple[type[BaseException], ...] = _READ_ERRORS):
    """Turn a damaged input's error into one ValueError that names the file."""
    try:
        yield
    except errors as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None


DEPTH_SUFFIX = "_depth"  # image.png + image_depth.png (16-bit mm or float m) = RGB-D


def _companion_depth(colour: Path) -> np.ndarray | None:
    """The depth image stored next to a colour image as ``<stem>_depth<ext>``, if any."""
    path = colour.with_name(colour.stem + DEPTH_SUFFIX + colour.suffix)
    if not path.is_file():
        return None
    with _reading(path, "depth image"), Image.open(path) as im:
        return np.asarray(im)  # uint16 = millimetres; perception converts to metres


def _read_rgb(path: Path) -> np.ndarray:
    with _reading(path, "image"), Image.open(path) as im:
        return _rgb(im)


def _pil_frames(path: Path, kind: str, fps: float) -> Iterator[Frame]:
    if kind == "image":
        yield Frame(0, 0.0, _read_rgb(path), _companion_depth(path))
        return
    if kind == "folder":
        files = sorted(
            f
            for f in path.iterdir()
            if f.suffix.lower() in IMAGE_SUFFIXES and not f.stem.endswith(DEPTH_SUFFIX)
        )
        if not files:
            raise ValueError(f"folder {path} has no images")
        for i, f in enumerate(files):
            yield Frame(i, i / fps, _read_rgb(f), _companion_depth(f))
        return
    with _reading(path, "animation"), Image.open(path) as im:
        t = 0.0
        for i, page in enumerate(ImageSequence.Iterator(im)):
            yield Frame(i, t, _rgb(page))
            duration_ms = page.info.get("duration") or 1000.0 / fps
            t += duration_ms / 1000.0


def _video_frames(path: Path) -> Iterator[Frame]:
    try:
        import av  # PyAV ships its own FFmpeg libraries in the wheel
    except ImportError:
        raise ImportError(
            f"reading {path.suffix} video needs PyAV: pip install av "
            "(or convert the video to a folder of PNGs or a GIF)"
        ) from None
    with _reading(path, "video"), av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("it has no video stream")
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            stamp = float(frame.time) if frame.time is not None else float(i)
            yield Frame(i, stamp, frame.to_ndarray(format="rgb24"))


IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class BagImage:
    """One colour message of a bag, not yet decoded (a cached frame never pays for it), with
    the latest depth (metres) and intrinsics logged before it."""

    index: int
    stamp: float  # log time, seconds
    topic: str
    depth: np.ndarray | None
    intrinsics: CameraIntrinsics | None
    _reader: object
    _raw: bytes
    _msgtype: str

    def decode(self) -> tuple[np.ndarray, float, str]:
        """(RGB, header stamp in s, frame id); bad data raises."""
        from frs_ros.ros.image_conversion import compressed_to_rgb, image_to_rgb

        msg = self._reader.deserialize(self._raw, self._msgtype)
        compressed = self._msgtype.endswith("CompressedImage")
        rgb = compressed_to_rgb(msg) if compressed else image_to_rgb(msg)
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

    from frs_ros.ros.image_conversion import depth_to_metres

    path = Path(path)
    bag = path.parent if path.is_file() and path.suffix == ".db3" else path
    # rosbags reports a truncated or corrupt bag as AnyReaderError, an Exception only
    with _reading(path, "rosbag2", (AnyReaderError,)), AnyReader([bag]) as reader:
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
                yield BagImage(index, stamp_ns * 1e-9, conn.topic, depth, intrinsics, reader, raw,
                               conn.msgtype)  # fmt: skip
                index += 1
                continue
            try:
                msg = reader.deserialize(raw, conn.msgtype)
                if conn.topic == depth_topic:
                    depth = depth_to_metres(msg)
                else:
                    intrinsics = CameraIntrinsics.from_k(msg.k)
            except (ValueError, TypeError, KeyError, AssertionError) as exc:
                log.warning("skipping a bad %s message at %d: %s", conn.topic, stamp_ns, exc)


def _bag_frames(
    path: Path, image_topic: str | None, depth_topic: str | None, info_topic: str | None
) -> Iterator[Frame]:
    for image in iter_bag_images(path, image_topic, depth_topic, info_topic):
        try:
            rgb, stamp, frame_id = image.decode()
        except (ValueError, TypeError, KeyError, AssertionError) as exc:
            log.warning("skipping an unreadable %s frame %d: %s", image.topic, image.index, exc)
            continue
        yield Frame(image.index, stamp, rgb, image.depth, image.intrinsics, frame_id)
