"""Perception + twin aggregation: frames (``frs/rgb`` [+ ``frs/depth`` + ``frs/camera_info``])
in, the windowed digital twin out on ``twin`` (frs_ros/msg/Twin).

Models load on configure and are freed on cleanup (lifecycle), so a deactivated node
holds no frames and a cleaned-up node holds no weights."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from frs_ros.io.frames import Frame
from frs_ros.paths import config_file
from frs_ros.ros import conversions as conv
from frs_ros.ros.jobs import split_labels
from frs_ros.ros.node_base import Configured, FrameInput, FrsNode, qos_from, run
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.twin import Twin

PERCEPTION_PARAMS: dict[str, Any] = {
    "profile": "default",  # model profile: default | tiny | a YAML path (config/models/)
    "device": "",  # overrides the profile's device when set (cpu, cuda, cuda:0)
    "perception_config": "",  # empty: the one the profile names (perception_cpu.yaml for cpu)
    "window": 8,  # frames in the published twin
    "extra_labels": "",  # comma-separated labels added to the detector vocabulary
}


def load_pipeline(node: FrsNode) -> Any:
    from frs_ros.perception import PerceptionPipeline, load_profile

    profile = load_profile(str(node.param("profile")))
    if node.param("device"):
        profile = dataclasses.replace(profile, device=str(node.param("device")))
    config = node.param("perception_config")
    return PerceptionPipeline.from_profile(profile, config_file(config) if config else None)


def perception_settings(node: FrsNode) -> dict[str, Any]:
    """The segmenter's stream settings of the perception parameters."""
    return {
        "window": int(node.param("window")),
        "extra_labels": split_labels(node.param("extra_labels")),
    }


def follow_extra_labels(node: Any) -> None:
    """``extra_labels`` may change while the node runs (a SetParameters call, e.g. ``ros2
    param set /frs/frs_perception extra_labels "kettle,red mug"`` before a query that needs
    them): the next frame is then a keyframe that looks for the new labels."""

    def changed(params: list[Any]) -> None:
        for param in params:
            if param.name == "extra_labels" and node.holds("segmenter"):
                node.segmenter.extra_labels = split_labels(str(param.value))
                node.get_logger().info(f"extra_labels now {node.segmenter.extra_labels}")

    node.add_post_set_parameters_callback(changed)


def perceive_and_publish(
    node: FrsNode, seg: ReasoningSegmenter, twin_pub: Any, frame: Frame
) -> Twin | None:
    """Run perception on a frame and publish the window on ``twin_pub``; a rejected frame is
    logged and gives None, so the node keeps serving."""
    try:
        twin = seg.observe(frame)
    except ValueError as exc:
        node.get_logger().error(f"perception rejected frame: {exc}")
        return None
    if twin is not None:
        twin_pub.publish(conv.twin_to_msg(node.types, twin))
    return twin


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
            pipeline = self._given_pipeline or load_pipeline(self)
        except Exception as exc:  # missing weights, bad profile: fail the transition clearly
            self.get_logger().error(f"cannot load perception models: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.segmenter = ReasoningSegmenter(pipeline, **perception_settings(self))
        self.twin_pub = self.create_publisher(
            self.types.get("frs_ros/msg/Twin"), "twin", qos_from("reliable")
        )
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
        if self.holds("input"):
            self.input.destroy()
        if self.holds("twin_pub"):
            self.destroy_publisher(self.twin_pub)
        self.segmenter = self.input = self.twin_pub = None  # drops the models
        self.get_logger().info("cleaned up: perception models freed")
        return TransitionCallbackReturn.SUCCESS


def main(args: list[str] | None = None) -> int:
    return run(PerceptionNode, args)
