"""Reasoner: the ``reason_segment`` service (relative to the node's namespace) and the
``query`` topic (frs_ros/msg/ReasonQuery) -> ``result`` (frs_ros/msg/ReasonResult), on the
latest twin from ``twin``. After an answer with ``track`` set, the answered tracks' masks
are published on every new twin until the next query or a ``reset`` (std_msgs/Empty).

The LLM loads on configure and is freed on cleanup."""

from __future__ import annotations

from typing import Any, ClassVar

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from frs_ros.ros import conversions as conv
from frs_ros.ros.endpoints import (
    REASONER_PARAMS,
    ReasonerEndpoints,
    node_runtime,
    reasoner_settings,
)
from frs_ros.ros.jobs import ReasonerJob
from frs_ros.ros.node_base import Configured, FrsNode, guarded, qos_from, run
from frs_ros.segmenter import ReasoningSegmenter


class ReasonerNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = REASONER_PARAMS
    # created on configure, freed on cleanup
    endpoints: Configured[ReasonerEndpoints] = Configured()

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
        self.create_subscription(
            self.types.get("frs_ros/msg/Twin"),
            "twin",
            guarded(self, "twin")(self._on_twin),
            qos_from("reliable"),
            callback_group=self.heavy_group,
        )
        self.get_logger().info("configured: reasoner loaded")
        return TransitionCallbackReturn.SUCCESS

    def _on_twin(self, msg: Any) -> None:
        if self.active:  # inactive: dropped (unconverted)
            self.endpoints.on_twin(conv.msg_to_twin(msg))

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_cleanup(state)  # destroys the endpoints, drops the model weights
        self.get_logger().info("cleaned up: reasoner freed")
        return result


def main(args: list[str] | None = None) -> int:
    return run(ReasonerNode, args)
