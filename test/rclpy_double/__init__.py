"""A test double of exactly the rclpy / rclpy.lifecycle / message_filters API the frs_ros
nodes use, with ROS 2 Jazzy's signatures (keyword-only arguments where rclpy has them), so
a wrong argument raises TypeError here as it would on a robot.

Messages are rosbags-generated classes (Jazzy standard types + this repo's msg/srv),
exposed as the rosidl modules (``sensor_msgs.msg``, ``frs_ros.srv``...) with rclpy's
construction semantics (unset fields at defaults). Topics are delivered synchronously in
the publisher's thread, so tests are deterministic; ``Graph`` records every publication.
"""

from __future__ import annotations

import enum
import sys
import threading
import types as pytypes
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from frs_ros.ros.interfaces import RosbagsTypes


class Graph:
    """The ROS graph of one test: topics -> subscriptions, services, recorded messages."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, list[Any]] = defaultdict(list)
        self.services: dict[str, Any] = {}
        self.published: dict[str, list[Any]] = defaultdict(list)
        self.lock = threading.Lock()

    def publish(self, topic: str, msg: Any) -> None:
        with self.lock:
            self.published[topic].append(msg)
            subs = list(self.subscriptions[topic])
        for sub in subs:
            if sub.msg_type.__msgtype__ != msg.__msgtype__:
                raise TypeError(
                    f"{topic}: {msg.__msgtype__} published, {sub.msg_type.__msgtype__} subscribed"
                )
            sub.callback(msg)

    def call(self, name: str, request: Any) -> Any:
        service = self.services[name]
        return service.callback(request, service.srv_type.Response())


GRAPH = Graph()


# ------------------------------------------------------------------------------ messages


class _MessageClass:
    """Callable like an rclpy message class; instances are rosbags dataclasses."""

    def __init__(self, store: RosbagsTypes, name: str) -> None:
        self._store, self._name = store, name
        self.__msgtype__ = store.get(name).__msgtype__

    def __call__(self, **fields: Any) -> Any:
        return self._store.new(self._name, **fields)


def _message_modules(store: RosbagsTypes) -> dict[str, pytypes.ModuleType]:
    modules: dict[str, pytypes.ModuleType] = {}
    for typename in store.store.types:
        parts = typename.split("/")
        if len(parts) != 3 or parts[1] != "msg":
            continue
        module = modules.setdefault(f"{parts[0]}.msg", pytypes.ModuleType(f"{parts[0]}.msg"))
        setattr(module, parts[2], _MessageClass(store, typename))
    srv = modules.setdefault("frs_ros.srv", pytypes.ModuleType("frs_ros.srv"))
    srv.ReasonSegment = pytypes.SimpleNamespace(
        Request=_MessageClass(store, "frs_ros/srv/ReasonSegment_Request"),
        Response=_MessageClass(store, "frs_ros/srv/ReasonSegment_Response"),
    )
    return modules


# ------------------------------------------------------------------------------ rclpy


def init(*, args=None, context=None, domain_id=None, signal_handler_options=None) -> None:
    pass


def shutdown(*, context=None, uncaught_exception=None) -> None:
    pass


def try_shutdown(*, context=None, uncaught_exception=None) -> None:
    pass


class ReliabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class HistoryPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


@dataclass(frozen=True)
class QoSProfile:
    depth: int = 10
    reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE
    history: HistoryPolicy = HistoryPolicy.KEEP_LAST

    def __init__(self, **kwargs: Any) -> None:  # rclpy's QoSProfile takes keywords only
        allowed = {
            "depth",
            "reliability",
            "history",
            "durability",
            "lifespan",
            "deadline",
            "liveliness",
            "liveliness_lease_duration",
            "avoid_ros_namespace_conventions",
        }
        if set(kwargs) - allowed:
            raise TypeError(f"QoSProfile got unexpected {sorted(set(kwargs) - allowed)}")
        if "history" not in kwargs and "depth" not in kwargs:
            raise TypeError("QoSProfile needs history or depth")
        for name in ("depth", "reliability", "history"):
            if name in kwargs:
                object.__setattr__(self, name, kwargs[name])


qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
qos_profile_services_default = QoSProfile(depth=10)


class MutuallyExclusiveCallbackGroup:
    pass


class ReentrantCallbackGroup:
    pass


class MultiThreadedExecutor:
    def __init__(self, num_threads: int | None = None, *, context=None) -> None:
        self.nodes: list[Any] = []

    def add_node(self, node: Any) -> bool:
        self.nodes.append(node)
        return True

    def spin(self) -> None:
        pass

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        return True


@dataclass
class Parameter:
    name: str
    value: Any


class Logger:
    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[tuple[str, str]] = []

    def _log(self, level: str, message: str) -> bool:
        self.records.append((level, message))
        return True

    def debug(self, message, **kwargs):
        return self._log("debug", message)

    def info(self, message, **kwargs):
        return self._log("info", message)

    def warning(self, message, **kwargs):
        return self._log("warning", message)

    def error(self, message, **kwargs):
        return self._log("error", message)

    def fatal(self, message, **kwargs):
        return self._log("fatal", message)


@dataclass
class _Endpoint:
    topic: str
    msg_type: Any
    callback: Any = None
    qos_profile: Any = None
    callback_group: Any = None


class Publisher(_Endpoint):
    def publish(self, msg: Any) -> None:
        if getattr(msg, "__msgtype__", None) != self.msg_type.__msgtype__:
            raise TypeError(
                f"{self.topic} carries {self.msg_type.__msgtype__}, got {type(msg).__name__}"
            )
        GRAPH.publish(self.topic, msg)


class Subscription(_Endpoint):
    pass


@dataclass
class Service:
    name: str
    srv_type: Any
    callback: Any
    callback_group: Any = None


def _check_qos(qos_profile: Any) -> None:
    if not isinstance(qos_profile, QoSProfile | int):
        raise TypeError(f"qos_profile must be a QoSProfile or a depth, got {qos_profile!r}")


class Node:
    def __init__(
        self,
        node_name: str,
        *,
        context=None,
        cli_args=None,
        namespace: str | None = None,
        use_global_arguments: bool = True,
        enable_rosout: bool = True,
        start_parameter_services: bool = True,
        parameter_overrides: list[Parameter] | None = None,
        allow_undeclared_parameters: bool = False,
        automatically_declare_parameters_from_overrides: bool = False,
        enable_logger_service: bool = False,
    ) -> None:
        self._name = node_name
        self._namespace = "/" + (namespace or "").strip("/")
        self._overrides = {p.name: p.value for p in parameter_overrides or []}
        self._parameters: dict[str, Parameter] = {}
        self._logger = Logger(node_name)
        self.publishers: list[Publisher] = []
        self.subscriptions: list[Subscription] = []
        self.services: list[Service] = []

    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_logger(self) -> Logger:
        return self._logger

    def resolve_topic_name(self, topic: str, *, only_expand: bool = False) -> str:
        if topic.startswith("/"):
            return topic
        return (
            (self._namespace.rstrip("/") + "/" + topic) if self._namespace != "/" else "/" + topic
        )

    def declare_parameter(
        self, name: str, value: Any = None, descriptor=None, ignore_override: bool = False
    ) -> Parameter:
        if name in self._parameters:
            raise RuntimeError(
                f"parameter {name!r} declared twice"
            )  # ParameterAlreadyDeclaredException
        if isinstance(value, list) and not value:
            raise TypeError(f"parameter {name!r}: the type of an empty list cannot be inferred")
        if name in self._overrides and not ignore_override:
            value = self._overrides[name]
        self._parameters[name] = Parameter(name, value)
        return self._parameters[name]

    def get_parameter(self, name: str) -> Parameter:
        if name not in self._parameters:
            raise KeyError(f"parameter {name!r} is not declared")  # ParameterNotDeclaredException
        return self._parameters[name]

    def create_publisher(
        self,
        msg_type,
        topic,
        qos_profile,
        *,
        callback_group=None,
        event_callbacks=None,
        qos_overriding_options=None,
        publisher_class=None,
    ) -> Publisher:
        _check_qos(qos_profile)
        pub = Publisher(self.resolve_topic_name(topic), msg_type, None, qos_profile, callback_group)
        self.publishers.append(pub)
        return pub

    def create_subscription(
        self,
        msg_type,
        topic,
        callback,
        qos_profile,
        *,
        callback_group=None,
        event_callbacks=None,
        qos_overriding_options=None,
        raw=False,
    ) -> Subscription:
        _check_qos(qos_profile)
        if not callable(callback):
            raise TypeError("callback must be callable")
        sub = Subscription(
            self.resolve_topic_name(topic), msg_type, callback, qos_profile, callback_group
        )
        self.subscriptions.append(sub)
        with GRAPH.lock:
            GRAPH.subscriptions[sub.topic].append(sub)
        return sub

    def create_service(
        self,
        srv_type,
        srv_name,
        callback,
        *,
        qos_profile=qos_profile_services_default,
        callback_group=None,
    ) -> Service:
        service = Service(self.resolve_topic_name(srv_name), srv_type, callback, callback_group)
        if service.name in GRAPH.services:
            raise RuntimeError(f"service {service.name} already exists")
        GRAPH.services[service.name] = service
        self.services.append(service)
        return service

    def destroy_publisher(self, publisher: Publisher) -> bool:
        self.publishers.remove(publisher)
        return True

    def destroy_subscription(self, subscription: Subscription) -> bool:
        self.subscriptions.remove(subscription)
        with GRAPH.lock:
            GRAPH.subscriptions[subscription.topic].remove(subscription)
        return True

    def destroy_service(self, service: Service) -> bool:
        self.services.remove(service)
        del GRAPH.services[service.name]
        return True

    def destroy_node(self) -> None:
        for sub in list(self.subscriptions):
            self.destroy_subscription(sub)
        for service in list(self.services):
            self.destroy_service(service)


# ------------------------------------------------------------------------------ lifecycle


class TransitionCallbackReturn(enum.IntEnum):
    SUCCESS = 97
    FAILURE = 98
    ERROR = 99


@dataclass(frozen=True)
class LifecycleState:
    label: str
    state_id: int


_STATES = {"unconfigured": 1, "inactive": 2, "active": 3, "finalized": 4}
_TRANSITIONS = {  # name: (from, to, callback)
    "configure": ("unconfigured", "inactive", "on_configure"),
    "activate": ("inactive", "active", "on_activate"),
    "deactivate": ("active", "inactive", "on_deactivate"),
    "cleanup": ("inactive", "unconfigured", "on_cleanup"),
}


class LifecycleNode(Node):
    def __init__(
        self, node_name: str, *, enable_communication_interface: bool = True, **kwargs: Any
    ):
        super().__init__(node_name, **kwargs)
        self.lifecycle_state = "unconfigured"

    def _transition(self, name: str) -> TransitionCallbackReturn:
        start, end, callback = _TRANSITIONS[name]
        if self.lifecycle_state != start:
            raise RuntimeError(f"cannot {name} from {self.lifecycle_state}")
        result = getattr(self, callback)(LifecycleState(start, _STATES[start]))
        if result == TransitionCallbackReturn.SUCCESS:
            self.lifecycle_state = end
        return result

    def trigger_configure(self):
        return self._transition("configure")

    def trigger_activate(self):
        return self._transition("activate")

    def trigger_deactivate(self):
        return self._transition("deactivate")

    def trigger_cleanup(self):
        return self._transition("cleanup")

    def on_configure(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state):
        return TransitionCallbackReturn.SUCCESS


# ------------------------------------------------------------------------------ message_filters


class SimpleFilter:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def registerCallback(self, cb, *args) -> int:
        self.callbacks.append((cb, args))
        return len(self.callbacks) - 1

    def signalMessage(self, *msg) -> None:
        for cb, args in self.callbacks:
            cb(*(msg + args))


class Subscriber(SimpleFilter):
    """message_filters.Subscriber(node, msg_type, topic, **kwargs): kwargs go to
    create_subscription (qos_profile defaults to 10, as in Jazzy)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.node, self.topic = args[0], args[2]
        kwargs.setdefault("qos_profile", 10)
        self.sub = self.node.create_subscription(*args[1:], self.callback, **kwargs)

    def callback(self, msg: Any) -> None:
        self.signalMessage(msg)


