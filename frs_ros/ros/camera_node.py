"""Camera ingestion: image (or compressed) [+ depth + CameraInfo] in, synchronised,
throttled, validated frames out on ``frs/rgb`` (rgb8), ``frs/depth`` (32FC1 metres) and
``frs/camera_info``, all with the colour image's header. Downstream nodes then see one
encoding whatever the camera sends."""

from __future__ import annotations

from typing import Any, ClassVar

from rclpy.lifecycle import TransitionCallbackReturn

from frs_ros.io.frames import Frame
from frs_ros.io.messages import frame_messages
from frs_ros.ros import conversions as conv
from frs_ros.ros.node_base import Configured, FrameInput, FrsNode, qos_from, run


class CameraNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = {**FrameInput.PARAMS, "output_reliability": "reliable"}
    # created on configure, destroyed on cleanup
    rgb_pub: Configured[Any] = Configured()
    depth_pub: Configured[Any] = Configured()
    info_pub: Configured[Any] = Configured()
    input: Configured[FrameInput] = Configured()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("frs_camera", **kwargs)

    def configure(self) -> TransitionCallbackReturn:
        qos = qos_from(self.param("output_reliability"))
        self.rgb_pub = self.output_publisher("sensor_msgs/msg/Image", "frs/rgb", qos)
        self.depth_pub = self.output_publisher("sensor_msgs/msg/Image", "frs/depth", qos)
        self.info_pub = self.output_publisher("sensor_msgs/msg/CameraInfo", "frs/camera_info", qos)
        self.input = FrameInput(self, self.publish_frame)
        return TransitionCallbackReturn.SUCCESS

    def publish_frame(self, frame: Frame) -> None:
        hdr = conv.header(self.types, frame.stamp, frame.frame_id)
        image, depth, info = frame_messages(self.types, frame, hdr)
        self.rgb_pub.publish(image)
        if depth is not None:
            self.depth_pub.publish(depth)
            self.info_pub.publish(info)


def main(args: list[str] | None = None) -> int:
    return run(CameraNode, args)
