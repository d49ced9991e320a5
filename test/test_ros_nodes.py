"""The ROS nodes run in-process on the rclpy test double (test/rclpy_double): frames in,
service calls and query topics, results, overlays and markers out.

Perception is a scripted stand-in with the PerceptionPipeline API (coloured squares ->
objects with fixed ids) so the reasoner's scripted answers name real ids; the reasoner is
the real engine over a ScriptedRuntime.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from frs_ros.reasoning.runtime.base import ScriptedRuntime
from frs_ros.ros import conversions as conv
from frs_ros.ros.image_conversion import image_to_numpy
from frs_ros.twin import FrameTwin, TwinObject

H, W = 48, 64
K = [60.0, 0, 32.0, 0, 60.0, 24.0, 0, 0, 1]
MUG = '<reason>the red one holds tea</reason><answer>{"ids": [1]}</answer>'
NOTHING = '<reason>nothing like that here</reason><answer>{"ids": []}</answer>'


class SquaresPipeline:
    """PerceptionPipeline stand-in: red pixels -> object 1 "mug", blue -> object 2 "bottle"."""

    def __init__(self) -> None:
        self.index = 0
        self.calls = 0

    def process_frame(
        self, rgb, depth=None, intrinsics=None, stamp=0.0, extra_labels=(), frame_id=""
    ):
        self.calls += 1
        objects = []
        for obj_id, label, channel in ((1, "mug", 0), (2, "bottle", 2)):
            mask = rgb[:, :, channel] > 128
            if mask.any():
                objects.append(
                    TwinObject.from_mask(
                        obj_id,
                        label,
                        0.9,
                        mask,
                        depth=depth,
                        depth_source="metric",
                        intrinsics=intrinsics,
                    )
                )
        frame = FrameTwin(self.index, stamp, rgb.shape[1], rgb.shape[0], objects, frame_id)
        self.index += 1
        return frame

    def reset(self) -> None:
        self.index = 0


@pytest.fixture
def ros(monkeypatch):
    import rclpy_double

    graph = rclpy_double.install(monkeypatch)
    from frs_ros.ros.interfaces import RclpyTypes

    return graph, RclpyTypes()


def _rgb() -> np.ndarray:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[4:10, 4:10, 0] = 255  # red square: the mug
    rgb[30:40, 44:56, 2] = 255  # blue square: the bottle
    return rgb


def _publish_frame(graph, types, t: float, *, depth_shape=(H, W), encoding="rgb8", ns="/robot"):
    hdr = conv.header(types, t, "camera_optical")
    rgb = _rgb()
    image = conv.image_to_msg(
        types, rgb if encoding == "rgb8" else rgb[:, :, ::-1].copy(), "rgb8", hdr
    )
    image.encoding = encoding
    depth = conv.image_to_msg(types, np.full(depth_shape, 2.0, np.float32), "32FC1", hdr)
    info = types.new("sensor_msgs/msg/CameraInfo", header=hdr, height=H, width=W, k=np.array(K))
    graph.publish(f"{ns}/image", image)
    graph.publish(f"{ns}/depth", depth)
    graph.publish(f"{ns}/camera_info", info)


def _query(types, text: str, **options):
    return types.new("frs_ros/msg/ReasonQuery", text=text, **options)


def _pipeline_node(graph, types, outputs, **params):
    from rclpy_double import Parameter

    from frs_ros.ros.pipeline_node import PipelineNode

    overrides = [Parameter("use_depth", True), Parameter("max_query_chars", 2000)]
    overrides += [Parameter(k, v) for k, v in params.items()]
    node = PipelineNode(
        pipeline=SquaresPipeline(),
        runtime=ScriptedRuntime(outputs),
        namespace="robot",
        parameter_overrides=overrides,
    )
    assert node.trigger_configure() == 97 and node.trigger_activate() == 97
    return node


def _call(graph, types, text: str, **options):
    request = types.get("frs_ros/srv/ReasonSegment").Request(query=_query(types, text, **options))
    return graph.call("/robot/reason_segment", request)


def test_service_answers_with_masks_overlay_and_markers(ros):
    graph, types = ros
    node = _pipeline_node(graph, types, [MUG])
    _publish_frame(graph, types, 1.0)
    assert len(graph.published["/robot/twin"]) == 1
    response = _call(graph, types, "the thing I could pour hot tea into", id="q1")
    assert response.success, response.message
    result = response.result
    assert result.query_id == "q1" and result.outcome == "answered" and not result.empty_target
    assert list(result.object_ids) == [1]
    mask = image_to_numpy(result.mask) > 0
    np.testing.assert_array_equal(mask, _rgb()[:, :, 0] > 128)
    assert (
        result.header.frame_id == "camera_optical"
        and conv.time_to_stamp(result.header.stamp) == 1.0
    )
    assert graph.published["/robot/result"][-1] is result
    # the next frame draws the answered object and puts a marker at its 3D centroid
    _publish_frame(graph, types, 2.0)
    overlay = image_to_numpy(graph.published["/robot/overlay"][-1])
    assert (overlay[6, 6] != _rgb()[6, 6]).any() and (overlay[35, 50] == _rgb()[35, 50]).all()
    markers = graph.published["/robot/markers"][-1].markers
    spheres = [m for m in markers if m.type == 2]
    assert [m.id for m in spheres] == [1]
    assert spheres[0].pose.position.z == pytest.approx(2.0)
    assert [m.text for m in markers if m.type == 9] == ["1:mug"]
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert "/robot/reason_segment" not in graph.services


def test_tracking_follows_the_answer_until_reset(ros):
    graph, types = ros
    _pipeline_node(graph, types, [MUG])
    _publish_frame(graph, types, 1.0)
    assert _call(graph, types, "tea", track=True).success
    n = len(graph.published["/robot/result"])
    _publish_frame(graph, types, 2.0)
    tracked = graph.published["/robot/result"][n:]
    assert [r.outcome for r in tracked] == ["tracking"] and list(tracked[0].object_ids) == [1]
    assert tracked[0].frame_index == 1
    graph.publish("/robot/reset", types.new("std_msgs/msg/Empty"))
    _publish_frame(graph, types, 3.0)
    assert len(graph.published["/robot/result"]) == n + 1


def test_query_topic_publishes_a_result(ros):
    graph, types = ros
    _pipeline_node(graph, types, [NOTHING])
    _publish_frame(graph, types, 1.0)
    graph.publish("/robot/query", _query(types, "a unicorn", id="u"))
    result = graph.published["/robot/result"][-1]
    assert result.query_id == "u" and result.outcome == "empty" and result.empty_target
    assert not (image_to_numpy(result.mask) > 0).any()


@pytest.mark.parametrize(
    ("text", "expect"),
    [("   ", "query is empty"), ("x" * 100_000, "100000 characters")],
)
def test_bad_queries_fail_clearly(ros, text, expect):
    graph, types = ros
    _pipeline_node(graph, types, [MUG])
    _publish_frame(graph, types, 1.0)
    response = _call(graph, types, text)
    assert not response.success and expect in response.message
    assert response.result.outcome == "error"


def test_query_before_any_frame_fails_clearly(ros):
    graph, types = ros
    _pipeline_node(graph, types, [MUG])
    response = _call(graph, types, "the mug")
    assert not response.success and "no frame received yet" in response.message


def test_bad_frames_are_logged_and_the_node_keeps_serving(ros):
    graph, types = ros
    node = _pipeline_node(graph, types, [MUG])
    _publish_frame(graph, types, 1.0, depth_shape=(H // 2, W // 2))
    _publish_frame(graph, types, 2.0, encoding="yuv422")
    errors = [m for level, m in node.get_logger().records if level == "error"]
    assert any("depth image is 32x24" in m for m in errors)
    assert any("unsupported image encoding 'yuv422'" in m for m in errors)
    assert not graph.published["/robot/twin"]
    _publish_frame(graph, types, 3.0)
    assert _call(graph, types, "the mug").success


def test_concurrent_service_calls_while_frames_stream(ros):
    graph, types = ros
    _pipeline_node(graph, types, [MUG] * 6)
    _publish_frame(graph, types, 0.5)
    responses, errors = [], []

    def ask():
        try:
            responses.append(_call(graph, types, "tea"))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for i in range(10):
        _publish_frame(graph, types, 1.0 + i)
    for t in threads:
        t.join()
    assert not errors and len(responses) == 6
    assert all(r.success and list(r.result.object_ids) == [1] for r in responses)
    assert len(graph.published["/robot/twin"]) == 11


def test_throttling_keeps_one_frame_per_period(ros):
    graph, types = ros
    node = _pipeline_node(graph, types, [], max_rate_hz=2.0)
    for t in (1.0, 1.1, 1.2, 1.5, 1.9, 2.0):
        _publish_frame(graph, types, t)
    stamps = [conv.time_to_stamp(m.header.stamp) for m in graph.published["/robot/twin"]]
    assert stamps == [1.0, 1.5, 2.0]
    assert node.perception.pipeline.calls == 3


def test_separate_nodes_wire_through_topics(ros):
    graph, types = ros
    from rclpy_double import Parameter

    from frs_ros.ros.camera_node import CameraNode
    from frs_ros.ros.perception_node import PerceptionNode
    from frs_ros.ros.reasoner_node import ReasonerNode
    from frs_ros.ros.visualization_node import VisualizationNode

    use_depth = [Parameter("use_depth", True)]
    nodes = [
        CameraNode(namespace="robot", parameter_overrides=use_depth),
        PerceptionNode(
            pipeline=SquaresPipeline(), namespace="robot", parameter_overrides=use_depth
        ),
        ReasonerNode(runtime=ScriptedRuntime([MUG]), namespace="robot"),
        VisualizationNode(namespace="robot"),
    ]
    for node in nodes:
        assert node.trigger_configure() == 97 and node.trigger_activate() == 97
    _publish_frame(graph, types, 1.0)
    assert graph.published["/robot/frs/rgb"][-1].encoding == "rgb8"
    assert graph.published["/robot/frs/depth"][-1].encoding == "32FC1"
    assert len(graph.published["/robot/twin"]) == 1
    response = _call(graph, types, "tea")
    assert response.success and list(response.result.object_ids) == [1]
    _publish_frame(graph, types, 2.0)
    assert graph.published["/robot/overlay"] and graph.published["/robot/markers"]
    assert [m.id for m in graph.published["/robot/markers"][-1].markers if m.type == 2] == [1]


def test_node_fails_configure_when_models_are_missing(ros):
    from rclpy_double import Parameter

    from frs_ros.ros.reasoner_node import ReasonerNode

    node = ReasonerNode(parameter_overrides=[Parameter("reasoner_config", "/nonexistent.yaml")])
    assert node.trigger_configure() == 98
    assert "cannot load the reasoner runtime" in node.get_logger().records[-1][1]


def test_compressed_input_is_decoded(ros):
    graph, types = ros
    from frs_ros.ros.image_conversion import encode_compressed

    _pipeline_node(graph, types, [MUG], use_compressed=True, use_depth=False)
    hdr = conv.header(types, 1.0, "camera_optical")
    data = types.sequence("uint8", encode_compressed(_rgb(), "png"))
    graph.publish(
        "/robot/image/compressed",
        types.new("sensor_msgs/msg/CompressedImage", header=hdr, format="png", data=data),
    )
    twin = conv.msg_to_twin(graph.published["/robot/twin"][-1])
    assert [o.label for o in twin.latest.objects] == ["mug", "bottle"]
    assert twin.latest.objects[0].depth is None  # no depth subscribed
