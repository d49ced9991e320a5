"""Single-process mode: one lifecycle node runs every job — camera ingestion, perception +
aggregation, reasoning, visualisation — passing numpy frames and twins between them by
reference (no image copies or serialization between nodes). Same topics, service and
parameters as the separate nodes, minus the intermediate ``frs/*`` topics."""

from __future__ import annotations

from typing import Any, ClassVar

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from frs_ros.io.frames import Frame
from frs_ros.ros.endpoints import (
    REASONER_PARAMS,
    Drawer,
    ReasonerEndpoints,
    node_runtime,
    reasoner_settings,
)
from frs_ros.ros.jobs import ReasonerJob
from frs_ros.ros.node_base import (
    PERCEPTION_PARAMS,
    Configured,
    FrameInput,
    FrsNode,
    follow_extra_labels,
    node_pipeline,
    perceive_and_publish,
    perception_segmenter,
    run,
)
from frs_ros.segmenter import ReasoningSegmenter


class PipelineNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = {**FrameInput.PARAMS, **PERCEPTION_PARAMS, **REASONER_PARAMS}
    # created on configure, freed on cleanup
    segmenter: Configured[ReasoningSegmenter] = Configured()
    reasoner: Configured[ReasonerEndpoints] = Configured()
    drawer: Configured[Drawer] = Configured()
    twin_pub: Configured[Any] = Configured()
    input: Configured[FrameInput] = Configured()

    def __init__(self, *, pipeline: Any = None, runtime: Any = None, **kwargs: Any) -> None:
        super().__init__("frs_pipeline", **kwargs)
        self._given = (pipeline, runtime)  # tests inject these; otherwise loaded on configure
        follow_extra_labels(self)

    def configure(self) -> TransitionCallbackReturn:
        try:
            pipeline = self._given[0] or node_pipeline(self)
            runtime = self._given[1] or node_runtime(self)
        except Exception as exc:  # missing weights, bad config: fail the transition clearly
            self.get_logger().error(f"cannot load models: {exc}")
            return TransitionCallbackReturn.FAILURE
        # one segmenter: perception and reasoning share the twin by reference
        self.segmenter = perception_segmenter(self, pipeline, runtime, reasoner_settings(self))
        self.reasoner = ReasonerEndpoints(self, ReasonerJob(self.types, self.segmenter))
        self.drawer = Drawer(self)
        self.reasoner.listeners.append(self.drawer.on_result)
        self.twin_pub = self.output_publisher("frs_ros/msg/Twin", "twin")
        self.input = FrameInput(self, self.on_frame)
        self.get_logger().info("configured: perception models and reasoner loaded")
        return TransitionCallbackReturn.SUCCESS

    def on_frame(self, frame: Frame) -> None:
        twin = perceive_and_publish(self, self.segmenter, self.twin_pub, frame)
        if twin is None:
            return
        self.reasoner.on_twin(twin)  # follows answered tracks; the drawer listens
        self.drawer.on_twin(twin)
        self.drawer.draw(frame.rgb, frame.stamp, frame.frame_id)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_deactivate(state)  # first: frames arriving now are dropped
        self.segmenter.reset_stream()  # then: a later activation starts a new stream
        return result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_cleanup(state)  # destroys the endpoints, frees the models
        self.get_logger().info("cleaned up: perception models and reasoner freed")
        return result


def main(args: list[str] | None = None) -> int:
    return run(PipelineNode, args)