def _stamp(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class ApproximateTimeSynchronizer(SimpleFilter):
    """Emits one message per input whose stamps lie within ``slop`` of each other."""

    def __init__(self, fs, queue_size, slop, allow_headerless=False) -> None:
        super().__init__()
        self.queue_size, self.slop = int(queue_size), float(slop)
        self.queues: list[list[Any]] = [[] for _ in fs]
        self.lock = threading.Lock()
        for i, f in enumerate(fs):
            f.registerCallback(self.add, i)

    def add(self, msg: Any, index: int) -> None:
        with self.lock:
            queue = self.queues[index]
            queue.append(msg)
            del queue[: -self.queue_size]
            t = _stamp(msg)
            match = []
            for q in self.queues:
                best = min(q, key=lambda m: abs(_stamp(m) - t), default=None)
                if best is None or abs(_stamp(best) - t) > self.slop:
                    return
                match.append(best)
            for q, m in zip(self.queues, match, strict=True):
                del q[: q.index(m) + 1]
        self.signalMessage(*match)


# ------------------------------------------------------------------------------ install


def install(monkeypatch: Any) -> Graph:
    """Put the double into ``sys.modules`` (undone by ``monkeypatch``); a fresh graph."""
    global GRAPH
    GRAPH = Graph()
    this = sys.modules[__name__]
    modules = {
        "rclpy": dict(init=init, shutdown=shutdown, try_shutdown=try_shutdown, Parameter=Parameter),
        "rclpy.node": dict(Node=Node),
        "rclpy.lifecycle": dict(
            LifecycleNode=LifecycleNode,
            LifecycleState=LifecycleState,
            TransitionCallbackReturn=TransitionCallbackReturn,
        ),
        "rclpy.qos": dict(
            QoSProfile=QoSProfile,
            ReliabilityPolicy=ReliabilityPolicy,
            HistoryPolicy=HistoryPolicy,
            qos_profile_sensor_data=qos_profile_sensor_data,
            qos_profile_services_default=qos_profile_services_default,
        ),
        "rclpy.callback_groups": dict(
            MutuallyExclusiveCallbackGroup=MutuallyExclusiveCallbackGroup,
            ReentrantCallbackGroup=ReentrantCallbackGroup,
        ),
        "rclpy.executors": dict(MultiThreadedExecutor=MultiThreadedExecutor),
        "message_filters": dict(
            Subscriber=Subscriber,
            ApproximateTimeSynchronizer=ApproximateTimeSynchronizer,
            SimpleFilter=SimpleFilter,
        ),
    }
    for name, attrs in modules.items():
        module = pytypes.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    for name, module in _message_modules(RosbagsTypes()).items():
        monkeypatch.setitem(sys.modules, name, module)
        package = name.split(".")[0]
        if package not in sys.modules:
            monkeypatch.setitem(sys.modules, package, pytypes.ModuleType(package))
    # node modules imported under a previous double must see this one
    for name in [m for m in sys.modules if m.startswith("frs_ros.ros.") and m.endswith("_node")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "frs_ros.ros.node_base", raising=False)
    return this.GRAPH
