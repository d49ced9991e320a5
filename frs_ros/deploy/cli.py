"""``frs ros ...``: the pip-only ROS 2 route from the command line.

frs ros build                       # interfaces + package against the ROS 2 wheels
frs ros up profile:=tiny ...        # the launch file's graph, as processes
frs ros play INPUT [--loop]         # publish a file, folder, video or bag as a camera
frs ros ask "the mug" [--track]     # call <namespace>/reason_segment and print the answer
frs ros param get|set NODE NAME [VALUE]     # ros2 param, through the nodes' services
frs ros lifecycle get|set NODE [TRANSITION] # ros2 lifecycle
frs ros topics [--window S]         # ros2 topic list + hz

Ctrl-C ends every one of them with exit code 0.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from frs_ros.deploy import graph as graph_mod
from frs_ros.deploy import workspace
from frs_ros.terminal import escape_terminal
from frs_ros.validation import positive_float, positive_int


def interruptible(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Ctrl-C ends the command cleanly: exit code 0."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except KeyboardInterrupt:
            print(f"frs ros {args.ros_command}: interrupted", file=sys.stderr)
            return 0

    return run


def cmd_build(args: argparse.Namespace) -> int:
    ws = workspace.default_workspace()
    workspace.build(ws, force=args.force)
    print(
        f"frs_ros is built in {ws.install} and visible to every Python of {ws.prefix}.\n"
        "Start the graph:   frs ros up profile:=tiny reasoner_config:=reasoner_tiny.yaml\n"
        "Ask it:            frs ros ask 'the thing I could pour hot tea into'\n"
        "One node by hand:  python -m frs_ros.ros frs_pipeline --ros-args -p profile:=tiny"
    )
    return 0


@interruptible
def cmd_up(args: argparse.Namespace) -> int:
    from frs_ros.deploy.runner import run_graph

    ws = workspace.default_workspace()
    if not ws.is_built():
        raise FileNotFoundError("the ROS package is not built in this venv: run `frs ros build`")
    graph = graph_mod.describe(graph_mod.parse_assignments(args.arguments))
    return run_graph(graph, env=workspace.ros_environment(ws))


@interruptible
def cmd_ask(args: argparse.Namespace) -> int:
    from frs_ros.reasoning import validate_query
    from frs_ros.ros.client import ask

    response = ask(
        validate_query(args.query),  # an empty or malformed query: exit 2 before any call
        namespace=args.namespace,
        follow_up=args.follow_up,
        track=args.track,
        wait_s=args.wait,
    )
    result = response.result
    status = "ok" if response.success else "refused"
    print(escape_terminal(f"{status}: {response.message}"))
    if response.success:
        print(f"outcome={result.outcome} ids={list(result.object_ids)} frame={result.frame_index}")
    return 0 if response.success else 1


@interruptible
def cmd_play(args: argparse.Namespace) -> int:
    from frs_ros.ros.client import resolve_name
    from frs_ros.ros.player import play

    n = play(
        args.input,
        namespace=args.namespace,
        rate_hz=args.rate,
        loop=args.loop,
        max_frames=args.max_frames,
        hfov_deg=args.hfov,
    )
    print(f"published {n} frame(s) on {resolve_name(args.namespace, 'image')}")
    return 0


@interruptible
def cmd_param(args: argparse.Namespace) -> int:
    from frs_ros.ros import admin

    with admin.cli_node("frs_param") as node:
        if args.action == "get":
            if args.value is not None:
                raise ValueError("frs ros param get takes NODE NAME, no value")
            print(admin.get_parameter(node, args.node, args.name, args.wait))
            return 0
        if args.value is None:
            raise ValueError("frs ros param set needs a value: NODE NAME VALUE")
        value = admin.set_parameter(node, args.node, args.name, args.value, args.wait)
    print(escape_terminal(f"set {admin.node_name(args.node)} {args.name} = {value!r}"))
    return 0


@interruptible
def cmd_lifecycle(args: argparse.Namespace) -> int:
    from frs_ros.ros import admin

    with admin.cli_node("frs_lifecycle") as node:
        if args.action == "get":
            if args.transition is not None:
                raise ValueError("frs ros lifecycle get takes only NODE")
            print(admin.lifecycle_state(node, args.node, args.wait))
            return 0
        if args.transition is None:
            raise ValueError(f"frs ros lifecycle set needs a transition: {admin.TRANSITIONS}")
        state = admin.change_state(node, args.node, args.transition, args.wait)
    print(f"{admin.node_name(args.node)}: {args.transition} done, now {state}")
    return 0


@interruptible
def cmd_topics(args: argparse.Namespace) -> int:
    from frs_ros.ros import admin

    with admin.cli_node("frs_topics") as node:
        rates = admin.topic_rates(node, args.namespace, args.window)
    if not rates:
        print(f"no topics under /{args.namespace.strip('/')} (is the graph running?)")
        return 0
    width = max(len(r.name) for r in rates)
    for r in rates:
        print(f"{r.name:<{width}}  {r.hz:7.2f} Hz  {', '.join(r.types)}")
    print(f"(rates over {args.window:g} s)")
    return 0


def add_ros_parser(sub: Any) -> None:
    ros = sub.add_parser("ros", help="ROS 2 without a ROS install: build, start, ask")
    ros_sub = ros.add_subparsers(dest="ros_command", required=True)

    build = ros_sub.add_parser("build", help="build the package against the ROS 2 wheels")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=cmd_build)

    args_help = ", ".join(f"{n} ({a.default or '-'})" for n, a in graph_mod.ARGUMENTS.items())
    up = ros_sub.add_parser(
        "up",
        help="start the graph of launch/reasoning_seg.launch.py as processes",
        description=f"launch arguments (name:=value): {args_help}",
    )
    up.add_argument("arguments", nargs="*", metavar="name:=value")
    up.set_defaults(func=cmd_up)

    play = ros_sub.add_parser("play", help="publish an image, folder, video or bag as a camera")
    play.add_argument("input", help="image, folder of images, .gif, video file or rosbag2")
    play.add_argument("--namespace", default="frs")
    play.add_argument("--rate", type=positive_float, default=5.0, help="frames per second")
    play.add_argument("--loop", action="store_true", help="start over at the end (Ctrl-C stops)")
    play.add_argument("--max-frames", type=positive_int, default=None)
    play.add_argument(
        "--hfov",
        type=positive_float,
        default=60.0,
        help="field of view (deg) of inputs without intrinsics",
    )
    play.set_defaults(func=cmd_play)

    ask = ros_sub.add_parser("ask", help="call <namespace>/reason_segment with a query")
    ask.add_argument("query")
    ask.add_argument("--namespace", default="frs")
    ask.add_argument("--follow-up", action="store_true", help="refers to the previous answer")
    ask.add_argument("--track", action="store_true", help="follow the answer on new frames")
    ask.add_argument(
        "--wait", type=positive_float, default=120.0, help="seconds to wait for the answer"
    )
    ask.set_defaults(func=cmd_ask)

    param = ros_sub.add_parser("param", help="get or set a node parameter (ros2 param get|set)")
    param.add_argument("action", choices=("get", "set"))
    param.add_argument("node", help="node name, e.g. /frs/frs_pipeline")
    param.add_argument("name", help="parameter name")
    param.add_argument("value", nargs="?", help="set: the value (YAML typed: 2, 0.5, true, text)")
    param.add_argument(
        "--wait", type=positive_float, default=10.0, help="seconds to wait for the node"
    )
    param.set_defaults(func=cmd_param)

    lifecycle = ros_sub.add_parser(
        "lifecycle", help="get or change a node's lifecycle state (ros2 lifecycle get|set)"
    )
    lifecycle.add_argument("action", choices=("get", "set"))
    lifecycle.add_argument("node", help="node name, e.g. /frs/frs_pipeline")
    lifecycle.add_argument(
        "transition", nargs="?", help="set: configure, activate, deactivate, cleanup, shutdown"
    )
    lifecycle.add_argument(
        "--wait",
        type=positive_float,
        default=120.0,
        help="seconds to wait (configure loads the models)",
    )
    lifecycle.set_defaults(func=cmd_lifecycle)

    topics = ros_sub.add_parser("topics", help="list topics with their rates (ros2 topic list/hz)")
    topics.add_argument("--namespace", default="", help="only topics under it (default: all)")
    topics.add_argument(
        "--window", type=positive_float, default=2.0, help="seconds to count messages"
    )
    topics.set_defaults(func=cmd_topics)
