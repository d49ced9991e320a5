"""Shared rclpy plumbing: lifecycle base node, QoS from parameters, synchronised frame
input (image [+ depth + CameraInfo] through message_filters), and the executable's main.

Heavy work runs in its own mutually exclusive callback group while services and light
subscriptions use a reentrant group, all under a MultiThreadedExecutor, so a long
perception or reasoning step never blocks the executor (DESIGN.md §10).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import message_filters
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from frs_ros.paths import config_path
from frs_ros.ros.interfaces import MessageTypes, RclpyTypes
from frs_ros.ros.jobs import RateLimiter, frame_from_messages
from frs_ros.sources import Frame

RELIABILITIES = ("sensor_data", "reliable", "best_effort")


def qos_from(reliability: str, depth: int = 5) -> QoSProfile:
    """``sensor_data`` (best effort, keep last 5: the camera default), ``reliable`` (e.g. a
    bag played with default QoS) or ``best_effort``."""
    if reliability == "sensor_data":
        return qos_profile_sensor_data
    if reliability not in RELIABILITIES:
        raise ValueError(f"QoS reliability must be one of {RELIABILITIES}, got {reliability!r}")
    policy = (
        ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    return QoSProfile(depth=depth, reliability=policy)


def resolve_config(name: str) -> Path:
    """A config file given as a path, or by name under the shipped config directory
    (``frs_ros.paths``: source tree, or ``share/frs_ros/config`` of an installed package)."""
    path = Path(name)
    if path.is_file():
        return path
    path = config_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"config {name!r} not found as a path nor as {path}")
    return path


class FrsNode(LifecycleNode):
    """Lifecycle node with declared parameters (``PARAMS``) and the message-class provider.

    ``autostart`` (default true) configures and activates at start, so ``ros2 run`` works
    without a lifecycle manager; set it false to drive the transitions yourself.
    """

    PARAMS: ClassVar[dict[str, Any]] = {}

    def __init__(self, node_name: str, *, types: MessageTypes | None = None, **kwargs: Any):
        super().__init__(node_name, **kwargs)
        self.types = types or RclpyTypes()
        self.declare_parameter("autostart", True)
        for name, default in self.PARAMS.items():
            self.declare_parameter(name, default)
        self.heavy_group = MutuallyExclusiveCallbackGroup()
        self.light_group = ReentrantCallbackGroup()
        self.active = False

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        return TransitionCallbackReturn.SUCCESS


class FrameInput:
    """Image or CompressedImage, optionally synchronised with depth + CameraInfo
    (ApproximateTimeSynchronizer, ``slop`` seconds), throttled to ``max_rate_hz`` of message
    time. Each decoded frame goes to ``on_frame``; bad input is logged and dropped."""

    PARAMS: ClassVar[dict[str, Any]] = {
        "image_topic": "image",
        "depth_topic": "depth",
        "camera_info_topic": "camera_info",
        "use_depth": False,
        "use_compressed": False,
        "slop": 0.05,
        "sync_queue_size": 10,
        "max_rate_hz": 0.0,
        "image_reliability": "sensor_data",
        "depth_reliability": "sensor_data",
        "camera_info_reliability": "reliable",
    }

    def __init__(self, node: FrsNode, on_frame: Callable[[Frame], None]) -> None:
        self.node = node
        self.on_frame = on_frame
        p = node.param
        self.limiter = RateLimiter(float(p("max_rate_hz")))
        image_type = "sensor_msgs/msg/" + ("CompressedImage" if p("use_compressed") else "Image")
        image_topic = str(p("image_topic"))
        if p("use_compressed") and not image_topic.endswith("/compressed"):
            image_topic += "/compressed"  # image_transport's naming
        group = node.heavy_group
        self.subscribers: list[Any] = [
            message_filters.Subscriber(
                node,
                node.types.get(image_type),
                image_topic,
                qos_profile=qos_from(p("image_reliability")),
                callback_group=group,
            )
        ]
        if p("use_depth"):
            for type_name, topic, rel in (
                ("sensor_msgs/msg/Image", p("depth_topic"), p("depth_reliability")),
                (
                    "sensor_msgs/msg/CameraInfo",
                    p("camera_info_topic"),
                    p("camera_info_reliability"),
                ),
            ):
                self.subscribers.append(
                    message_filters.Subscriber(
                        node,
                        node.types.get(type_name),
                        str(topic),
                        qos_profile=qos_from(rel),
                        callback_group=group,
                    )
                )
            self.sync = message_filters.ApproximateTimeSynchronizer(
                self.subscribers, int(p("sync_queue_size")), float(p("slop"))
            )
            self.sync.registerCallback(self._callback)
        else:
            self.subscribers[0].registerCallback(self._callback)

    def _callback(self, image: Any, depth: Any = None, info: Any = None) -> None:
        if not self.node.active:
            return
        try:
            frame = frame_from_messages(image, depth, info)
        except ValueError as exc:  # bad encoding, size mismatch...: log, keep running
            self.node.get_logger().error(f"dropping frame: {exc}")
            return
        if self.limiter.accept(frame.stamp):
            self.on_frame(frame)

    def destroy(self) -> None:
        for sub in self.subscribers:
            self.node.destroy_subscription(sub.sub)
        self.subscribers = []


def run(node_factory: Callable[[], FrsNode], args: list[str] | None = None) -> int:
    """Init rclpy, start the node (autostart), spin a MultiThreadedExecutor until Ctrl-C."""
    rclpy.init(args=args)
    node = node_factory()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        if node.param("autostart"):
            node.trigger_configure()
            node.trigger_activate()
        executor.spin()
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
