"""Visualisation: ``overlay`` (sensor_msgs/Image rgb8: masks in colour with labels over the
frame) and ``markers`` (visualization_msgs/MarkerArray: 3D centroids and labels, when the
twin has metric depth + CameraInfo). Draws the latest result's objects, or every object of
the twin before any query."""

from __future__ import annotations

from typing import Any, ClassVar

from rclpy.lifecycle import TransitionCallbackReturn

from frs_ros.io.images import image_to_rgb
from frs_ros.ros import conversions as conv
from frs_ros.ros.endpoints import Drawer
from frs_ros.ros.node_base import Configured, FrsNode, guarded, qos_from, run


class VisualizationNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = {"image_topic": "frs/rgb"}
    # created on configure, freed on cleanup
    drawer: Configured[Drawer] = Configured()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("frs_visualization", **kwargs)

    def configure(self) -> TransitionCallbackReturn:
        self.drawer = Drawer(self)
        get, reliable = self.types.get, qos_from("reliable")
        self.create_subscription(
            get("frs_ros/msg/Twin"),
            "twin",
            guarded(self, "twin")(self._on_twin),
            reliable,
            callback_group=self.light_group,
        )
        self.create_subscription(
            get("frs_ros/msg/ReasonResult"),
            "result",
            guarded(self, "result")(self._on_result),
            reliable,
            callback_group=self.light_group,
        )
        self.create_subscription(
            get("sensor_msgs/msg/Image"),
            str(self.param("image_topic")),
            guarded(self, "image")(self._on_image),
            reliable,
            callback_group=self.heavy_group,
        )
        return TransitionCallbackReturn.SUCCESS

    def _on_twin(self, msg: Any) -> None:
        if self.active:
            self.drawer.on_twin(conv.msg_to_twin(msg))

    def _on_result(self, msg: Any) -> None:
        if self.active:
            self.drawer.on_result(msg)

    def _on_image(self, msg: Any) -> None:
        if self.active:  # guarded: an image that cannot be decoded is logged and dropped
            self.drawer.draw(
                image_to_rgb(msg), conv.time_to_stamp(msg.header.stamp), str(msg.header.frame_id)
            )


def main(args: list[str] | None = None) -> int:
    return run(VisualizationNode, args)
