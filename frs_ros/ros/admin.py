"""What users do with ros2cli, for the pip-only route (ros2cli is not on PyPI): read and set
node parameters, read and change lifecycle states, list topics with their measured rates.

Each goes through the nodes' real services, as ``ros2 param`` / ``ros2 lifecycle`` do:
``rcl_interfaces`` GetParameters/SetParameters and ``lifecycle_msgs`` GetState/ChangeState.
Bad input (an unknown node, parameter or transition, a value of the wrong type) raises
ValueError with one line that says what is wrong; Ctrl-C raises KeyboardInterrupt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from frs_ros.ros.interfaces import RclpyTypes


@contextmanager
def cli_node(name: str) -> Iterator[Node]:
    """A short-lived node for a command; Ctrl-C is a plain KeyboardInterrupt (rclpy's own
    handler would shut the context down under a running call and raise RCLError)."""
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = rclpy.create_node(name)
        try:
            yield node
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()


def node_name(name: str) -> str:
    """``/frs/frs_pipeline`` from ``/frs/frs_pipeline`` or ``frs/frs_pipeline``."""
    name = name.strip()
    if not name.strip("/"):
        raise ValueError("a node name is needed, e.g. /frs/frs_pipeline")
    return "/" + name.strip("/")


def call(node: Node, service: str, type_name: str, request: Any, wait_s: float) -> Any:
    """Call ``service`` and wait up to ``wait_s`` for the service and for its answer."""
    client = node.create_client(RclpyTypes().get(type_name), service)
    try:
        if not client.wait_for_service(timeout_sec=wait_s):
            running = sorted(
                f"{ns.rstrip('/')}/{n}" for n, ns in node.get_node_names_and_namespaces()
            )
            raise ValueError(
                f"no service {service} within {wait_s:g} s: is the node running? "
                f"(nodes seen: {', '.join(running) or 'none'})"
            )
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=wait_s)
        if not future.done():
            raise TimeoutError(f"{service} gave no answer within {wait_s:g} s")
        return future.result()
    finally:
        node.destroy_client(client)


def get_parameter(node: Node, target: str, name: str, wait_s: float = 10.0) -> Any:
    """The value of parameter ``name`` of node ``target``."""
    target = node_name(target)
    srv = RclpyTypes().get("rcl_interfaces/srv/GetParameters")
    response = call(
        node,
        f"{target}/get_parameters",
        "rcl_interfaces/srv/GetParameters",
        srv.Request(names=[name]),
        wait_s,
    )
    value = response.values[0] if response.values else None
    if value is None or value.type == 0:  # PARAMETER_NOT_SET: not declared
        raise ValueError(f"{target} has no parameter {name!r}")
    return parameter_value_to_python(value)


def set_parameter(node: Node, target: str, name: str, text: str, wait_s: float = 10.0) -> Any:
    """Set parameter ``name`` of ``target`` from its text, typed as a YAML scalar (as
    ``ros2 param set`` types it; an integer given for a float parameter becomes a float).
    The value set; a refusal (wrong type, out of range) -> ValueError with the reason."""
    from frs_ros.deploy.graph import typed

    target = node_name(target)
    current = get_parameter(node, target, name, wait_s)
    value = typed(text)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(current, str) and not isinstance(value, str):
        value = text  # a string parameter takes the text as written ("0", "true")
    srv = RclpyTypes().get("rcl_interfaces/srv/SetParameters")
    request = srv.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    response = call(
        node, f"{target}/set_parameters", "rcl_interfaces/srv/SetParameters", request, wait_s
    )
    result = response.results[0]
    if not result.successful:
        raise ValueError(
            f"{target} refused {name}={text!r}: {result.reason or 'no reason given'} "
            f"(it is {type(current).__name__} {current!r})"
        )
    return value


def lifecycle_state(node: Node, target: str, wait_s: float = 10.0) -> str:
    """The lifecycle state of ``target`` (``unconfigured``, ``inactive``, ``active``, ...)."""
    target = node_name(target)
    srv = RclpyTypes().get("lifecycle_msgs/srv/GetState")
    response = call(
        node, f"{target}/get_state", "lifecycle_msgs/srv/GetState", srv.Request(), wait_s
    )
    return str(response.current_state.label)


TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


def change_state(node: Node, target: str, transition: str, wait_s: float = 60.0) -> str:
    """Trigger ``transition`` on ``target`` by label (as ``ros2 lifecycle set`` does); the
    state it is in afterwards. A refused or failed transition -> ValueError."""
    from lifecycle_msgs.msg import Transition

    if transition not in TRANSITIONS:
        raise ValueError(f"unknown transition {transition!r}; one of {', '.join(TRANSITIONS)}")
    target = node_name(target)
    before = lifecycle_state(node, target, wait_s)
    srv = RclpyTypes().get("lifecycle_msgs/srv/ChangeState")
    request = srv.Request(transition=Transition(label=transition))
    # configure loads the models: it may take minutes on a cold cache
    response = call(
        node, f"{target}/change_state", "lifecycle_msgs/srv/ChangeState", request, wait_s
    )
    after = lifecycle_state(node, target, wait_s)
    if not response.success:
        raise ValueError(
            f"{target}: {transition} from {before} failed; it is {after} (the node's log says why)"
        )
    return after


def discover(node: Node, timeout_s: float = 10.0, settle_s: float = 1.0) -> None:
    """Wait until other nodes are seen and the topic list has not changed for ``settle_s``
    (at most ``timeout_s``): a new DDS participant learns the graph over seconds on a busy
    machine (ros2cli keeps a daemon for this)."""
    end = time.monotonic() + timeout_s
    last: list[str] | None = None
    since = time.monotonic()
    while time.monotonic() < end:
        others = [n for n in node.get_node_names() if n != node.get_name()]
        topics = sorted(name for name, _ in node.get_topic_names_and_types())
        if topics != last:
            last, since = topics, time.monotonic()
        elif others and time.monotonic() - since >= settle_s:
            return
        time.sleep(0.1)


@dataclass
class TopicRate:
    name: str
    types: list[str]
    messages: int
    window_s: float

    @property
    def hz(self) -> float:
        return self.messages / self.window_s


def topic_rates(node: Node, namespace: str = "", window_s: float = 2.0) -> list[TopicRate]:
    """Every topic under ``namespace`` (all when empty) with the messages received in
    ``window_s`` seconds. Best-effort subscriptions match reliable and best-effort
    publishers alike; messages are counted undeserialised. Discovery goes on during the
    window (a busy machine learns a participant's endpoints over seconds): a topic first
    seen then is listed, its rate counted from when it was seen."""
    if not window_s > 0:
        raise ValueError(f"the measuring window must be > 0 s, got {window_s}")
    discover(node)
    prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
    types_of: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    lock = threading.Lock()
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
    provider = RclpyTypes()
    subs: list[Any] = []

    def subscribe_new() -> None:
        for name, types in node.get_topic_names_and_types():
            outside = prefix and name != prefix and not name.startswith(prefix + "/")
            if name in types_of or outside:
                continue
            types_of[name] = list(types)
            with lock:
                counts[name] = 0
            try:
                msg_type = provider.get(types[0])
            except (ImportError, AttributeError, ValueError):  # a type this venv does not have
                continue

            def count(_: Any, topic: str = name) -> None:
                with lock:
                    counts[topic] += 1

            subs.append(node.create_subscription(msg_type, name, count, qos, raw=True))

    def spin_until(end: float) -> None:
        next_look = time.monotonic()
        while time.monotonic() < end:
            if time.monotonic() >= next_look:
                subscribe_new()
                next_look = time.monotonic() + 0.5
            executor.spin_once(timeout_sec=max(0.0, min(0.1, end - time.monotonic())))

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        subscribe_new()

        # the window opens once every subscription has matched its publishers (or after 5 s)
        def matched(sub: Any) -> bool:
            return sub.get_publisher_count() >= node.count_publishers(sub.topic_name)

        end = time.monotonic() + 5.0
        while time.monotonic() < end and not all(matched(sub) for sub in subs):
            spin_until(min(end, time.monotonic() + 0.1))
        with lock:
            for topic in counts:
                counts[topic] = 0
        spin_until(time.monotonic() + window_s)
    finally:
        executor.remove_node(node)
        for sub in subs:
            node.destroy_subscription(sub)
    return [TopicRate(name, types_of[name], counts[name], window_s) for name in sorted(types_of)]
