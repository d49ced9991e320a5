"""Camera intrinsics <-> sensor_msgs/CameraInfo fields.

Works on any CameraInfo-like object (rclpy or rosbags message classes): only ``k`` is
read. The twin back-projects pixels with the pinhole ``K`` alone and ignores the distortion
``D``, so feed perception rectified images (a camera driver's ``image_rect`` topics, whose
``D`` is zero); on distorted pixels the 3-D centroids are off by the lens distortion.
Written CameraInfo carries the image size and ``K``, nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from frs_ros.twin.geometry import CameraIntrinsics


def intrinsics_from_camera_info(info: Any) -> CameraIntrinsics:
    """The pinhole intrinsics of a CameraInfo message's row-major 3x3 ``K``; a K with a
    NaN, infinite or non-positive focal entry is a ValueError naming CameraInfo."""
    try:
        return CameraIntrinsics.from_k(info.k)
    except ValueError as exc:
        raise ValueError(f"CameraInfo K rejected: {exc}") from None


def camera_matrix(intrinsics: CameraIntrinsics) -> np.ndarray:
    """Row-major 3x3 ``K`` (9 float64 values), the inverse of ``CameraIntrinsics.from_k``."""
    k = intrinsics
    return np.array([k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0], dtype=np.float64)


def camera_info_fields(intrinsics: CameraIntrinsics, width: int, height: int) -> dict[str, Any]:
    """The CameraInfo fields frs_ros fills (image size and ``K``); the caller adds the
    header and builds the message with its message-class provider."""
    return {"height": height, "width": width, "k": camera_matrix(intrinsics)}
