"""Shared rclpy plumbing: lifecycle base node with lifecycle output publishers, which
destroys what configure created on cleanup or a failed configure; QoS from parameters,
synchronised frame input (image [+ depth + CameraInfo]), the perception half that the
perception and single-process nodes share (its parameters, its segmenter, frames in and
twins out), and the executable's main. The reasoner's and the drawer's endpoints, which
nodes share too, are in ``endpoints``.

Heavy work runs in its own mutually exclusive callback group while services and light
subscriptions use a reentrant group, all under a MultiThreadedExecutor whose pool has a
thread for every query allowed to wait (``max_pending_queries``) plus the groups' own, so
queries waiting for the reasoner never starve perception (docs/ros.md, "Threads").
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from frs_ros.io.frames import Frame
from frs_ros.io.messages import MessageTypes
from frs_ros.paths import config_file
from frs_ros.reasoning import ReasonerConfig
from frs_ros.ros import conversions as conv
from frs_ros.ros.interfaces import RclpyTypes
from frs_ros.ros.jobs import RateLimiter, frame_from_messages, split_labels
from frs_ros.ros.sync import ApproximateSync
from frs_ros.segmenter import ReasoningSegmenter, load_perception
from frs_ros.twin import Twin

if TYPE_CHECKING:
    from frs_ros.perception import PerceptionPipeline

try:  # part of every ROS 2 install, but not on PyPI: the pip-only route has none
    import message_filters
except ImportError:
    message_filters = None

RCLError = rclpy_implementation.RCLError
RELIABILITIES = ("sensor_data", "reliable", "best_effort")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def guarded(node: Any, what: str, fallback: Callable[..., Any] | None = None) -> Callable[[F], F]:
    """Decorate a subscription, service or timer callback of ``node``: an exception it raises
    is logged (``dropping <what>: ...``) and the message dropped, instead of leaving the
    executor, which would stop every callback of the node (services included). A service
    callback passes ``fallback``, which builds the response from the same arguments."""

    def wrap(callback: F) -> F:
        @functools.wraps(callback)
        def safe(*args: Any) -> Any:
            try:
                return callback(*args)
            except Exception as exc:
                node.get_logger().error(f"dropping {what}: {type(exc).__name__}: {exc}")
                return fallback(*args) if fallback is not None else None

        return safe  # type: ignore[return-value]

    return wrap


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


class Configured(Generic[T]):
    """A lifecycle node's attribute that exists only while the node is configured: what
    ``configure()`` creates (models, publishers, subscriptions), forgotten by
    ``FrsNode.release`` (on cleanup or a failed configure). Reading it meanwhile raises a
    RuntimeError naming the node and the attribute instead of an AttributeError on None;
    ``FrsNode.holds`` asks first."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self._slot = f"_configured_{name}"

    @overload
    def __get__(self, node: None, owner: type) -> Configured[T]: ...
    @overload
    def __get__(self, node: FrsNode, owner: type) -> T: ...
    def __get__(self, node: FrsNode | None, owner: type) -> Configured[T] | T:
        if node is None:
            return self
        value: T | None = node.__dict__.get(self._slot)
        if value is None:
            raise RuntimeError(
                f"{node.get_name()}: {self.name} exists only while the node is configured "
                "(configure it first)"
            )
        return value

    def __set__(self, node: FrsNode, value: T | None) -> None:
        node.__dict__[self._slot] = value

    def held(self, node: FrsNode) -> bool:
        return node.__dict__.get(self._slot) is not None


