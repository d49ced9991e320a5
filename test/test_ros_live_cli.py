"""Live ROS 2, the pip route's command line against one node process: the node started by
the line ``frs ros build`` prints, whose default reasoner model is missing, stays
unconfigured and keeps serving; ``frs ros param`` and ``frs ros lifecycle`` fix and
configure it through its real services; ``frs ros play`` streams the kitchen example, whose
depth the twin measures as ``frs twin`` does; ``frs ros topics`` sees the streams; Ctrl-C
(SIGINT) ends the node, ``play --loop`` and ``ask`` with exit code 0."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ros_live import ROOT, WAIT_S, Process, live_env, require_live_ros, running_node, wait_until

require_live_ros()
pytestmark = [pytest.mark.ros, pytest.mark.slow]

DOMAIN = 64
NODE = "/frs/frs_pipeline"
FRAME = ROOT / "examples" / "kitchen_video" / "frame_000.png"  # + frame_000_depth.png (mm)


def perception_yaml(tmp: Path) -> Path:
    """The shipped perception config with every detection and proposal kept: the tiny
    random-weight models then find objects, so the twin has depth to compare."""
    text = (ROOT / "config" / "perception.yaml").read_text()
    text = text.replace("score_threshold: 0.1 ", "score_threshold: 0.0 ")
    text = text.replace("pred_iou_threshold: 0.7", "pred_iou_threshold: 0.0")
    path = tmp / "perception_all.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live_cli")
    node_args = [
        # the line `frs ros build` prints, with the namespace and inputs of this test
        *("frs_pipeline", "--ros-args", "-p", "profile:=tiny", "-r", "__ns:=/frs"),
        *("-p", "use_depth:=true"),
        *("-p", "image_reliability:=reliable", "-p", "depth_reliability:=reliable"),
        *("-p", f"perception_config:={perception_yaml(tmp)}"),
    ]
    record = {"twin": "frs_ros/msg/Twin"}
    with running_node(DOMAIN, node_args, tmp / "node.log", record) as (node, client):
        yield node, client, live_env(DOMAIN), tmp


@pytest.fixture
def node(setup):
    return setup[0]


@pytest.fixture
def client(setup):
    return setup[1]


def frs(env: dict[str, str], *args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "frs_ros.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_node_whose_model_is_missing_stays_unconfigured_and_serves(setup):
    node, _, env, _ = setup
    # config/reasoner.yaml names a model that is not here: configure fails, nothing crashes
    wait_until(lambda: "not configured" in node.output(), "the failed configure", WAIT_S * 2)
    assert "cannot load models" in node.output()
    state = frs(env, "ros", "lifecycle", "get", NODE)
    assert (state.returncode, state.stdout.strip()) == (0, "unconfigured"), state.stderr
    assert node.proc.poll() is None
    assert "Transition is not registered" not in node.output()


def test_param_and_lifecycle_from_the_command_line(setup):
    node, _, env, tmp = setup
    got = frs(env, "ros", "param", "get", NODE, "profile")
    assert (got.returncode, got.stdout.strip()) == (0, "tiny"), got.stderr

    wrong = frs(env, "ros", "param", "set", NODE, "window", "eight")
    assert wrong.returncode == 2
    assert len(wrong.stderr.strip().splitlines()) == 1 and "refused window" in wrong.stderr

    missing = frs(env, "ros", "param", "get", NODE, "no_such_parameter")
    assert missing.returncode == 2 and "has no parameter 'no_such_parameter'" in missing.stderr

    reasoner = tmp / "reasoner_scripted.yaml"
    answer = '<reason>r</reason><answer>{"ids": []}</answer>'
    reasoner.write_text(yaml.safe_dump({"runtime": {"kind": "scripted", "outputs": [answer] * 9}}))
    fixed = frs(env, "ros", "param", "set", NODE, "reasoner_config", str(reasoner))
    assert fixed.returncode == 0, fixed.stderr
    assert frs(env, "ros", "param", "get", NODE, "reasoner_config").stdout.strip() == str(reasoner)
    stale = frs(env, "ros", "param", "set", NODE, "twin_stale_s", "30")  # int -> float param
    assert stale.returncode == 0 and "30.0" in stale.stdout, stale.stderr

    refused = frs(env, "ros", "lifecycle", "set", NODE, "activate")  # not from unconfigured
    assert refused.returncode == 2 and "activate from unconfigured failed" in refused.stderr
    unknown = frs(env, "ros", "lifecycle", "set", NODE, "explode")
    assert unknown.returncode == 2 and "unknown transition" in unknown.stderr

    configured = frs(env, "ros", "lifecycle", "set", NODE, "configure", timeout=WAIT_S * 2)
    assert configured.returncode == 0, configured.stderr + node.output()[-2000:]
    assert configured.stdout.strip().endswith("now inactive")
    activated = frs(env, "ros", "lifecycle", "set", NODE, "activate")
    assert activated.returncode == 0 and activated.stdout.strip().endswith("now active")


def test_ask_before_the_first_frame_waits_for_the_twin(setup):
    """``frs ros up & frs ros play & frs ros ask``: the question may reach the node before
    the first twin does; ``ask`` asks again until a twin exists instead of failing."""
    _, client, env, tmp = setup
    asking = Process(
        [sys.executable, "-m", "frs_ros.cli", "ros", "ask", "a mug", "--wait", str(WAIT_S)],
        env,
        tmp / "ask_early.log",
    )
    wait_until(lambda: "frs_ask" in client.node.get_node_names(), "frs ros ask to be asking")
    time.sleep(2.0)  # long enough for a refusal ("no frame received yet"): without the wait, exit 1
    assert asking.proc.poll() is None, asking.output()
    play = Process(
        [sys.executable, "-m", "frs_ros.cli", "ros", "play", str(FRAME), "--loop", "--rate", "2"],
        env,
        tmp / "play_early.log",
    )
    try:
        code = asking.proc.wait(timeout=WAIT_S * 2)
    finally:
        assert play.interrupt() == 0, play.output()
    assert code == 0 and asking.output().startswith("ok: "), asking.output()


def test_play_publishes_depth_the_twin_measures_as_frs_twin_does(setup):
    """``frs ros play`` of an image whose depth PNG holds millimetres: the live twin's
    depth medians are those ``frs twin`` computes from the same files (metres, not 1000x)."""
    _, client, env, tmp = setup
    play = Process(
        [sys.executable, "-m", "frs_ros.cli", "ros", "play", str(FRAME), "--loop", "--rate", "2"],
        env,
        tmp / "play.log",
    )
    try:
        # the first frame of the stream: a fresh track set, as for a single image
        twin = client.wait_for("twin", lambda m: m.frames[-1].index == 0)
        topics = frs(env, "ros", "topics", "--namespace", "frs", "--window", "3")
    finally:
        code = play.interrupt()
    assert code == 0, play.output()
    assert "RCLError" not in play.output() and "Traceback" not in play.output()
    assert "published" in play.output()

    assert topics.returncode == 0, topics.stderr
    rates = {line.split()[0]: line.split() for line in topics.stdout.splitlines()[:-1]}
    assert "/frs/image" in rates, topics.stdout
    assert float(rates["/frs/image"][1]) > 0, topics.stdout
    assert rates["/frs/depth"][3] == "sensor_msgs/msg/Image"
    assert "/frs/twin" in rates

    out = tmp / "twin.json"
    reference = frs(
        env,
        "twin",
        str(FRAME),
        "--models",
        "tiny",
        "--perception",
        str(perception_yaml(tmp)),
        "--out",
        str(out),
        timeout=WAIT_S * 3,
    )
    assert reference.returncode == 0, reference.stderr
    expected = [o["depth"]["median"] for o in json.loads(out.read_text())["frames"][0]["objects"]]
    live = twin.frames[-1].objects
    assert all(o.has_depth and o.depth_source == "metric" for o in live)
    measured = [o.depth_median for o in live]
    assert expected and measured
    # same files, same tiny models: the same metres (the bug published millimetres as m)
    assert statistics.median(measured) == pytest.approx(statistics.median(expected), rel=0.05)
    assert 0.5 < statistics.median(measured) < 10.0


def test_ask_refuses_an_empty_query_and_ctrl_c_ends_it_cleanly(setup):
    _, client, env, tmp = setup
    empty = frs(env, "ros", "ask", "")
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines() == ["frs ros: error: query is empty"]

    asked = frs(env, "ros", "ask", "a mug")
    assert asked.returncode == 0 and asked.stdout.startswith("ok: "), asked.stderr

    waiting = Process(
        [sys.executable, "-m", "frs_ros.cli", "ros", "ask", "a mug", "--namespace", "nowhere"],
        env,
        tmp / "ask.log",
    )
    wait_until(  # up and waiting for a service that never comes
        lambda: "frs_ask" in client.node.get_node_names(), "frs ros ask to be waiting"
    )
    assert waiting.interrupt() == 0, waiting.output()
    assert "Traceback" not in waiting.output()


def test_ctrl_c_while_the_models_load_is_a_clean_exit(setup):
    _, _, env, tmp = setup
    node = Process(
        [sys.executable, "-m", "frs_ros.ros", "frs_pipeline", "--ros-args", "-p", "profile:=tiny"],
        {**env, "ROS_DOMAIN_ID": str(DOMAIN + 10)},
        tmp / "interrupted.log",
    )
    wait_until(lambda: "builds RANDOM-WEIGHT" in node.output(), "the models to start loading")
    assert node.interrupt() == 0, node.output()
    assert "Traceback" not in node.output() and "RCLError" not in node.output()
