"""Live ROS 2, the four-node graph (``single_process:=false``): camera, perception, reasoner
and visualisation nodes, each its own OS process, wired through the ``frs/*`` topics. A
frame crosses all four; a query is answered by the reasoner process on the twin the
perception process published; the lifecycle of one node does not disturb the others."""

from __future__ import annotations

import time

import pytest
from ros_live import (
    OUTPUTS,
    Client,
    H,
    W,
    overlay_array,
    require_live_ros,
    running_graph,
    scene,
    wait_until,
)

require_live_ros()
pytestmark = [pytest.mark.ros, pytest.mark.slow]

DOMAIN = 63
SEC = 1_764_200_000
NODES = ("frs_camera", "frs_perception", "frs_reasoner", "frs_visualization")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    arguments = {
        "profile": "tiny",
        "reasoner_config": "reasoner_tiny.yaml",
        "use_depth": "true",
        "single_process": "false",
    }
    tmp = tmp_path_factory.mktemp("live_graph")
    with running_graph(DOMAIN, arguments, tmp, OUTPUTS) as (graph, client):
        wait_until(
            lambda: all(f"/frs/{n}/get_state" in _services(client) for n in NODES),
            "all four nodes to come up",
        )
        for node in NODES:
            wait_until(lambda n=node: client.lifecycle_state(n) == "active", f"{node} active")
        client.warm_up(
            lambda i: client.publish_rgbd(scene(), SEC - 1000 + i, 0),
            ("twin", "overlay", "markers"),
        )
        yield graph, client


def _services(client: Client) -> set[str]:
    return {name for name, _ in client.node.get_service_names_and_types()}


def _twin(client: Client, sec: int, nanosec: int) -> object:
    return client.publish_until(
        lambda: client.publish_rgbd(scene(), sec, nanosec, encoding="bgr8", depth_encoding="16UC1"),
        "twin",
        lambda m: (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nanosec),
    )


def test_every_node_is_its_own_process(graph, client):
    started = graph.log().splitlines()[0]
    assert started.startswith("frs ros up:")
    pids = {part.split("[")[1].rstrip("],") for part in started.split() if "[" in part}
    assert len(pids) == 4, started
    for node in NODES:
        publishers = client.node.get_node_names_and_namespaces()
        assert (node, "/frs") in publishers


def test_a_frame_crosses_camera_perception_and_visualisation(graph, client):
    nanosec = 123_456_789
    twin = _twin(client, SEC, nanosec)
    latest = twin.frames[-1]
    assert (latest.width, latest.height) == (W, H)
    assert all(o.depth_source == "metric" for o in latest.objects)
    overlay = client.wait_for(
        "overlay", lambda m: (m.header.stamp.sec, m.header.stamp.nanosec) == (SEC, nanosec)
    )
    assert overlay_array(overlay).shape == (H, W, 3)
    markers = client.wait_for(
        "markers",
        lambda m: m.markers and m.markers[0].header.stamp.nanosec == nanosec,
    )
    spheres = {m.id for m in markers.markers if m.type == 2}
    assert spheres == {o.id for o in latest.objects if o.has_centroid_3d}


def test_the_reasoner_process_answers_on_the_perception_twin(graph, client):
    start = time.monotonic()
    twin = _twin(client, SEC + 1, 5)
    before = len(client.messages("result"))
    response = client.ask("the thing I could pour hot tea into", id="graph-q")
    assert response.success, response.message
    result = response.result
    assert 0.0 <= result.twin_age_s <= time.monotonic() - start  # the twin came after start
    assert result.query_id == "graph-q"
    # the answer is about the latest twin: its frame, stamp and image size
    assert (result.header.stamp.sec, result.header.stamp.nanosec) == (SEC + 1, 5)
    assert result.frame_index == twin.frames[-1].index
    assert (result.mask.height, result.mask.width) == (H, W)
    assert set(result.object_ids) <= {o.id for o in twin.frames[-1].objects}
    client.wait_for("result", lambda m: m.query_id == "graph-q", after=before)


def test_reasoner_cleanup_leaves_perception_running(graph, client):
    assert client.transition("frs_reasoner", "deactivate")
    assert client.transition("frs_reasoner", "cleanup")
    assert "cleaned up: reasoner freed" in graph.log()
    wait_until(lambda: not client.service_exists("reason_segment"), "the service to go")
    _twin(client, SEC + 2, 0)  # perception still publishes twins
    assert client.transition("frs_reasoner", "configure")
    _twin(client, SEC + 2, 1)  # reaches the inactive reasoner, which drops it
    assert client.transition("frs_reasoner", "activate")
    no_twin = client.ask("a mug")
    assert not no_twin.success and "no frame received yet" in no_twin.message
    assert no_twin.result.twin_age_s == -1.0
    _twin(client, SEC + 3, 0)
    assert client.ask("a mug").success


def test_perception_reactivation_starts_a_new_stream(graph, client):
    assert len(_twin(client, SEC + 4, 0).frames) > 1  # a window of earlier frames
    assert client.transition("frs_perception", "deactivate")
    assert client.transition("frs_perception", "activate")
    twin = _twin(client, SEC + 5, 0)
    assert [f.header.stamp.sec for f in twin.frames] == [SEC + 5]
    assert twin.frames[0].index == 0
