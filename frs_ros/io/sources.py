"""Frame sources for offline use (``frs`` command line, ``frs ros play``, dataset building).

One iterator of :class:`Frame` for every input people bring: an image file, a folder of
images, an animated GIF, a video file (through PyAV when installed) and a rosbag2
(sqlite3 or MCAP, through ``rosbags``; colour + optional depth + CameraInfo). Frames are
produced lazily, so memory stays bounded however long the input is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from frs_ros.io.bags import BAG_SUFFIXES, bag_frames
from frs_ros.io.frames import Frame, reading
from frs_ros.io.images import INT_MODES, pil_to_rgb, uint16_pixels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}


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
        frames = bag_frames(Path(path), image_topic, depth_topic, info_topic)
    elif kind == "video":
        frames = _video_frames(Path(path))
    elif kind == "folder":  # selects its stride-th files itself, so they can be checked first
        frames = _folder_frames(Path(path), fps, stride, max_frames)
        stride = 1
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


DEPTH_SUFFIX = "_depth"  # image.png + image_depth.png (16-bit mm or float m) = RGB-D


def _companion_depth(colour: Path) -> np.ndarray | None:
    """The depth image stored next to a colour image as ``<stem>_depth<ext>``, if any:
    uint16 millimetres (16-bit, or 32-bit integers within 16 bits) or float32 metres."""
    path = colour.with_name(colour.stem + DEPTH_SUFFIX + colour.suffix)
    if not path.is_file():
        return None
    with reading(path, "depth image"), Image.open(path) as im:
        if im.mode in INT_MODES:
            return uint16_pixels(im)  # millimetres; perception converts to metres
        if im.mode == "F":
            return np.asarray(im, dtype=np.float32)  # metres
        raise ValueError(
            f"it is a PIL mode {im.mode!r} image; depth must be 16-bit millimetres or "
            "32-bit float metres"
        )


def _check_header(path: Path) -> None:
    """Open an image and verify its structure without decoding the pixels (milliseconds)."""
    with reading(path, "image"), Image.open(path) as im:
        im.verify()


def _folder_frames(path: Path, fps: float, stride: int, max_frames: int | None) -> Iterator[Frame]:
    """A folder's frames, every file that will be used (and its depth companion) checked
    first, so a damaged file fails before any frame is processed or model loads."""
    files = sorted(
        f
        for f in path.iterdir()
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.stem.endswith(DEPTH_SUFFIX)
    )
    if not files:
        raise ValueError(f"folder {path} has no images")
    used = set(files[::stride][:max_frames] if max_frames is not None else files[::stride])
    for f in sorted(used):
        _check_header(f)
        depth = f.with_name(f.stem + DEPTH_SUFFIX + f.suffix)
        if depth.is_file():
            _check_header(depth)
    for i, f in enumerate(files):
        if f in used:
            yield Frame(i, i / fps, _read_rgb(f), _companion_depth(f))


def _read_rgb(path: Path) -> np.ndarray:
    with reading(path, "image"), Image.open(path) as im:
        return pil_to_rgb(im)


def _pil_frames(path: Path, kind: str, fps: float) -> Iterator[Frame]:
    if kind == "image":
        yield Frame(0, 0.0, _read_rgb(path), _companion_depth(path))
        return
    with reading(path, "animation"), Image.open(path) as im:
        t = 0.0
        for i, page in enumerate(ImageSequence.Iterator(im)):
            yield Frame(i, t, pil_to_rgb(page))
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
    with reading(path, "video"), av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("it has no video stream")
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            stamp = float(frame.time) if frame.time is not None else float(i)
            yield Frame(i, stamp, frame.to_ndarray(format="rgb24"))
