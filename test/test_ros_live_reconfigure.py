"""Live ROS 2: a configure that fails partway — the single-process node's frame input
refuses its QoS parameter after the reasoner, drawer and twin endpoints were created —
destroys what it had created and leaves the node unconfigured; corrected through the real
parameter service, the node configures again with exactly one of each endpoint, and stays
so across cleanup and another configure."""

from __future__ import annotations

import re

import pytest
import yaml
from ros_live import Client, require_live_ros, running_node, scene, wait_until

require_live_ros()
pytestmark = [pytest.mark.ros, pytest.mark.slow]

DOMAIN = 66
SEC = 1_764_400_000
NODE = "frs_pipeline"
OUTPUTS = ("twin", "result", "overlay", "markers")
INPUTS = ("image", "query", "reset")
ONE_EACH = dict.fromkeys([*OUTPUTS, *INPUTS, "reason_segment"], 1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live_reconfigure")
    reasoner = tmp / "reasoner_scripted.yaml"
    answer = '<reason>r</reason><answer>{"ids": []}</answer>'
    reasoner.write_text(yaml.safe_dump({"runtime": {"kind": "scripted", "outputs": [answer] * 9}}))
    node_args = [
        *(NODE, "--ros-args", "-r", "__ns:=/frs"),
        *("-p", "autostart:=false", "-p", "profile:=tiny"),
        *("-p", f"reasoner_config:={reasoner}"),
        # refused by the frame input, which configure creates last
        *("-p", "image_reliability:=bogus"),
    ]
    record = {"twin": "frs_ros/msg/Twin"}
    with running_node(DOMAIN, node_args, tmp / "node.log", record) as (node, client):
        yield node, client


def _counts(client: Client) -> dict[str, int]:
    """Publishers of each output, subscriptions of each input (none of the client's own),
    servers of the service, as the DDS graph sees them."""
    graph = client.node
    counts = {t: graph.count_publishers(f"/frs/{t}") for t in OUTPUTS}
    counts |= {t: graph.count_subscribers(f"/frs/{t}") for t in INPUTS}
    return counts | {"reason_segment": graph.count_services("/frs/reason_segment")}


def _twin(client: Client, sec: int) -> object:
    def publish() -> None:
        image = client.image_msg(scene(), "rgb8", client.header(sec, 0))
        client.publisher("image", "sensor_msgs/msg/Image").publish(image)

    return client.publish_until(publish, "twin", lambda m: m.header.stamp.sec == sec)


def test_a_configure_failing_partway_leaves_nothing_behind(setup):
    node, client = setup
    assert client.lifecycle_state(NODE) == "unconfigured"
    assert not client.transition(NODE, "configure")
    assert client.lifecycle_state(NODE) == "unconfigured"
    log = node.output()
    assert "configure failed: ValueError: QoS reliability must be one of" in log
    created = re.search(r"configure failed partway: destroyed the (\d+) entities", log)
    # at least the 4 outputs, the service and the query and reset subscriptions
    assert created and int(created.group(1)) >= 7, log[-2000:]
    wait_until(lambda: not any(_counts(client).values()), "the failed try's endpoints to go")
    assert node.proc.poll() is None  # still running, ready for a corrected configure


def test_configured_again_after_the_fix_with_one_of_each_endpoint(setup):
    _, client = setup
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue

    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="sensor_data")
    srv = client.types.get("rcl_interfaces/srv/SetParameters")
    request = srv.Request(parameters=[Parameter(name="image_reliability", value=value)])
    result = client.call(f"{NODE}/set_parameters", "rcl_interfaces/srv/SetParameters", request)
    assert [r.successful for r in result.results] == [True]

    assert client.transition(NODE, "configure")
    assert client.lifecycle_state(NODE) == "inactive"
    assert client.transition(NODE, "activate")
    # a frame becomes a twin: the node's endpoints are all discovered by now, and a
    # publisher left from the failed try would have been announced before these
    _twin(client, SEC)
    assert _counts(client) == ONE_EACH
    assert client.ask("a mug").success


def test_cleanup_and_configure_again_keep_one_of_each_endpoint(setup):
    node, client = setup
    assert client.transition(NODE, "deactivate")
    assert client.transition(NODE, "cleanup")
    wait_until(lambda: not any(_counts(client).values()), "every endpoint to go on cleanup")
    assert client.transition(NODE, "configure")
    assert client.transition(NODE, "activate")
    _twin(client, SEC + 1)
    assert _counts(client) == ONE_EACH
    assert node.output().count("configured: perception models and reasoner loaded") == 2


def test_shutdown_releases_every_endpoint(setup):
    """A finalized node keeps its process (until it is stopped) but no endpoint or model."""
    node, client = setup
    assert client.transition(NODE, "shutdown")
    assert client.lifecycle_state(NODE) == "finalized"
    wait_until(lambda: not any(_counts(client).values()), "every endpoint to go on shutdown")
    assert node.proc.poll() is None
