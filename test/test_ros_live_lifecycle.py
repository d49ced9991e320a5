"""Live ROS 2: the lifecycle of the single-process node driven through the real lifecycle
services (``autostart:=false``), CompressedImage input (JPEG, PNG, damaged), and hostile
model answers (ids beyond int32, non-finite numbers) from a scripted reasoner."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import yaml
from ros_live import (
    Client,
    H,
    W,
    require_live_ros,
    resend_until,
    running_graph,
    scene,
    wait_until,
)

require_live_ros()
pytestmark = [pytest.mark.ros, pytest.mark.slow]

DOMAIN = 62
SEC = 1_764_100_000
NODE = "frs_pipeline"
CONFIGURE, CLEANUP, ACTIVATE, DEACTIVATE, SHUTDOWN = (
    "configure",
    "cleanup",
    "activate",
    "deactivate",
    "shutdown",
)
HOSTILE = [
    '<reason>r</reason><answer>{"ids": [2147483648]}</answer>',  # beyond int32
    '<reason>r</reason><answer>{"ids": [-2147483649, 1]}</answer>',
    '<reason>r</reason><answer>{"ids": [1e400]}</answer>',  # infinite once parsed
    '<reason>r</reason><answer>{"ids": [NaN]}</answer>',
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live_lifecycle")
    reasoner = tmp / "reasoner_scripted.yaml"
    empty = '<reason>r</reason><answer>{"ids": []}</answer>'
    # each hostile answer is followed by the answer to the "next query" of its test
    outputs = [out for hostile in HOSTILE for out in (hostile, empty)] + [empty] * 50
    reasoner.write_text(yaml.safe_dump({"runtime": {"kind": "scripted", "outputs": outputs}}))
    arguments = {
        "profile": "tiny",
        "reasoner_config": str(reasoner),
        "use_compressed": "true",
        "autostart": "false",
    }
    with running_graph(DOMAIN, arguments, tmp, {"twin": "frs_ros/msg/Twin"}) as live:
        yield live


def _compressed_twin(client: Client, fmt: str, sec: int) -> object:
    return client.publish_until(
        lambda: client.publish_compressed(scene(), fmt, sec),
        "twin",
        lambda m: m.header.stamp.sec == sec,
    )


def test_lifecycle_through_the_real_services(graph, client):
    state = lambda: client.lifecycle_state(NODE)  # noqa: E731
    assert state() == "unconfigured"
    assert not client.service_exists("reason_segment")  # nothing loaded before configure

    assert client.transition(NODE, CONFIGURE) and state() == "inactive"
    assert "configured: perception models and reasoner loaded" in graph.log()
    wait_until(lambda: client.service_exists("reason_segment"), "the service after configure")
    refused = client.ask("a mug")
    assert not refused.success and "not active" in refused.message
    assert refused.result.twin_age_s == -1.0  # no twin has arrived

    assert client.transition(NODE, ACTIVATE) and state() == "active"
    before_any_frame = client.ask("a mug")
    assert not before_any_frame.success and "no frame received yet" in before_any_frame.message
    assert before_any_frame.result.twin_age_s == -1.0
    client.warm_up(lambda i: client.publish_compressed(scene(), "png", SEC - 100 + i), ("twin",))
    # warm-up frames still queued would be taken after the re-activation below and start
    # the new stream: a frame whose twin comes back means every earlier one was processed
    _compressed_twin(client, "png", SEC - 60)

    assert client.transition(NODE, DEACTIVATE) and state() == "inactive"
    client.publish_compressed(scene(), "png", SEC - 50)
    assert client.transition(NODE, ACTIVATE) and state() == "active"
    twin = _compressed_twin(client, "png", SEC - 40)
    assert twin.frames[-1].index == 0  # deactivation restarted the stream
    assert not any(m.header.stamp.sec == SEC - 50 for m in client.messages("twin"))

    assert not client.transition(NODE, CLEANUP)  # not from active: the state machine refuses
    assert state() == "active"
    assert client.transition(NODE, DEACTIVATE)
    assert client.transition(NODE, CLEANUP) and state() == "unconfigured"
    assert "cleaned up: perception models and reasoner freed" in graph.log()
    wait_until(lambda: not client.service_exists("reason_segment"), "the service to go")

    assert client.transition(NODE, CONFIGURE) and state() == "inactive"
    assert graph.log().count("configured: perception models and reasoner loaded") == 2
    assert client.transition(NODE, ACTIVATE) and state() == "active"
    _compressed_twin(client, "png", SEC - 30)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_frames_become_twins(graph, client, fmt):
    sec = SEC + (1 if fmt == "jpeg" else 2)
    latest = _compressed_twin(client, fmt, sec).frames[-1]
    assert (latest.width, latest.height) == (W, H)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [("jpeg", b"\xff\xd8 not really a jpeg"), ("bmp", b"BM....")],
    ids=["damaged jpeg", "unsupported format"],
)
def test_bad_compressed_frames_are_dropped_and_the_node_keeps_serving(graph, client, fmt, data):
    before = len(graph.log())
    resend_until(
        lambda: client.publish_compressed(scene(), fmt, SEC + 10, data=data),
        lambda: "dropping frame" in graph.log()[before:],
        "the bad frame to be logged",
    )
    _compressed_twin(client, "jpeg", SEC + 11 + len(fmt))
    assert graph.running()


@pytest.mark.parametrize("n", range(len(HOSTILE)))
def test_hostile_model_answers_end_in_a_defined_outcome(graph, client, n):
    response = client.ask(f"hostile answer {n}")
    assert response.success, response.message
    assert response.result.outcome == "unparseable"
    assert list(response.result.object_ids) == []
    assert client.ask("the next query").success  # still serving


def test_shutdown_finalizes_the_node(graph, client):
    assert client.transition(NODE, SHUTDOWN)
    assert client.lifecycle_state(NODE) == "finalized"


def test_configure_fails_clearly_when_the_model_is_missing(graph, client):
    """A reasoner node of its own, pointed at a config that does not exist."""
    node = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frs_ros.ros",
            "reasoner_node",
            "--ros-args",
            "-r",
            "__ns:=/frs",
            "-p",
            "reasoner_config:=/nonexistent/reasoner.yaml",
            "-p",
            "autostart:=false",
        ],
        env=graph.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert client.lifecycle_state("frs_reasoner") == "unconfigured"
        assert not client.transition("frs_reasoner", CONFIGURE)
        assert client.lifecycle_state("frs_reasoner") == "unconfigured"
        assert node.poll() is None  # still running, ready for a corrected configure
    finally:
        node.send_signal(signal.SIGINT)
        output, _ = node.communicate(timeout=30)
    assert "cannot load the reasoner runtime" in output
    assert "/nonexistent/reasoner.yaml" in output
