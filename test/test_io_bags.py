"""frs_ros.io: frames written to a rosbag2 with the project's one bag writer come back from
the frame reader exactly (colour, metric depth, intrinsics, stamp, frame id)."""

from __future__ import annotations

import numpy as np
import pytest

from frs_ros.io.bags import BagWriter, write_frames
from frs_ros.io.camera import camera_info_fields, camera_matrix, intrinsics_from_camera_info
from frs_ros.io.frames import Frame
from frs_ros.io.messages import RosbagsTypes
from frs_ros.io.sources import iter_frames
from frs_ros.twin import CameraIntrinsics

RNG = np.random.default_rng(5)
K = CameraIntrinsics(fx=120.5, fy=119.0, cx=20.25, cy=15.5)


def _frames(n: int) -> list[Frame]:
    out = []
    for i in range(n):
        depth = RNG.uniform(0.3, 4.0, (30, 40)).astype(np.float32)
        depth[0, :5] = np.nan  # no return
        rgb = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        out.append(Frame(i, 1_764_000_000 + i * 0.125, rgb, depth, K, frame_id="cam_optical"))
    return out


@pytest.mark.parametrize(("storage", "depth_encoding"), [("mcap", "32FC1"), ("sqlite3", "16UC1")])
def test_frames_round_trip_through_a_bag(tmp_path, storage, depth_encoding):
    frames = _frames(3)
    bag = write_frames(
        tmp_path / "bag",
        frames,
        image_topic="/cam/color",
        depth_topic="/cam/depth",
        info_topic="/cam/info",
        depth_encoding=depth_encoding,
        storage=storage,
    )
    read = list(iter_frames(bag, depth_topic="/cam/depth", info_topic="/cam/info"))
    assert len(read) == len(frames)
    for got, sent in zip(read, frames, strict=True):
        np.testing.assert_array_equal(got.rgb, sent.rgb)
        # float seconds near today's epoch resolve ~240 ns
        assert got.stamp == pytest.approx(sent.stamp, abs=1e-6)
        assert (got.frame_id, got.intrinsics) == ("cam_optical", K)
        valid = np.isfinite(sent.depth)
        np.testing.assert_array_equal(np.isfinite(got.depth), valid)
        tolerance = 0 if depth_encoding == "32FC1" else 0.0005  # millimetres round
        np.testing.assert_allclose(got.depth[valid], sent.depth[valid], rtol=0, atol=tolerance)


def test_a_frame_without_intrinsics_is_written_as_colour_only(tmp_path):
    frame = _frames(1)[0]
    frame.intrinsics = None
    bag = write_frames(tmp_path / "bag", [frame], image_topic="/c", depth_topic="/d")
    (read,) = iter_frames(bag)
    assert read.depth is None and read.intrinsics is None


def test_camera_matrix_is_the_inverse_of_from_k():
    types = RosbagsTypes(own_interfaces=False)
    info = types.new("sensor_msgs/msg/CameraInfo", **camera_info_fields(K, width=40, height=30))
    assert (info.width, info.height) == (40, 30)
    assert intrinsics_from_camera_info(info) == K
    np.testing.assert_array_equal(camera_matrix(K).reshape(3, 3)[2], [0, 0, 1])


def test_writer_refuses_a_second_message_type_on_a_topic_and_unknown_storage(tmp_path):
    with pytest.raises(ValueError, match="storage must be one of"):
        BagWriter(tmp_path / "x", storage="rosbag1")
    with BagWriter(tmp_path / "bag") as writer:
        writer.write_frame(_frames(1)[0], image_topic="/c")
        info = writer.types.new("sensor_msgs/msg/CameraInfo")
        with pytest.raises(ValueError, match="carries sensor_msgs/msg/Image"):
            writer.write("/c", info, 1)
