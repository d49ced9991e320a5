"""``frs ros play``: publish frames of any input ``frs segment`` reads (image, folder, GIF,
video, rosbag2) as a camera would — ``image`` (rgb8) and, when the input has metric depth
and intrinsics, ``depth`` + ``camera_info`` — stamped with the current ROS time, so a graph
without a camera driver (the pip-only route) has a stream to work on. Depth goes out in the
encoding its values are in: 16-bit depth images (millimetres) as ``16UC1``, float depth
(metres: bags, float TIFFs) as ``32FC1``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from frs_ros.io.frames import Frame
from frs_ros.io.messages import frame_messages
from frs_ros.io.sources import iter_frames
from frs_ros.ros.client import resolve_name
from frs_ros.ros.interfaces import RclpyTypes
from frs_ros.twin import CameraIntrinsics


def depth_encoding(frame: Frame) -> str:
    """``16UC1`` for integer depth (millimetres), ``32FC1`` for float depth (metres)."""
    return "16UC1" if frame.depth is not None and frame.depth.dtype.kind in "ui" else "32FC1"


def metric_frame(frame: Frame) -> Frame:
    """The frame with its depth in metres, as ``frame_messages`` takes it: 16-bit depth
    images hold millimetres. Values survive the round trip to ``16UC1`` exactly."""
    if frame.depth is not None and depth_encoding(frame) == "16UC1":
        frame.depth = frame.depth.astype(np.float64) / 1000.0
    return frame


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
    encodings = [depth_encoding(f) for f in frames]
    frames = [metric_frame(f) for f in frames]
    for frame in frames:
        if frame.depth is not None and frame.intrinsics is None:
            h, w = frame.rgb.shape[:2]
            frame.intrinsics = CameraIntrinsics.from_fov(w, h, hfov_deg)
    types = RclpyTypes()
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    # Ctrl-C is a KeyboardInterrupt (rclpy's handler would shut the context down under a
    # publish and raise RCLError instead)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
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
            for frame, encoding in zip(frames, encodings, strict=True):
                started = time.monotonic()
                now = node.get_clock().now().to_msg()
                hdr = types.new("std_msgs/msg/Header", stamp=now, frame_id=frame_id)
                image_msg, depth_msg, info_msg = frame_messages(types, frame, hdr, encoding)
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
