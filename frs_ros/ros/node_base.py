"""Shared rclpy plumbing: lifecycle base node, QoS from parameters, synchronised frame
input (image [+ depth + CameraInfo]), and the executable's main.

Heavy work runs in its own mutually exclusive callback group while services and light
subscriptions use a reentrant group, all under a MultiThreadedExecutor whose pool has a
thread for every query allowed to wait (``max_pending_queries``) plus the groups' own, so
queries waiting for the reasoner never starve perception (docs/ros.md, "Threads").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from frs_ros.io.frames import Frame
from frs_ros.io.messages import MessageTypes
from frs_ros.ros.interfaces import RclpyTypes
from frs_ros.ros.jobs import RateLimiter, frame_from_messages
from frs_ros.ros.sync import ApproximateSync

try:  # part of every ROS 2 install, but not on PyPI: the pip-only route has none
    import message_filters
except ImportError:
    message_filters = None

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
        inputs = [(image_type, image_topic, p("image_reliability"))]
        if p("use_depth"):
            inputs += [
                ("sensor_msgs/msg/Image", str(p("depth_topic")), p("depth_reliability")),
                (
                    "sensor_msgs/msg/CameraInfo",
                    str(p("camera_info_topic")),
                    p("camera_info_reliability"),
                ),
            ]
        queue, slop = int(p("sync_queue_size")), float(p("slop"))
        if message_filters is not None:
            self._subscribers = [
                message_filters.Subscriber(
                    node,
                    node.types.get(t),
                    topic,
                    qos_profile=qos_from(rel),
                    callback_group=node.heavy_group,
                )
                for t, topic, rel in inputs
            ]
            self.subscriptions = [s.sub for s in self._subscribers]
            if len(inputs) > 1:
                self.sync = message_filters.ApproximateTimeSynchronizer(
                    self._subscribers, queue, slop
                )
                self.sync.registerCallback(self._callback)
            else:
                self._subscribers[0].registerCallback(self._callback)
            return
        # No message_filters (pip-only route): plain subscriptions feed the same pairing.
        sync = (
            ApproximateSync(len(inputs), queue, slop, self._callback) if len(inputs) > 1 else None
        )
        self.subscriptions = [
            node.create_subscription(
                node.types.get(t),
                topic,
                self._callback if sync is None else partial(sync.add, i),
                qos_from(rel),
                callback_group=node.heavy_group,
            )
            for i, (t, topic, rel) in enumerate(inputs)
        ]

    def _callback(self, image: Any, depth: Any = None, info: Any = None) -> None:
        if not self.node.active:
            return
        try:
            frame = frame_from_messages(image, depth, info)
        except ValueError as exc:  # bad encoding, size mismatch...: log, keep running
            self.node.get_logger().error(f"dropping frame: {exc}")
            return
        if not self.limiter.accept(frame.stamp):
            return
        try:
            self.on_frame(frame)
        except Exception as exc:  # an exception here would end the executor: log, keep serving
            self.node.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}")

    def destroy(self) -> None:
        for sub in self.subscriptions:
            self.node.destroy_subscription(sub)
        self.subscriptions = []


def executor_threads(node: FrsNode) -> int:
    """A thread per query allowed to wait for the reasoner, one for the heavy group (frames),
    one for light callbacks: waiting service calls can then never hold every thread."""
    pending = (
        int(node.param("max_pending_queries")) if node.has_parameter("max_pending_queries") else 0
    )
    return pending + 2


def run(node_factory: Callable[[], FrsNode], args: list[str] | None = None) -> int:
    """Init rclpy, start the node (autostart), spin a MultiThreadedExecutor until Ctrl-C."""
    rclpy.init(args=args)
    node = node_factory()
    executor = MultiThreadedExecutor(num_threads=executor_threads(node))
    executor.add_node(node)
    try:
        if node.param("autostart"):
            node.trigger_configure()
            node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C, SIGTERM
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
