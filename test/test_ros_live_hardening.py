"""Live ROS 2, hostile traffic on the four-node graph (``single_process:=false``): malformed
Twin messages are logged and dropped while the reasoner keeps serving; a flood of
concurrent ``reason_segment`` calls gets an answer for every caller (ok or busy); a killed
perception process is reported by ``frs ros up`` and the reasoner's answers then say the
twin is stale."""

from __future__ import annotations

import copy
import os
import re
import signal

import pytest
import yaml
from ros_live import (
    ROOT,
    WAIT_S,
    Client,
    LiveGraph,
    require_live_ros,
    resend_until,
    scene,
    wait_until,
)

require_live_ros()
pytestmark = [pytest.mark.ros, pytest.mark.slow]

DOMAIN = 65
SEC = 1_764_300_000
NODES = ("frs_camera", "frs_perception", "frs_reasoner", "frs_visualization")
FLOOD = 60
TWIN_STALE_S = 8.0


def params_file(tmp):
    """The shipped parameters, with every detection kept (objects to corrupt, from the tiny
    random-weight models), short LLM answers and a short staleness limit."""
    params = yaml.safe_load((ROOT / "config" / "ros" / "frs_ros.yaml").read_text())
    perception = (ROOT / "config" / "perception.yaml").read_text()
    perception = perception.replace("score_threshold: 0.1 ", "score_threshold: 0.0 ")
    (tmp / "perception_all.yaml").write_text(perception)
    params["/**/frs_perception"]["ros__parameters"]["perception_config"] = str(
        tmp / "perception_all.yaml"
    )
    reasoner = params["/**/frs_reasoner"]["ros__parameters"]
    reasoner.update(twin_stale_s=TWIN_STALE_S, max_new_tokens=96)
    path = tmp / "frs_ros.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live_hardening")
    # the tiny random-weight LLM, unconstrained: each answer takes a while, so a flood
    # meets a reasoner that is busy
    reasoner = tmp / "reasoner_tiny_free.yaml"
    runtime = {"kind": "hf", "model": "tiny", "dtype": "float32", "constrained": False}
    reasoner.write_text(yaml.safe_dump({"runtime": runtime}))
    arguments = {
        "profile": "tiny",
        "reasoner_config": str(reasoner),
        "single_process": "false",
        "use_depth": "true",
        "params_file": str(params_file(tmp)),
    }
    graph = LiveGraph(DOMAIN, arguments, tmp)
    client = Client(DOMAIN)
    client.record("twin", "frs_ros/msg/Twin")
    killed = []
    try:
        services = lambda: {n for n, _ in client.node.get_service_names_and_types()}  # noqa: E731
        wait_until(
            lambda: all(f"/frs/{n}/get_state" in services() for n in NODES) or not graph.running(),
            "all four nodes to come up",
        )
        for node in NODES:
            wait_until(lambda n=node: client.lifecycle_state(n) == "active", f"{node} active")
        client.warm_up(lambda i: client.publish_rgbd(scene(), SEC - 1000 + i, 0), ("twin",))
        yield graph, client, killed
    finally:
        client.close()
        code = graph.stop()
        log = graph.log()
        print(log[-4000:])
        # every node but a killed one stops cleanly on SIGINT
        for node in NODES:
            if node not in killed:
                assert re.search(rf"\[{node}-\d+\] exited \(code 0\)", log), node
        assert code == (9 if killed else 0), code


@pytest.fixture
def graph(live):
    return live[0]


@pytest.fixture
def client(live):
    return live[1]


def _twin_with_objects(client: Client, sec: int) -> object:
    return client.publish_until(
        lambda: client.publish_rgbd(scene(), sec, 0),
        "twin",
        lambda m: m.header.stamp.sec == sec and m.frames and m.frames[-1].objects,
    )


def _bad_attributes(msg):
    msg.frames[-1].objects[0].attributes_json = "{not json"


def _short_mask(msg):
    msg.frames[-1].objects[0].mask_counts = "0"  # runs that cover no pixel of h x w


def _no_frames(msg):
    msg.frames = []


