"""The frame — one colour image with optional metric depth and intrinsics, as every input
(files, bags, camera topics) delivers it to perception — and the one error a damaged input
turns into."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from frs_ros.twin.geometry import CameraIntrinsics


@dataclass
class Frame:
    index: int
    stamp: float  # seconds
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray | None = None  # metres, float32
    intrinsics: CameraIntrinsics | None = None
    frame_id: str = ""


# What a damaged file raises while being read: PIL (OSError, e.g. a 0-byte or truncated
# image; DecompressionBombError), PyAV (FFmpegError, a ValueError), short reads (EOFError).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
)


@contextmanager
def reading(
    path: Path, what: str, errors: tuple[type[BaseException], ...] = READ_ERRORS
) -> Iterator[None]:
    """Turn a damaged input's error into one ValueError that names the file."""
    try:
        yield
    except errors as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None
