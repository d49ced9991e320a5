"""Harness of the live ROS 2 tests: real rclpy, real Fast DDS, the graph started as OS
processes by ``frs ros up`` (the graph the launch file starts), a client node in the test
process that publishes camera frames and reads every output.

Every wait is for a condition with a generous limit (the limit only turns a hang into a
failure), so the tests do not depend on the machine's speed. Each graph gets its own
ROS_DOMAIN_ID, with discovery kept on this host.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parents[1]
H, W = 96, 128
K = [110.0, 0.0, 64.0, 0.0, 110.0, 48.0, 0.0, 0.0, 1.0]
# the graph's outputs, recorded by the tests
OUTPUTS = {
    "twin": "frs_ros/msg/Twin",
    "overlay": "sensor_msgs/msg/Image",
    "markers": "visualization_msgs/msg/MarkerArray",
    "result": "frs_ros/msg/ReasonResult",
}
WAIT_S = 120.0  # a hang becomes a failure after this; normal waits end far sooner


def require_live_ros() -> None:
    """Skip where rclpy or the built interfaces are missing, unless FRS_REQUIRE_ROS=1 (CI),
    where their absence is a failure."""
    try:
        import frs_ros.msg  # noqa: F401
        import rclpy  # noqa: F401
    except ImportError as exc:
        reason = f"live ROS 2 not available ({exc}); run: pip install -e '.[ros]' && frs ros build"
        if os.environ.get("FRS_REQUIRE_ROS") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def resend_until(
    publish: Callable[[], Any], condition: Callable[[], Any], what: str, resend_s: float = 15.0
) -> Any:
    """Publish, and again every ``resend_s`` while ``condition`` is not met: the image input
    is best effort (``sensor_data``), so a loaded machine may drop a frame, as it would drop
    a camera's. Fails after WAIT_S."""
    end = time.monotonic() + WAIT_S
    while True:
        publish()
        try:
            return wait_until(condition, what, resend_s)
        except AssertionError:
            if time.monotonic() > end:
                raise


def scene(t: int = 0) -> np.ndarray:
    """A small RGB scene: two coloured blocks on a grey table (moves with ``t``)."""
    rgb = np.full((H, W, 3), 90, np.uint8)
    rgb[20:50, 10 + t : 40 + t] = (200, 30, 30)
    rgb[50:85, 70:110] = (30, 40, 210)
    return rgb


class Process:
    """A process with its output in a file (a pipe left unread could block it)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: nothing outlives a failed test
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def interrupt(self) -> int:
        """SIGINT, as Ctrl-C; killed (and failed) if still running after WAIT_S."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def live_env(domain: int) -> dict[str, str]:
    """The environment of a process in its own DDS domain, discovering on this host only."""
    return {
        **os.environ,
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONUNBUFFERED": "1",
    }


