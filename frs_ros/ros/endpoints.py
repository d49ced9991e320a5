"""The endpoints that more than one node wires up, so nodes never import nodes: the
reasoner's (the ``reason_segment`` service, the ``query``, ``result`` and ``reset`` topics
around a ReasonerJob, with its parameters and model loading) and the drawer's (``overlay``
and ``markers``). The reasoner and visualisation nodes each hold one; the single-process
pipeline node holds both. Everything they create is created on configure, so the node
destroys it on cleanup or a failed configure (``FrsNode.release``).
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from rclpy.qos import qos_profile_services_default

from frs_ros.io.messages import image_message
from frs_ros.reasoning import ReasonerConfig
from frs_ros.ros import conversions as conv
from frs_ros.ros.jobs import Answer, ReasonerJob, markers_for, overlay_for
from frs_ros.ros.node_base import FrsNode, Liveness, guarded, qos_from
from frs_ros.twin import FrameTwin, Twin

REASONER_PARAMS: dict[str, Any] = {
    "reasoner_config": "reasoner.yaml",  # runtime: section, see config/reasoner*.yaml
    "reasoner_device": "",  # overrides runtime.device of an hf runtime when set
    "max_pending_queries": 4,  # queries waiting for the reasoner; more are refused as busy
    # requests DDS holds for the service (and responses for its callers): a burst larger
    # than this loses calls, which then wait forever; refusals beyond max_pending are quick
    "service_queue_depth": 1000,
    "twin_stale_s": 5.0,  # a twin older than this is reported stale (and logged; 0: never)
    # every ReasonerConfig setting (bounds, prompt style, few-shot), with its one default
    **ReasonerConfig.defaults(),
}

#: ``ReasonResult.twin_age_s`` of an answer given before any twin arrived (msg/ReasonResult.msg).
NO_TWIN_AGE_S = -1.0


def node_runtime(node: FrsNode) -> Any:
    """The LLM runtime of the ``reasoner_config`` parameter (``reasoner_device`` overrides
    the torch runtime's device)."""
    from frs_ros.reasoning.runtime import load_runtime

    device = str(node.param("reasoner_device")) or None
    return load_runtime(str(node.param("reasoner_config")), device=device)


def reasoner_settings(node: FrsNode) -> ReasonerConfig:
    """The reasoner parameters as the one settings object (its validator checks them)."""
    return ReasonerConfig.from_mapping(
        {name: node.param(name) for name in ReasonerConfig.defaults()}, "reasoner parameter"
    )


class ReasonerEndpoints:
    """The service, query topic, result and reset endpoints of a ReasonerJob on a node.
    While the node is inactive the service and the query topic answer "node is not active"
    (a refusal that is not published), and twins and resets are dropped."""

    def __init__(self, node: FrsNode, job: ReasonerJob) -> None:
        self.node, self.job = node, job
        # Each waiting query holds an executor thread (node_base.executor_threads).
        self.max_pending = int(node.param("max_pending_queries"))
        depth = int(node.param("service_queue_depth"))
        if self.max_pending < 1 or depth < 1:
            raise ValueError(
                f"max_pending_queries and service_queue_depth must be >= 1, got "
                f"{self.max_pending} and {depth}"
            )
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self.listeners: list[Callable[[Any], None]] = []  # in-process result consumers
        self.twins = Liveness(node, "twins", float(node.param("twin_stale_s")))
        get, group = node.types.get, node.light_group
        reliable = qos_from("reliable", depth=10)
        self.result_pub = node.output_publisher("frs_ros/msg/ReasonResult", "result", reliable)
        service_qos = copy.copy(qos_profile_services_default)
        service_qos.depth = depth
        self.service = node.create_service(
            get("frs_ros/srv/ReasonSegment"),
            "reason_segment",
            guarded(node, "reason_segment request", self._refuse)(self.on_service),
            qos_profile=service_qos,
            callback_group=group,
        )
        self.subs = [
            node.create_subscription(
                get("frs_ros/msg/ReasonQuery"),
                "query",
                guarded(node, "query")(self.on_query),
                reliable,
                callback_group=group,
            ),
            node.create_subscription(
                get("std_msgs/msg/Empty"),
                "reset",
                guarded(node, "reset")(self.on_reset),
                reliable,
                callback_group=group,
            ),
        ]

    def on_service(self, request: Any, response: Any) -> Any:
        answer = self._answer(request.query)
        response.success, response.message, response.result = (
            answer.success,
            answer.message,
            answer.result,
        )
        return response

    def _refuse(self, request: Any, response: Any) -> Any:
        """The response to a request whose handling failed (the reason is logged)."""
        response.success, response.message = False, "the request could not be handled"
        return response

    def on_query(self, query: Any) -> None:
        self._answer(query)

    def on_reset(self, _: Any) -> None:
        if self.node.active:
            self.job.reset()

    def twin_note(self, age: float | None) -> str:
        """What a successful answer's message says of a twin ``age`` seconds old (None: no
        twin yet); stale past ``twin_stale_s``."""
        if age is None:
            return ""
        if self.twins.too_old(age):
            return (
                f" (twin is stale: none received for {age:.1f} s, more than "
                f"{self.twins.stale_s:g} s; is perception running?)"
            )
        return f" (twin {age:.1f} s old)"

    def _answer(self, query: Any) -> Answer:
        age = self.twins.age()  # once, as the query starts: its result and message say it
        if not self.node.active:
            return self._aged(self.job.failure("node is not active", str(query.id)), age)
        if not self._slots.acquire(blocking=False):
            return self._aged(
                self.job.failure(
                    f"busy: {self.max_pending} queries are already waiting for the reasoner; "
                    "try again later",
                    str(query.id),
                ),
                age,
            )
        try:
            answer = self._aged(self.job.answer(query), age)
        finally:
            self._slots.release()
        answer.message += self.twin_note(age) if answer.success else ""
        summary = f"query {answer.result.query_id!r}: {answer.message}"
        # one call site per severity: rclpy refuses a logger call site that changes severity
        if answer.success:
            self.node.get_logger().info(summary)
        else:
            self.node.get_logger().warning(summary)
        self.publish(answer.result)
        return answer

    @staticmethod
    def _aged(answer: Answer, age: float | None) -> Answer:
        answer.result.twin_age_s = NO_TWIN_AGE_S if age is None else age
        return answer

    def publish(self, result: Any) -> None:
        self.result_pub.publish(result)
        for listener in self.listeners:
            listener(result)

    def on_twin(self, twin: Twin) -> None:
        if not self.node.active:
            return
        self.twins.beat()
        tracked = self.job.update_twin(twin)
        if tracked is not None:
            tracked.twin_age_s = 0.0  # published as its twin arrives
            self.publish(tracked)


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
