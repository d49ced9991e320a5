"""Live ROS 2 latency of the frs_ros graph (pip-only route, real rclpy + Fast DDS).

Starts the launch file's graph with ``frs ros up``'s machinery (tiny profiles), once per
mode (single process, four nodes), and measures from a client process:

- frame published -> twin received (same header stamp), and -> overlay received;
- query sent -> ReasonSegment response received.

Frames are sent one at a time (the next after the previous twin), so the figures are the
pipeline's latency, not queueing. Also writes the overlay of the bundled kitchen image as
RViz's Image display shows it (out/ros_latency/ros_overlay.png; ``--image PATH`` elsewhere,
e.g. docs/images/ros_overlay.png to refresh the picture in docs/ros.md). Prints a markdown
table.

    python benchmarks/ros_latency.py [--frames 20] [--queries 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from frs_ros.deploy.graph import describe
from frs_ros.deploy.runner import GraphProcesses
from frs_ros.deploy.workspace import default_workspace, ros_environment
from frs_ros.io.sources import iter_frames
from frs_ros.twin import CameraIntrinsics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kitchen_image" / "image.png"


def _stamp_key(msg) -> tuple[int, int]:
    return int(msg.header.stamp.sec), int(msg.header.stamp.nanosec)


def measure(mode: str, domain: int, n_frames: int, n_queries: int, picture: Path | None) -> dict:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from frs_ros.io.messages import frame_messages
    from frs_ros.ros import conversions as conv
    from frs_ros.ros.interfaces import RclpyTypes
    from frs_ros.ros.player import depth_encoding, metric_frame

    env = {**ros_environment(default_workspace()), "ROS_DOMAIN_ID": str(domain)}
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    graph = describe(
        {
            "profile": "tiny",
            "reasoner_config": "reasoner_tiny.yaml",
            "use_depth": "true",
            "single_process": "true" if mode == "single process" else "false",
        }
    )
    types = RclpyTypes()
    frame = next(iter(iter_frames(EXAMPLE)))
    encoding = depth_encoding(frame)  # the depth PNG holds millimetres: 16UC1, as a camera
    frame = metric_frame(frame)
    h, w = frame.rgb.shape[:2]
    frame.intrinsics = CameraIntrinsics.from_fov(w, h, 60.0)
    seen: dict[str, dict[tuple[int, int], float]] = {"twin": {}, "overlay": {}}
    overlays: dict[tuple[int, int], object] = {}
    lock = threading.Lock()

    with GraphProcesses(graph, env, echo=lambda line: None):
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain)
        node = rclpy.create_node("frs_latency", context=context)
        executor = MultiThreadedExecutor(num_threads=3, context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)

        def recorder(topic: str):
            def on_message(msg) -> None:
                with lock:
                    seen[topic][_stamp_key(msg)] = time.perf_counter()
                    if topic == "overlay":
                        overlays[_stamp_key(msg)] = msg

            return on_message

        node.create_subscription(types.get("frs_ros/msg/Twin"), "/frs/twin", recorder("twin"), qos)
        node.create_subscription(
            types.get("sensor_msgs/msg/Image"), "/frs/overlay", recorder("overlay"), qos
        )
        pubs = {
            name: node.create_publisher(types.get(t), f"/frs/{name}", qos)
            for name, t in (
                ("image", "sensor_msgs/msg/Image"),
                ("depth", "sensor_msgs/msg/Image"),
                ("camera_info", "sensor_msgs/msg/CameraInfo"),
            )
        }
        client = node.create_client(types.get("frs_ros/srv/ReasonSegment"), "/frs/reason_segment")
        _wait(
            lambda: (
                client.service_is_ready() and all(p.get_subscription_count() for p in pubs.values())
            ),
            180,
        )

        def send(i: int) -> tuple[tuple[int, int], float]:
            hdr = conv.header(types, 1_764_000_000 + i, "camera_optical")
            image, depth, info = frame_messages(types, frame, hdr, encoding)
            sent = time.perf_counter()
            pubs["depth"].publish(depth)
            pubs["camera_info"].publish(info)
            pubs["image"].publish(image)
            return _stamp_key(image), sent

        # warm-up: until the first twin and overlay have come back (all pipes matched)
        i = 0
        while not (seen["twin"] and seen["overlay"]):
            send(i)
            i += 1
            time.sleep(0.5)
        twin_ms, overlay_ms, lost = [], [], 0
        for k in range(n_frames):
            key, sent = send(1000 + k)
            try:
                _wait(lambda key=key: key in seen["twin"] and key in seen["overlay"], 30)
            except TimeoutError:  # the image subscription is best effort: a frame may be lost
                lost += 1
                continue
            twin_ms.append((seen["twin"][key] - sent) * 1e3)
            overlay_ms.append((seen["overlay"][key] - sent) * 1e3)
        query_ms = []
        request_type = types.get("frs_ros/srv/ReasonSegment").Request
        for q in range(n_queries):
            request = request_type(query=types.new("frs_ros/msg/ReasonQuery", text=f"a mug {q}"))
            sent = time.perf_counter()
            future = client.call_async(request)
            _wait(future.done, 300)
            query_ms.append((time.perf_counter() - sent) * 1e3)
            assert future.result().success, future.result().message
        if picture is not None:
            _save_overlay(overlays[max(overlays)], picture)
        executor.shutdown()
        rclpy.try_shutdown(context=context)
    return {"twin": twin_ms, "overlay": overlay_ms, "query": query_ms, "lost": lost}


def _wait(condition, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the graph did not answer in time")
        time.sleep(0.005)


def _save_overlay(msg, path: Path) -> None:
    pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _fmt(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(values):.0f} / {p90:.0f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument(
        "--image",
        dest="picture",
        default=str(ROOT / "out" / "ros_latency" / "ros_overlay.png"),
        help="where the overlay picture goes (default under out/; the tracked picture of "
        "docs/ros.md is docs/images/ros_overlay.png)",
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    rmw = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    print(f"transport: {rmw} (Fast DDS 2.14, ROS 2 Jazzy wheels), localhost only; tiny profiles")
    print(f"{args.frames} frames (320x240 RGB-D, one at a time), {args.queries} queries\n")
    print(
        "| mode | frame -> twin ms (median / p90) | frame -> overlay ms "
        "| query -> response ms | frames lost |"
    )
    print("|---|---|---|---|---|")
    for domain, mode in ((71, "single process"), (72, "four nodes")):
        picture = Path(args.picture) if mode == "single process" else None
        r = measure(mode, domain, args.frames, args.queries, picture)
        print(
            f"| {mode} | {_fmt(r['twin'])} | {_fmt(r['overlay'])} | {_fmt(r['query'])} "
            f"| {r['lost']} / {args.frames} |",
            flush=True,
        )
    print(f"\noverlay picture: {args.picture}")


if __name__ == "__main__":
    main()