class LiveGraph(Process):
    """``frs ros up`` with the given launch arguments, in its own DDS domain."""

    def __init__(self, domain: int, arguments: dict[str, str], tmp: Path) -> None:
        self.domain = domain
        self.env = live_env(domain)
        args = [f"{k}:={v}" for k, v in arguments.items()]
        command = [sys.executable, "-m", "frs_ros.cli", "ros", "up", *args]
        super().__init__(command, self.env, tmp / f"graph_{domain}.log")

    def log(self) -> str:
        return self.output()

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGINT, as Ctrl-C; a graph still running after WAIT_S is killed, nodes included."""
        return self.interrupt()


class Client:
    """A node in the test process: publishers for the camera, recorders for the outputs."""

    def __init__(self, domain: int, namespace: str = "/frs") -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from frs_ros.ros.interfaces import RclpyTypes

        self.ns = namespace
        self.types = RclpyTypes()
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("frs_live_test", context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self.reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self._lock = threading.Lock()
        self.received: dict[str, list[Any]] = {}
        self._pubs: dict[str, Any] = {}

    # ---------------------------------------------------------------- outputs
    def record(self, topic: str, type_name: str) -> None:
        self.received.setdefault(topic, [])

        def on_message(msg: Any) -> None:
            with self._lock:
                self.received[topic].append(msg)

        self.node.create_subscription(
            self.types.get(type_name), f"{self.ns}/{topic}", on_message, self.reliable
        )

    def warm_up(self, publish: Callable[[int], Any], topics: tuple[str, ...]) -> None:
        """Publish frames (``publish(i)``) until each of ``topics`` has delivered a message:
        from then on every pipe between the graph and this client is matched."""
        count = 0

        def delivered() -> bool:
            nonlocal count
            if all(self.messages(t) for t in topics):
                return True
            publish(count)
            count += 1
            time.sleep(0.2)
            return False

        wait_until(delivered, f"first messages on {topics}")

    def publish_until(
        self,
        publish: Callable[[], Any],
        topic: str,
        predicate: Callable[[Any], bool],
    ) -> Any:
        """Publish until a message on ``topic`` (after this call) satisfies ``predicate``."""
        before = len(self.messages(topic))
        return resend_until(
            publish,
            lambda: next((m for m in self.messages(topic)[before:] if predicate(m)), None),
            f"a matching message on {self.ns}/{topic}",
        )

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return list(self.received[topic])

    def wait_for(
        self, topic: str, predicate: Callable[[Any], bool] = lambda m: True, after: int = 0
    ) -> Any:
        """The first message on ``topic`` (from index ``after`` on) that satisfies it."""

        def found() -> Any:
            return next((m for m in self.messages(topic)[after:] if predicate(m)), None)

        return wait_until(found, f"a matching message on {self.ns}/{topic}")

    # ---------------------------------------------------------------- inputs
    def publisher(self, topic: str, type_name: str) -> Any:
        key = f"{topic}|{type_name}"
        if key not in self._pubs:
            pub = self.node.create_publisher(
                self.types.get(type_name), f"{self.ns}/{topic}", self.reliable
            )
            # a volatile message published before DDS matched the subscriber is lost
            wait_until(lambda: pub.get_subscription_count() > 0, f"a subscriber of {topic}")
            self._pubs[key] = pub
        return self._pubs[key]

    def header(self, sec: int, nanosec: int, frame_id: str = "camera_optical") -> Any:
        stamp = self.types.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
        return self.types.new("std_msgs/msg/Header", stamp=stamp, frame_id=frame_id)

    def image_msg(self, array: np.ndarray, encoding: str, header: Any) -> Any:
        from frs_ros.io.messages import image_message

        return image_message(self.types, array, encoding, header)

    def publish_rgbd(
        self,
        rgb: np.ndarray,
        sec: int,
        nanosec: int,
        *,
        encoding: str = "rgb8",
        depth: np.ndarray | None = None,
        depth_encoding: str = "32FC1",
        image: Any = None,
    ) -> Any:
        """Colour (converted to ``encoding``) + depth + CameraInfo with one header."""
        hdr = self.header(sec, nanosec)
        if image is None:
            image = self.image_msg(to_encoding(rgb, encoding), encoding, hdr)
        if depth is None:
            depth = np.full(rgb.shape[:2], 1.5, np.float32)
            if depth_encoding == "16UC1":
                depth = (depth * 1000).astype(np.uint16)
        info = self.types.new(
            "sensor_msgs/msg/CameraInfo",
            header=hdr,
            height=rgb.shape[0],
            width=rgb.shape[1],
            k=np.array(K, np.float64),
        )
        self.publisher("depth", "sensor_msgs/msg/Image").publish(
            self.image_msg(depth, depth_encoding, hdr)
        )
        self.publisher("camera_info", "sensor_msgs/msg/CameraInfo").publish(info)
        self.publisher("image", "sensor_msgs/msg/Image").publish(image)
        return hdr

    def publish_compressed(self, rgb: np.ndarray, fmt: str, sec: int, data: bytes = b"") -> Any:
        hdr = self.header(sec, 0)
        if not data:
            buf = io.BytesIO()
            PILImage.fromarray(rgb).save(buf, format="JPEG" if fmt == "jpeg" else "PNG")
            data = buf.getvalue()
        msg = self.types.new("sensor_msgs/msg/CompressedImage", header=hdr, format=fmt)
        msg.data = data
        self.publisher("image/compressed", "sensor_msgs/msg/CompressedImage").publish(msg)
        return hdr

    # ---------------------------------------------------------------- services
    def call(self, srv_name: str, type_name: str, request: Any, timeout: float = WAIT_S) -> Any:
        client = self.node.create_client(self.types.get(type_name), f"{self.ns}/{srv_name}")
        try:
            wait_until(client.service_is_ready, f"service {self.ns}/{srv_name}", timeout)
            return self.wait_future(client.call_async(request), timeout)
        finally:
            self.node.destroy_client(client)

    def call_async(self, srv_name: str, type_name: str, request: Any) -> Any:
        client = self.node.create_client(self.types.get(type_name), f"{self.ns}/{srv_name}")
        wait_until(client.service_is_ready, f"service {self.ns}/{srv_name}")
        return client.call_async(request)

    @staticmethod
    def wait_future(future: Any, timeout: float = WAIT_S) -> Any:
        wait_until(future.done, "a service response", timeout)
        return future.result()

    def ask(self, text: str, **options: Any) -> Any:
        query = self.types.new("frs_ros/msg/ReasonQuery", text=text, **options)
        request = self.types.get("frs_ros/srv/ReasonSegment").Request(query=query)
        return self.call("reason_segment", "frs_ros/srv/ReasonSegment", request)

    def service_exists(self, srv_name: str) -> bool:
        names = {name for name, _ in self.node.get_service_names_and_types()}
        return f"{self.ns}/{srv_name}" in names

    # ---------------------------------------------------------------- lifecycle
    def lifecycle_state(self, node: str) -> str:
        srv = self.types.get("lifecycle_msgs/srv/GetState")
        return self.call(
            f"{node}/get_state", "lifecycle_msgs/srv/GetState", srv.Request()
        ).current_state.label

    def transition(self, node: str, label: str) -> bool:
        """By label, as ``ros2 lifecycle set`` does (rclpy 7.1 answers an invalid transition
        given by id with no response at all; by label it answers success=False)."""
        from lifecycle_msgs.msg import Transition

        srv = self.types.get("lifecycle_msgs/srv/ChangeState")
        request = srv.Request(transition=Transition(label=label))
        return self.call(f"{node}/change_state", "lifecycle_msgs/srv/ChangeState", request).success

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@contextmanager
def running_graph(
    domain: int, arguments: dict[str, str], tmp: Path, record: dict[str, str]
) -> Iterator[tuple[LiveGraph, Client]]:
    """``frs ros up`` + a client recording ``record`` (topic -> type); on exit the graph
    must stop cleanly on SIGINT (exit code 0). Its log is printed for failing tests."""
    graph = LiveGraph(domain, arguments, tmp)
    client = Client(domain)
    for topic, type_name in record.items():
        client.record(topic, type_name)
    try:
        yield graph, client
    finally:
        client.close()
        code = graph.stop()
        print(graph.log()[-4000:])
        assert code == 0, f"frs ros up exited {code}"


@contextmanager
def running_node(
    domain: int, node_args: list[str], log: Path, record: dict[str, str]
) -> Iterator[tuple[Process, Client]]:
    """``python -m frs_ros.ros NODE_ARGS`` + a client recording ``record`` (topic -> type);
    on exit the node must stop cleanly on SIGINT (exit 0, no traceback). Its log is printed
    for failing tests."""
    node = Process([sys.executable, "-m", "frs_ros.ros", *node_args], live_env(domain), log)
    client = Client(domain)
    for topic, type_name in record.items():
        client.record(topic, type_name)
    try:
        yield node, client
    finally:
        client.close()
        code = node.interrupt()
        print(node.output()[-4000:])
        assert code == 0, f"the node exited {code} on SIGINT"
        assert "Traceback" not in node.output()


def to_encoding(rgb: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "rgb8":
        return rgb
    if encoding == "bgr8":
        return np.ascontiguousarray(rgb[:, :, ::-1])
    if encoding == "rgba8":
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    if encoding == "mono8":
        return rgb.mean(axis=2).astype(np.uint8)
    raise ValueError(encoding)


def overlay_array(msg: Any) -> np.ndarray:
    assert msg.encoding == "rgb8", msg.encoding
    assert msg.step == msg.width * 3
    data = np.frombuffer(bytes(msg.data), np.uint8)
    assert data.size == msg.height * msg.step
    return data.reshape(msg.height, msg.width, 3)