@pytest.mark.parametrize(
    ("corrupt", "logged"),
    [
        (_bad_attributes, "attributes_json is not JSON"),
        (_short_mask, "counts cover 0 pixels"),
        (_no_frames, "the Twin message has no frames"),
    ],
    ids=["attributes not JSON", "RLE not covering h x w", "no frames"],
)
def test_malformed_twins_are_dropped_and_the_reasoner_keeps_serving(graph, client, corrupt, logged):
    bad = copy.deepcopy(_twin_with_objects(client, SEC + 10 + len(logged)))
    corrupt(bad)
    before = len(graph.log())
    client.publisher("twin", "frs_ros/msg/Twin").publish(bad)
    # both subscribers of the twin log it and drop it
    for node in ("frs_reasoner", "frs_visualization"):
        wait_until(
            lambda n=node: re.search(
                rf"\[{n}-\d+\] .*dropping twin: ValueError: .*{re.escape(logged)}",
                graph.log()[before:],
            ),
            f"{node} to log the malformed twin",
        )
    response = client.ask("a mug")
    assert response.success, response.message
    assert graph.running() and "exited" not in graph.log()


def test_a_flood_of_calls_gets_an_answer_for_every_caller(graph, client):
    """FLOOD callers at once, each its own service client: every one is answered, ok or
    refused as busy (beyond max_pending_queries); none waits forever."""
    _twin_with_objects(client, SEC + 100)
    from rclpy.qos import qos_profile_services_default

    srv = client.types.get("frs_ros/srv/ReasonSegment")
    # Clients in one process each see every response of the service until their listener
    # filters them: a queue as deep as the flood keeps their own (docs/ros.md, "Threads")
    qos = copy.copy(qos_profile_services_default)
    qos.depth = 2 * FLOOD
    callers = [
        client.node.create_client(srv, "/frs/reason_segment", qos_profile=qos) for _ in range(FLOOD)
    ]
    try:
        wait_until(lambda: all(c.service_is_ready() for c in callers), "the callers to match")
        futures = [
            c.call_async(
                srv.Request(
                    query=client.types.new("frs_ros/msg/ReasonQuery", id=f"f{i}", text="a mug")
                )
            )
            for i, c in enumerate(callers)
        ]
        wait_until(
            lambda: all(f.done() for f in futures),
            f"every one of {FLOOD} callers to get an answer "
            f"({sum(f.done() for f in futures)} answered)",
            WAIT_S * 2,
        )
    finally:
        for c in callers:
            client.node.destroy_client(c)
    responses = [f.result() for f in futures]
    ok = [r for r in responses if r.success]
    busy = [r for r in responses if not r.success]
    print(f"{len(ok)} answered, {len(busy)} refused as busy")
    assert ok, [r.message for r in responses[:5]]
    assert all(r.message.startswith("busy:") for r in busy), {r.message for r in busy}
    assert graph.running()


def test_a_killed_perception_process_is_noticed(live):
    graph, client, killed = live
    _twin_with_objects(client, SEC + 200)
    fresh = client.ask("a mug")
    assert fresh.success and re.search(r"\(twin \d+\.\d s old\)", fresh.message), fresh.message
    assert f"(twin {fresh.result.twin_age_s:.1f} s old)" in fresh.message  # one age, twice

    started = graph.log().splitlines()[0]
    pid = int(re.search(r"frs_perception\[(\d+)\]", started).group(1))
    os.kill(pid, signal.SIGKILL)
    killed.append("frs_perception")
    wait_until(
        lambda: f"frs_perception[{pid}] exited unexpectedly (signal 9)" in graph.log(),
        "frs ros up to report the dead node",
    )
    # frames keep coming from the camera; no twin does: the reasoner warns, then says so
    resend_until(
        lambda: client.publish_rgbd(scene(), SEC + 201, 0),
        lambda: "no twins for" in graph.log(),
        "the reasoner's warning about missing twins",
        resend_s=1.0,
    )
    stale = client.ask("a mug")
    assert stale.success, stale.message
    assert "twin is stale" in stale.message and "is perception running?" in stale.message
    assert stale.result.twin_age_s > TWIN_STALE_S
    assert f"none received for {stale.result.twin_age_s:.1f} s" in stale.message
