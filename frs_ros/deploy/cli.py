"""``frs ros ...``: the pip-only ROS 2 route from the command line.

frs ros build                       # interfaces + package against the ROS 2 wheels
frs ros up profile:=tiny ...        # the launch file's graph, as processes
frs ros ask "the mug" [--track]     # call <namespace>/reason_segment and print the answer
"""

from __future__ import annotations

import argparse
from typing import Any

from frs_ros.deploy import graph as graph_mod
from frs_ros.deploy import workspace
from frs_ros.terminal import escape_terminal


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


def cmd_up(args: argparse.Namespace) -> int:
    from frs_ros.deploy.runner import run_graph

    ws = workspace.default_workspace()
    if not ws.is_built():
        raise FileNotFoundError("the ROS package is not built in this venv: run `frs ros build`")
    graph = graph_mod.describe(graph_mod.parse_assignments(args.arguments))
    return run_graph(graph, env=workspace.ros_environment(ws))


def cmd_ask(args: argparse.Namespace) -> int:
    from frs_ros.ros.client import ask

    response = ask(
        args.query,
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
    play.add_argument("--rate", type=float, default=5.0, help="frames per second")
    play.add_argument("--loop", action="store_true", help="start over at the end (Ctrl-C stops)")
    play.add_argument("--max-frames", type=int, default=None)
    play.add_argument(
        "--hfov", type=float, default=60.0, help="field of view (deg) of inputs without intrinsics"
    )
    play.set_defaults(func=cmd_play)

    ask = ros_sub.add_parser("ask", help="call <namespace>/reason_segment with a query")
    ask.add_argument("query")
    ask.add_argument("--namespace", default="frs")
    ask.add_argument("--follow-up", action="store_true", help="refers to the previous answer")
    ask.add_argument("--track", action="store_true", help="follow the answer on new frames")
    ask.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the answer")
    ask.set_defaults(func=cmd_ask)