class FrsNode(LifecycleNode):
    """Lifecycle node with declared parameters (``PARAMS``) and the message-class provider.

    ``autostart`` (default true) configures and activates at start, so ``ros2 run`` works
    without a lifecycle manager; set it false to drive the transitions yourself. Subclasses
    implement ``configure()``, which creates the node's publishers, subscriptions, services
    and timers (its helpers' too) and keeps what it needs in ``Configured`` attributes. The
    node owns what configure created: *cleanup*, and a configure that raises (the reason is
    logged) or returns FAILURE partway, destroy all of it and forget every ``Configured``
    attribute (:meth:`release`), so a failed configure leaves the node unconfigured with
    nothing left over, ready for another try. Outputs are published through
    :meth:`output_publisher` (lifecycle publishers: silent while inactive), inputs are
    dropped while :attr:`active` is false.
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
        self._owned: dict[int, Any] = {}  # what the last configure created, by id

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def holds(self, name: str) -> bool:
        """Whether the ``Configured`` attribute ``name`` exists now (the node is configured)."""
        attribute = getattr(type(self), name, None)
        if not isinstance(attribute, Configured):
            raise AttributeError(f"{type(self).__name__}.{name} is not a Configured attribute")
        return attribute.held(self)

    def output_publisher(self, msg_type: str, topic: str, qos: QoSProfile | None = None) -> Any:
        """A publisher of one of the node's outputs (``qos``: reliable, keep last 5 when
        None): a lifecycle publisher, enabled on *activate* and disabled on *deactivate*;
        what is published while it is disabled is dropped without an error, so a callback
        still running across a deactivation publishes nothing and raises nothing. Created
        in ``configure()``, it is destroyed on cleanup (:meth:`release`)."""
        return self.create_lifecycle_publisher(
            self.types.get(msg_type), topic, qos if qos is not None else qos_from("reliable")
        )

    def configure(self) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    def _entities(self) -> list[tuple[Callable[[Any], Any], Any]]:
        """Every publisher, subscription, service, client, timer and guard condition of the
        node with the method that destroys it: inputs first, outputs last."""
        kinds: list[tuple[Callable[[Any], Any], Iterable[Any]]] = [
            (self.destroy_timer, self.timers),
            (self.destroy_subscription, self.subscriptions),
            (self.destroy_service, self.services),
            (self.destroy_client, self.clients),
            (self.destroy_guard_condition, self.guards),
            # a lifecycle publisher must leave the managed entities too; a plain one is
            # destroyed the same way
            (self.destroy_lifecycle_publisher, self.publishers),
        ]
        return [(destroy, entity) for destroy, entities in kinds for entity in list(entities)]

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        before = {id(entity) for _, entity in self._entities()}  # all alive: ids are unique
        try:
            result = self.configure()
        except Exception as exc:  # rclpy would swallow it unlogged
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            result = TransitionCallbackReturn.FAILURE
        self._owned = {id(e): e for _, e in self._entities() if id(e) not in before}
        if result != TransitionCallbackReturn.SUCCESS:
            if self._owned:
                self.get_logger().warning(
                    f"configure failed partway: destroyed the {len(self._owned)} entities "
                    "(publishers, subscriptions, services, timers) it had created"
                )
            self.release()  # nothing of the failed try is left: configure can run again
        return result

    def release(self) -> None:
        """Destroy every entity the last configure created, inputs before outputs, and
        forget every ``Configured`` attribute (which frees the models they hold)."""
        for destroy, entity in self._entities():
            if id(entity) in self._owned:
                destroy(entity)
        self._owned = {}
        for cls in type(self).__mro__:
            for attribute in vars(cls).values():
                if isinstance(attribute, Configured):
                    attribute.__set__(self, None)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.release()  # a shut-down node holds no endpoints or models until its process ends
        return super().on_shutdown(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # first: the output publishers publish
        self.active = result == TransitionCallbackReturn.SUCCESS  # then: inputs are taken
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False  # first: inputs arriving now are dropped
        return super().on_deactivate(state)  # then: the output publishers fall silent


class Liveness:
    """How long since an input (twins, frames) last arrived; a warning is logged once per
    stall when it is silent for more than ``stale_s`` seconds (0 turns the warning off)
    while the node is active, and an info line when it comes back. Wall clock, not message
    stamps: a replayed bag's stamps may be old while its messages arrive on time."""

    def __init__(self, node: FrsNode, what: str, stale_s: float) -> None:
        if not stale_s >= 0:
            raise ValueError(f"the staleness limit for {what} must be >= 0 s, got {stale_s}")
        self.node, self.what, self.stale_s = node, what, float(stale_s)
        self.last: float | None = None
        self._warned = False
        period = min(max(self.stale_s / 4, 0.1), 1.0)
        self.timer = (
            node.create_timer(
                period, guarded(node, f"{what} liveness check")(self.check), node.light_group
            )
            if self.stale_s > 0
            else None
        )

    def beat(self) -> None:
        self.last = time.monotonic()
        if self._warned:
            self._warned = False
            self.node.get_logger().info(f"{self.what} arriving again")

    def age(self) -> float | None:
        """Seconds since the last arrival; None before the first."""
        return None if self.last is None else time.monotonic() - self.last

    def too_old(self, age: float) -> bool:
        """Whether an input ``age`` seconds old is past the staleness limit."""
        return self.stale_s > 0 and age > self.stale_s

    def stale(self) -> bool:
        age = self.age()
        return age is not None and self.too_old(age)

    def check(self) -> None:
        if self.node.active and not self._warned and self.stale():
            self._warned = True
            self.node.get_logger().warning(
                f"no {self.what} for {self.age():.1f} s (more than {self.stale_s:g} s): "
                "is the node that publishes them running?"
            )


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
        "frame_stale_s": 10.0,  # warn when no frame arrives for this long (0: never)
    }

    def __init__(self, node: FrsNode, on_frame: Callable[[Frame], None]) -> None:
        self.node = node
        self.on_frame = on_frame
        p = node.param
        self.limiter = RateLimiter(float(p("max_rate_hz")))
        self.liveness = Liveness(node, "frames", float(p("frame_stale_s")))
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
        callback = guarded(node, "frame")(self._callback)
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
                self.sync.registerCallback(callback)
            else:
                self._subscribers[0].registerCallback(callback)
            return
        # No message_filters (pip-only route): plain subscriptions feed the same pairing.
        sync = ApproximateSync(len(inputs), queue, slop, callback) if len(inputs) > 1 else None
        self.subscriptions = [
            node.create_subscription(
                node.types.get(t),
                topic,
                callback if sync is None else guarded(node, "frame")(partial(sync.add, i)),
                qos_from(rel),
                callback_group=node.heavy_group,
            )
            for i, (t, topic, rel) in enumerate(inputs)
        ]

    def _callback(self, image: Any, depth: Any = None, info: Any = None) -> None:
        """Guarded (``guarded``): a bad encoding, a size mismatch or a failing model is
        logged as ``dropping frame: ...`` and the node keeps serving."""
        if not self.node.active:
            return
        self.liveness.beat()
        frame = frame_from_messages(image, depth, info)
        if self.limiter.accept(frame.stamp):
            self.on_frame(frame)


