"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

cv_bridge is a C++/OpenCV extension that is not on PyPI; the conversion is a reshape of
the message buffer, so it is written here with numpy (and PIL for JPEG/PNG). It works on
message objects of rclpy-generated classes and of rosbags classes alike: only the fields
``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data`` (``format`` for
CompressedImage) are read.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
from PIL import Image as PILImage

# encoding -> (dtype, channels), names as in sensor_msgs/image_encodings.hpp
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
COMPRESSED_FORMATS = ("jpeg", "jpg", "png")


def _buffer(data: Any) -> np.ndarray:
    """The message's data field as a flat uint8 array, without copying when possible."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, list):  # rclpy accepts lists; tests and hand-built messages use them
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(memoryview(data), dtype=np.uint8)  # bytes, array.array('B')


def _unsupported(encoding: str) -> ValueError:
    return ValueError(f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")


def image_to_numpy(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/Image to (H, W) or (H, W, C) in its own encoding and dtype.

    Row padding (``step`` > width * pixel size) is dropped and big-endian data is byte
    swapped to native order. Unsupported encodings and inconsistent sizes are ValueErrors.
    """
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise _unsupported(encoding)
    dtype, channels = ENCODINGS[encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ValueError(f"image is empty ({w}x{h})")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(f"step {step} is smaller than a {encoding} row of width {w} ({row_bytes})")
    buf = _buffer(msg.data)
    if buf.size < step * h:  # sensor_msgs/Image: len(data) == step * height
        raise ValueError(f"data has {buf.size} bytes; {w}x{h} with step {step} needs {step * h}")
    rows = buf[: step * h].reshape(h, step)[:, :row_bytes]
    order: Literal[">", "<"] = ">" if msg.is_bigendian else "<"
    arr = np.ascontiguousarray(rows).view(dtype.newbyteorder(order)).astype(dtype, copy=False)
    return arr.reshape(h, w) if channels == 1 else arr.reshape(h, w, channels)


def image_to_rgb(msg: Any) -> np.ndarray:
    """A colour image message as (H, W, 3) uint8 RGB (mono8 is replicated)."""
    arr = image_to_numpy(msg)
    encoding = str(msg.encoding)
    if encoding not in COLOR_ENCODINGS:
        raise ValueError(
            f"{encoding!r} is not a colour encoding; expected one of {COLOR_ENCODINGS}"
        )
    if encoding == "mono8":
        return np.repeat(arr[:, :, None], 3, axis=2)
    if encoding in ("bgr8", "bgra8"):
        arr = arr[:, :, 2::-1]
    return np.ascontiguousarray(arr[:, :, :3])


def depth_to_metres(msg: Any) -> np.ndarray:
    """A depth image message as (H, W) float32 metres; missing measurements are NaN.

    REP 118: ``16UC1``/``mono16`` are millimetres with 0 = no return; ``32FC1`` is metres
    with NaN (or 0) = no return.
    """
    arr = image_to_numpy(msg)
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"{encoding!r} is not a depth encoding; expected one of {DEPTH_ENCODINGS}")
    if encoding == "32FC1":
        depth = arr.astype(np.float32, copy=True)
        depth[depth <= 0] = np.nan
        return depth
    depth = arr.astype(np.float32) / 1000.0
    depth[arr == 0] = np.nan
    return depth


INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit grey (PNG, TIFF); 32-bit int


def uint16_pixels(image: PILImage.Image) -> np.ndarray:
    """A 16- or 32-bit integer grey image as uint16; 32-bit values must fit 16 bits (a
    16-bit file read as PIL mode "I")."""
    arr = np.asarray(image)
    if arr.dtype.itemsize > 2 and arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise ValueError(
            f"it has {arr.dtype.itemsize * 8}-bit integer pixels outside 0..65535 "
            f"({arr.min()}..{arr.max()}); expected 8/16-bit pixels"
        )
    return arr.astype(np.uint16)


def pil_to_rgb(image: PILImage.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB. 16-bit grey keeps its top 8 bits (PIL's own conversion would
    clip every value above 255 to white)."""
    if image.mode in INT_MODES:
        grey = (uint16_pixels(image) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "F":
        raise ValueError("it has floating-point pixels (a depth map?); expected a colour image")
    return np.asarray(image.convert("RGB"))


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """A sensor_msgs/CompressedImage (JPEG or PNG) as (H, W, 3) uint8 RGB, via PIL."""
    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt or not any(f in fmt for f in COMPRESSED_FORMATS):
        raise ValueError(f"unsupported CompressedImage format {msg.format!r}; supported: jpeg, png")
    try:
        with PILImage.open(io.BytesIO(_buffer(msg.data).tobytes())) as img:
            return pil_to_rgb(img)
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise ValueError(f"cannot decode CompressedImage ({msg.format!r}): {exc}") from exc


def colour_to_rgb(msg: Any) -> np.ndarray:
    """An Image or a CompressedImage (it has a ``format`` field) as (H, W, 3) uint8 RGB."""
    return compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)


def encode_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """JPEG/PNG bytes of an (H, W, 3) uint8 RGB image (for CompressedImage.data)."""
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"format must be 'jpeg' or 'png', got {fmt!r}")
    out = io.BytesIO()
    PILImage.fromarray(_check_array(rgb, "rgb8")).save(out, format=fmt.upper(), quality=quality)
    return out.getvalue()


def _check_array(array: np.ndarray, encoding: str) -> np.ndarray:
    if encoding not in ENCODINGS:
        raise _unsupported(encoding)
    dtype, channels = ENCODINGS[encoding]
    shape = array.shape[:2] + ((channels,) if channels > 1 else ())
    if array.ndim != len(shape) or array.shape != shape or 0 in array.shape:
        want = "(H, W)" if channels == 1 else f"(H, W, {channels})"
        raise ValueError(f"{encoding} needs a non-empty {want} array, got shape {array.shape}")
    if array.dtype != dtype:
        raise ValueError(f"{encoding} needs dtype {dtype}, got {array.dtype}")
    return np.ascontiguousarray(array)


def image_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """The Image fields (height, width, encoding, is_bigendian, step, data bytes) of an array.

    Data is little-endian and unpadded. The caller adds ``header`` and builds the message
    with its message-class provider (rclpy or rosbags, see ``frs_ros.io.messages``).
    """
    array = _check_array(array, encoding)
    h, w = array.shape[:2]
    data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return {
        "height": h,
        "width": w,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": len(data) // h,
        "data": data,
    }
