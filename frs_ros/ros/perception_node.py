"""Perception + twin aggregation: frames (``frs/rgb`` [+ ``frs/depth`` + ``frs/camera_info``])
in, the windowed digital twin out on ``twin`` (frs_ros/msg/Twin).

Models load on configure and are freed on cleanup (lifecycle), so a deactivated node
holds no frames and a cleaned-up node holds no weights."""

from __future__ import annotations

from typing import Any, ClassVar

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from frs_ros.io.frames import Frame
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


class PerceptionNode(FrsNode):
    PARAMS: ClassVar[dict[str, Any]] = {
        **FrameInput.PARAMS,
        "image_topic": "frs/rgb",
        "depth_topic": "frs/depth",
        "camera_info_topic": "frs/camera_info",
        "image_reliability": "reliable",
        "depth_reliability": "reliable",
        **PERCEPTION_PARAMS,
    }
    # created on configure, freed on cleanup
    segmenter: Configured[ReasoningSegmenter] = Configured()
    twin_pub: Configured[Any] = Configured()
    input: Configured[FrameInput] = Configured()

    def __init__(self, *, pipeline: Any = None, **kwargs: Any) -> None:
        super().__init__("frs_perception", **kwargs)
        self._given_pipeline = pipeline  # tests inject a pipeline; otherwise loaded on configure
        follow_extra_labels(self)

    def configure(self) -> TransitionCallbackReturn:
        try:
            pipeline = self._given_pipeline or node_pipeline(self)
        except Exception as exc:  # missing weights, bad profile: fail the transition clearly
            self.get_logger().error(f"cannot load perception models: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.segmenter = perception_segmenter(self, pipeline)
        self.twin_pub = self.output_publisher("frs_ros/msg/Twin", "twin")
        self.input = FrameInput(self, self.on_frame)
        self.get_logger().info("configured: perception models loaded")
        return TransitionCallbackReturn.SUCCESS

    def on_frame(self, frame: Frame) -> None:
        perceive_and_publish(self, self.segmenter, self.twin_pub, frame)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_deactivate(state)  # first: frames arriving now are dropped
        if self.holds("segmenter"):
            self.segmenter.reset_stream()  # then: a later activation starts a new stream
        return result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_cleanup(state)  # destroys the input and output, drops the models
        self.get_logger().info("cleaned up: perception models freed")
        return result


def main(args: list[str] | None = None) -> int:
    return run(PerceptionNode, args)
