"""Reasoner: the ``reason_segment`` service (relative to the node's namespace) and the
``query`` topic (frs_ros/msg/ReasonQuery) -> ``result`` (frs_ros/msg/ReasonResult), on the
latest twin from ``twin``. After an answer with ``track`` set, the answered tracks' masks
are published on every new twin until the next query or a ``reset`` (std_msgs/Empty).

The LLM loads on configure and is freed on cleanup."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_services_default

from frs_ros.reasoning import ReasonerConfig
from frs_ros.ros import conversions as conv
from frs_ros.ros.jobs import Answer, ReasonerJob
from frs_ros.ros.node_base import Configured, FrsNode, Liveness, guarded, qos_from, run
from frs_ros.segmenter import ReasoningSegmenter

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
    """The service, query topic, result and reset endpoints of a ReasonerJob on a node."""

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
                guarded(node, "reset")(lambda _: job.reset()),
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

    def twin_note(self) -> str:
        """How old the twin a query reasons on is; stale past ``twin_stale_s``."""
        age = self.twins.age()
        if age is None:
            return ""
        if self.twins.stale():
            return (
                f" (twin is stale: none received for {age:.1f} s, more than "
                f"{self.twins.stale_s:g} s; is perception running?)"
            )
        return f" (twin {age:.1f} s old)"

    def _answer(self, query: Any) -> Answer:
        if not self.node.active:
            return self.job.failure("node is not active", str(query.id))
        if not self._slots.acquire(blocking=False):
            return self.job.failure(
                f"busy: {self.max_pending} queries are already waiting for the reasoner; "
                "try again later",
                str(query.id),
            )
        note = self.twin_note()  # the age of the twin this query starts from
        try:
            answer = self.job.answer(query)
        finally:
            self._slots.release()
        answer.message += note if answer.success else ""
        summary = f"query {answer.result.query_id!r}: {answer.message}"
        # one call site per severity: rclpy refuses a logger call site that changes severity
        if answer.success:
            self.node.get_logger().info(summary)
        else:
            self.node.get_logger().warning(summary)
        self.publish(answer.result)
        return answer

    def publish(self, result: Any) -> None:
        self.result_pub.publish(result)
        for listener in self.listeners:
            listener(result)

    def on_twin(self, twin: Any) -> None:
        self.twins.beat()
        tracked = self.job.update_twin(twin)
        if tracked is not None and self.node.active:
            self.publish(tracked)

    def destroy(self) -> None:
        self.twins.destroy()
        self.node.destroy_service(self.service)
        self.node.destroy_lifecycle_publisher(self.result_pub)
        for sub in self.subs:
            self.node.destroy_subscription(sub)


class ReasonerNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = REASONER_PARAMS
    # created on configure, freed on cleanup
    endpoints: Configured[ReasonerEndpoints] = Configured()
    twin_sub: Configured[Any] = Configured()

    def __init__(self, *, runtime: Any = None, **kwargs: Any) -> None:
        super().__init__("frs_reasoner", **kwargs)
        self._given_runtime = runtime  # tests inject a ScriptedRuntime

    def configure(self) -> TransitionCallbackReturn:
        try:
            runtime = self._given_runtime or node_runtime(self)
        except Exception as exc:  # missing weights, bad config: fail the transition clearly
            self.get_logger().error(f"cannot load the reasoner runtime: {exc}")
            return TransitionCallbackReturn.FAILURE
        segmenter = ReasoningSegmenter(runtime=runtime, config=reasoner_settings(self))
        self.endpoints = ReasonerEndpoints(self, ReasonerJob(self.types, segmenter))
        self.twin_sub = self.create_subscription(
            self.types.get("frs_ros/msg/Twin"),
            "twin",
            guarded(self, "twin")(lambda msg: self.endpoints.on_twin(conv.msg_to_twin(msg))),
            qos_from("reliable"),
            callback_group=self.heavy_group,
        )
        self.get_logger().info("configured: reasoner loaded")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.destroy_subscription(self.twin_sub)
        self.endpoints.destroy()
        self.endpoints = self.twin_sub = None  # drops the runtime (model weights)
        self.get_logger().info("cleaned up: reasoner freed")
        return TransitionCallbackReturn.SUCCESS


def main(args: list[str] | None = None) -> int:
    return run(ReasonerNode, args)
