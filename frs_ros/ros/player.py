"""``frs ros play``: publish frames of any input ``frs segment`` reads (image, folder, GIF,
video, rosbag2) as a camera would — ``image`` (rgb8) and, when the input has metric depth
and intrinsics, ``depth`` (32FC1) + ``camera_info`` — stamped with the current ROS time, so
a graph without a camera driver (the pip-only route) has a stream to work on."""

from __future__ import annotations

import time
from pathlib import Path

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy

from frs_ros.io.messages import frame_messages
from frs_ros.io.sources import iter_frames
from frs_ros.ros.client import resolve_name
from frs_ros.ros.interfaces import RclpyTypes
from frs_ros.twin import CameraIntrinsics


def play(
    source: str | Path,
    *,
    namespace: str = "frs",
    rate_hz: float = 5.0,
    loop: bool = False,
    frame_id: str = "camera_optical",
    max_frames: int | None = None,
    hfov_deg: float = 60.0,
) -> int:
    """Publish the frames at ``rate_hz``; the number published. Frames with depth but no
    intrinsics (image folders) get a pinhole of ``hfov_deg`` horizontal field of view."""
    if not rate_hz > 0:
        raise ValueError(f"rate must be > 0 frames/s, got {rate_hz}")
    frames = list(iter_frames(source, max_frames=max_frames))
    if not frames:
        raise ValueError(f"{source} has no frames")
    for frame in frames:
        if frame.depth is not None and frame.intrinsics is None:
            h, w = frame.rgb.shape[:2]
            frame.intrinsics = CameraIntrinsics.from_fov(w, h, hfov_deg)
    types = RclpyTypes()
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    rclpy.init()
    published = 0
    try:
        node = rclpy.create_node("frs_play")
        image_type, info_type = (
            types.get("sensor_msgs/msg/Image"),
            types.get("sensor_msgs/msg/CameraInfo"),
        )
        image = node.create_publisher(image_type, resolve_name(namespace, "image"), qos)
        depth = node.create_publisher(image_type, resolve_name(namespace, "depth"), qos)
        info = node.create_publisher(info_type, resolve_name(namespace, "camera_info"), qos)
        period = 1.0 / rate_hz
        while True:
            for frame in frames:
                started = time.monotonic()
                now = node.get_clock().now().to_msg()
                hdr = types.new("std_msgs/msg/Header", stamp=now, frame_id=frame_id)
                image_msg, depth_msg, info_msg = frame_messages(types, frame, hdr)
                if depth_msg is not None:  # depth first: the synchroniser pairs on the image
                    depth.publish(depth_msg)
                    info.publish(info_msg)
                image.publish(image_msg)
                published += 1
                time.sleep(max(0.0, period - (time.monotonic() - started)))
            if not loop:
                return published
    except KeyboardInterrupt:
        return published
    finally:
        rclpy.try_shutdown()