PERCEPTION_PARAMS: dict[str, Any] = {
    "profile": "default",  # model profile: default | tiny | a YAML path (config/models/)
    "device": "",  # overrides the profile's device when set (cpu, cuda, cuda:0)
    "perception_config": "",  # empty: the one the profile names (perception_cpu.yaml for cpu)
    "window": 8,  # frames in the published twin
    "extra_labels": "",  # comma-separated labels added to the detector vocabulary
}


def node_pipeline(node: FrsNode) -> PerceptionPipeline:
    """The perception pipeline of a node's ``profile``, ``perception_config`` (empty: the
    profile's own; a path or a name under config/) and ``device`` (empty: the profile's)
    parameters, loaded as :meth:`ReasoningSegmenter.from_config` loads it."""
    perception = str(node.param("perception_config"))
    return load_perception(
        str(node.param("profile")),
        config_file(perception) if perception else None,
        device=str(node.param("device")) or None,
    )


def perception_segmenter(
    node: FrsNode,
    pipeline: PerceptionPipeline,
    runtime: Any = None,
    config: ReasonerConfig | None = None,
) -> ReasoningSegmenter:
    """The segmenter around ``pipeline`` with the node's ``window`` and ``extra_labels``
    parameters; ``runtime`` and ``config`` add the reasoner (the single-process node).
    Frames then go through :func:`perceive_and_publish`."""
    return ReasoningSegmenter(
        pipeline,
        runtime,
        config,
        window=int(node.param("window")),
        extra_labels=split_labels(str(node.param("extra_labels"))),
    )


def follow_extra_labels(node: Any) -> None:
    """``extra_labels`` may change while the node runs (a SetParameters call, e.g. ``ros2
    param set /frs/frs_perception extra_labels "kettle,red mug"`` before a query that needs
    them): the next frame is then a keyframe that looks for the new labels. ``node`` holds
    its segmenter as the ``Configured`` attribute ``segmenter``."""

    def changed(params: list[Any]) -> None:
        for param in params:
            if param.name == "extra_labels" and node.holds("segmenter"):
                node.segmenter.extra_labels = split_labels(str(param.value))
                node.get_logger().info(f"extra_labels now {node.segmenter.extra_labels}")

    node.add_post_set_parameters_callback(changed)


def perceive_and_publish(
    node: FrsNode, seg: ReasoningSegmenter, twin_pub: Any, frame: Frame
) -> Twin | None:
    """Run perception on a frame (:meth:`ReasoningSegmenter.observe`) and publish the window
    on ``twin_pub``; a rejected frame is logged and gives None, so the node keeps serving."""
    try:
        twin = seg.observe(frame)
    except ValueError as exc:
        node.get_logger().error(f"perception rejected frame: {exc}")
        return None
    if twin is not None:
        twin_pub.publish(conv.twin_to_msg(node.types, twin))
    return twin


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
        # a failed configure leaves the node unconfigured (the reason is logged): activating
        # it then would raise, so it waits for a corrected configure instead
        if node.param("autostart") and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            node.trigger_activate()
        elif node.param("autostart"):
            node.get_logger().warning(
                "not configured; fix the parameters and configure again "
                f"(frs ros lifecycle set {node.get_fully_qualified_name()} configure)"
            )
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C, SIGTERM
        pass
    except RCLError:
        if rclpy.ok():
            raise
        # Ctrl-C during a transition (models loading): rclpy's signal handler shut the
        # context down under it, and the transition could not be published; a clean stop
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
