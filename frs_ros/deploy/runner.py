"""``frs ros up``: start a described graph (``frs_ros.deploy.graph``) as OS processes, one
per node, the way ``ros2 launch`` does: each node gets the namespace remap, the parameter
file and a second parameter file holding its launch-argument overrides; output lines are
prefixed with the node's name; Ctrl-C (SIGINT) or SIGTERM stops every node. A node that
exits while the graph runs is reported at once with its exit code (the others keep running).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from frs_ros.deploy.graph import Graph, NodeSpec, overrides_yaml


def node_command(graph: Graph, spec: NodeSpec, overrides_file: Path) -> list[str]:
    """The command line of one node process (``python -m frs_ros.ros <executable> ...``)."""
    return [
        sys.executable,
        "-m",
        "frs_ros.ros",
        spec.executable,
        "--ros-args",
        "-r",
        f"__ns:=/{graph.namespace}",
        "--params-file",
        str(graph.params_file),
        "--params-file",
        str(overrides_file),
    ]


class GraphProcesses:
    """The running node processes of a graph; a context manager that stops them on exit."""

    def __init__(
        self,
        graph: Graph,
        env: Mapping[str, str] | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.graph = graph
        self._tmp = tempfile.TemporaryDirectory(prefix="frs_ros_up_")
        self.processes: dict[str, subprocess.Popen] = {}
        self._pumps: list[threading.Thread] = []
        self.stopping = False  # set once the graph is being stopped: exits are expected
        for spec in graph.nodes:
            overrides = Path(self._tmp.name) / f"{spec.name}.yaml"
            overrides.write_text(overrides_yaml(spec))
            proc = subprocess.Popen(
                node_command(graph, spec, overrides),
                env=dict(env) if env is not None else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                preexec_fn=_die_with_parent,
            )
            self.processes[spec.name] = proc
            pump = threading.Thread(target=self._pump, args=(spec.name, proc, echo), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def wait(self) -> int:
        """Until every node has exited; the worst exit code."""
        codes = [proc.wait() for proc in self.processes.values()]
        for pump in self._pumps:
            pump.join(timeout=5)
        return max((abs(c) for c in codes), default=0)

    def _pump(self, name: str, proc: subprocess.Popen, echo: Callable[[str], None]) -> None:
        """Echo a node's output lines with its prefix; then say how it ended."""
        prefix = f"[{name}-{proc.pid}] "
        if proc.stdout is None:
            raise RuntimeError(f"{name}: started without stdout=PIPE, nothing to echo")
        for line in proc.stdout:
            echo(prefix + line.rstrip("\n"))
        code = proc.wait()
        how = f"signal {-code}" if code < 0 else f"code {code}"
        if self.stopping or code == 0:  # Ctrl-C in a terminal reaches the nodes directly too
            echo(f"{prefix}exited ({how})")
        else:
            echo(
                f"frs ros up: {name}[{proc.pid}] exited unexpectedly ({how}); "
                "the rest of the graph keeps running"
            )

    def interrupt(self) -> None:
        """SIGINT every running node: rclpy shuts down cleanly on it."""
        self.stopping = True
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        self.stopping = True
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.kill()

    def stop(self, timeout_s: float = 10.0) -> int:
        """Interrupt every node, SIGKILL those still running after ``timeout_s``."""
        self.interrupt()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        code = self.wait()
        self._tmp.cleanup()
        return code

    def __enter__(self) -> GraphProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when ``frs ros up`` dies, however it dies (even
    SIGKILL), so no node outlives its launcher (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def run_graph(graph: Graph, env: Mapping[str, str] | None = None) -> int:
    """Start the graph and wait; SIGINT/SIGTERM stop it. The exit code of the worst node."""
    if graph.rviz_config is not None:
        print(
            "use_rviz: RViz is not part of the pip-only route; on a ROS machine run "
            f"`rviz2 -d {graph.rviz_config}`",
            file=sys.stderr,
        )
    processes = GraphProcesses(graph, env, echo=lambda line: print(line, flush=True))
    names = ", ".join(f"{n}[{p.pid}]" for n, p in processes.processes.items())
    print(f"frs ros up: {names} in /{graph.namespace} (Ctrl-C stops)", flush=True)

    interrupts = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # only signal the children here: the main thread is inside Popen.wait()
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            processes.interrupt()
        else:
            processes.kill()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return processes.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        processes.stop()
