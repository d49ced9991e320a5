"""Shared test set-up: tests never reach a model hub."""

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def write_rgbd_bag(path, frames, storage="mcap", depth_m=1.5, fx=100.0):
    """A rosbag2 with colour (rgb8), depth (16UC1 mm) and CameraInfo per frame."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from frs_ros.ros.image_conversion import image_fields
    from frs_ros.ros.interfaces import RosbagsTypes

    types = RosbagsTypes()
    store = types.store
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = {
            "color": writer.add_connection("/cam/color", "sensor_msgs/msg/Image", typestore=store),
            "depth": writer.add_connection("/cam/depth", "sensor_msgs/msg/Image", typestore=store),
            "info": writer.add_connection(
                "/cam/info", "sensor_msgs/msg/CameraInfo", typestore=store
            ),
        }
        for i, rgb in enumerate(frames):
            ns = 1_000_000_000 + i * 100_000_000
            stamp = types.new("builtin_interfaces/msg/Time", sec=ns // 10**9, nanosec=ns % 10**9)
            header = types.new("std_msgs/msg/Header", stamp=stamp, frame_id="cam")
            h, w = rgb.shape[:2]
            depth = np.full((h, w), int(depth_m * 1000), np.uint16)
            k = np.array([fx, 0, w / 2, 0, fx, h / 2, 0, 0, 1], np.float64)
            msgs = {
                "info": types.new(
                    "sensor_msgs/msg/CameraInfo", header=header, height=h, width=w, k=k
                ),
                "depth": types.new(
                    "sensor_msgs/msg/Image",
                    header=header,
                    **_as_seq(types, image_fields(depth, "16UC1")),
                ),
                "color": types.new(
                    "sensor_msgs/msg/Image",
                    header=header,
                    **_as_seq(types, image_fields(rgb, "rgb8")),
                ),
            }
            for name, msg in msgs.items():
                conn = conns[name]
                writer.write(conn, ns, store.serialize_cdr(msg, conn.msgtype))
    return path


def _as_seq(types, fields):
    fields = dict(fields)
    fields["data"] = np.frombuffer(fields["data"], np.uint8)
    return fields


@pytest.fixture
def rgbd_bag(tmp_path):
    """Factory: ``rgbd_bag(frames, storage="mcap"|"sqlite3")`` → bag directory."""

    def make(frames, storage="mcap"):
        return write_rgbd_bag(tmp_path / f"bag_{storage}", frames, storage)

    return make
