"""Shared test set-up: tests never reach a model hub."""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def write_rgbd_bag(path, frames, storage="mcap", depth_m=1.5, fx=100.0):
    """A rosbag2 with colour (rgb8), depth (16UC1 mm) and CameraInfo per frame."""
    from frs_ros.io.bags import write_frames
    from frs_ros.io.frames import Frame
    from frs_ros.twin import CameraIntrinsics

    def rgbd(i, rgb):
        h, w = rgb.shape[:2]
        depth = np.full((h, w), depth_m, np.float32)
        intrinsics = CameraIntrinsics(fx=fx, fy=fx, cx=w / 2, cy=h / 2)
        return Frame(i, 1.0 + i * 0.1, rgb, depth, intrinsics, frame_id="cam")

    return write_frames(
        path,
        (rgbd(i, rgb) for i, rgb in enumerate(frames)),
        image_topic="/cam/color",
        depth_topic="/cam/depth",
        info_topic="/cam/info",
        depth_encoding="16UC1",
        storage=storage,
    )


@pytest.fixture
def rgbd_bag(tmp_path):
    """Factory: ``rgbd_bag(frames, storage="mcap"|"sqlite3")`` → bag directory."""

    def make(frames, storage="mcap"):
        return write_rgbd_bag(tmp_path / f"bag_{storage}", frames, storage)

    return make


# --- a scripted OpenAI-compatible server on 127.0.0.1 (runtime and CLI tests share it)


def model_reply(continuation: str, request: dict, kind: str) -> dict:
    """What a server of ``kind`` returns when its model would write ``continuation``.

    ``vllm`` cuts at the first stop string, drops it and names it in ``stop_reason``
    (``None`` at end-of-sequence); ``llamacpp`` (also Ollama) cuts and drops it but does not
    say which one matched; ``ignore`` disregards ``stop`` and returns everything.
    """
    text, matched = continuation, None
    if kind != "ignore":
        hits = [(continuation.find(s), s) for s in request.get("stop", [])]
        hits = [(i + len(s), i, s) for i, s in hits if i >= 0]
        if hits:
            _, start, matched = min(hits)
            text = continuation[:start]
    choice = {"text": text, "finish_reason": "stop"}
    if kind == "vllm":
        choice["stop_reason"] = matched
    return {"choices": [choice]}


class FakeServer:
    """Answers POST /v1/completions with queued (status, json body) replies, or, once
    those run out, plays ``continuations`` as a server of kind ``kind`` would
    (:func:`model_reply`)."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict]] = []
        self.continuations: list[str] = []
        self.kind = "vllm"
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.delay_s = 0.0  # a busy server: each reply comes this late
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                server.requests.append(json.loads(self.rfile.read(length)))
                server.headers.append(dict(self.headers))
                assert self.path == "/v1/completions"
                time.sleep(server.delay_s)
                if server.replies:
                    status, body = server.replies.pop(0)
                else:
                    cont = server.continuations.pop(0)
                    status, body = 200, model_reply(cont, server.requests[-1], server.kind)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


# Live ROS 2 tests (test/ros_live.py): a module's ``live`` fixture yields (graph, client).
@pytest.fixture
def graph(live):
    return live[0]


@pytest.fixture
def client(live):
    return live[1]
