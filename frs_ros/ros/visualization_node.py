"""Visualisation: ``overlay`` (sensor_msgs/Image rgb8: masks in colour with labels over the
frame) and ``markers`` (visualization_msgs/MarkerArray: 3D centroids and labels, when the
twin has metric depth + CameraInfo). Draws the latest result's objects, or every object of
the twin before any query."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, ClassVar

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from frs_ros.io.images import image_to_rgb
from frs_ros.io.messages import image_message
from frs_ros.ros import conversions as conv
from frs_ros.ros.jobs import markers_for, overlay_for
from frs_ros.ros.node_base import Configured, FrsNode, guarded, qos_from, run
from frs_ros.twin import FrameTwin, Twin


class Drawer:
    """Keeps the latest twin and result; draws the overlay of a frame and the markers."""

    def __init__(self, node: FrsNode) -> None:
        self.node = node
        self.overlay_pub = node.output_publisher("sensor_msgs/msg/Image", "overlay")
        self.markers_pub = node.output_publisher("visualization_msgs/msg/MarkerArray", "markers")
        self._lock = threading.Lock()
        self._frames: deque[FrameTwin] = deque(maxlen=32)  # recent frame twins by stamp
        self._result: Any = None

    def on_twin(self, twin: Twin) -> None:
        with self._lock:
            self._frames.append(twin.latest)
            ids = self._ids()
        self.markers_pub.publish(markers_for(self.node.types, twin.latest, ids))

    def on_result(self, result: Any) -> None:
        with self._lock:
            self._result = result if result.outcome != "error" else self._result

    def _ids(self) -> list[int] | None:
        return [int(i) for i in self._result.object_ids] if self._result is not None else None

    def draw(self, rgb: Any, stamp: float, frame_id: str) -> None:
        """Publish the overlay of this frame: the twin frame with the nearest stamp."""
        with self._lock:
            frame = min(self._frames, key=lambda f: abs(f.stamp - stamp), default=None)
            result = self._result
        overlay = overlay_for(rgb, frame, result)
        hdr = conv.header(self.node.types, stamp, frame_id)
        self.overlay_pub.publish(image_message(self.node.types, overlay, "rgb8", hdr))

    def destroy(self) -> None:
        self.node.destroy_lifecycle_publisher(self.overlay_pub)
        self.node.destroy_lifecycle_publisher(self.markers_pub)


class VisualizationNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = {"image_topic": "frs/rgb"}
    # created on configure, freed on cleanup
    drawer: Configured[Drawer] = Configured()
    subs: Configured[list[Any]] = Configured()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("frs_visualization", **kwargs)

    def configure(self) -> TransitionCallbackReturn:
        self.drawer = Drawer(self)
        get, reliable = self.types.get, qos_from("reliable")
        self.subs = [
            self.create_subscription(
                get("frs_ros/msg/Twin"),
                "twin",
                guarded(self, "twin")(self._on_twin),
                reliable,
                callback_group=self.light_group,
            ),
            self.create_subscription(
                get("frs_ros/msg/ReasonResult"),
                "result",
                guarded(self, "result")(self.drawer.on_result),
                reliable,
                callback_group=self.light_group,
            ),
            self.create_subscription(
                get("sensor_msgs/msg/Image"),
                str(self.param("image_topic")),
                guarded(self, "image")(self._on_image),
                reliable,
                callback_group=self.heavy_group,
            ),
        ]
        return TransitionCallbackReturn.SUCCESS

    def _on_twin(self, msg: Any) -> None:
        if self.active:
            self.drawer.on_twin(conv.msg_to_twin(msg))

    def _on_image(self, msg: Any) -> None:
        if self.active:  # guarded: an image that cannot be decoded is logged and dropped
            self.drawer.draw(
                image_to_rgb(msg), conv.time_to_stamp(msg.header.stamp), str(msg.header.frame_id)
            )

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for sub in self.subs:
            self.destroy_subscription(sub)
        self.drawer.destroy()
        self.drawer = self.subs = None
        return TransitionCallbackReturn.SUCCESS


def main(args: list[str] | None = None) -> int:
    return run(VisualizationNode, args)
