"""Where the shipped configuration lives, however frs_ros was installed.

The YAML files live in the repository's top-level ``config/`` (the ROS package layout).
They are found (1) in ``$FRS_CONFIG_DIR``, (2) next to the source tree (a checkout or an
editable ``pip install -e .``), (3) in ``<prefix>/share/frs_ros/config`` — where both a
plain ``pip install`` (pyproject data-files) and ``colcon build`` (CMake install) put them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_SOURCE_CONFIG = Path(__file__).resolve().parents[1] / "config"


def _candidates() -> list[Path]:
    out = []
    if env := os.environ.get("FRS_CONFIG_DIR"):
        out.append(Path(env))
    out.append(_SOURCE_CONFIG)
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    out.extend(Path(p) / "share" / "frs_ros" / "config" for p in prefixes if p)
    return out


def config_dir() -> Path:
    """The first existing configuration directory (see module docstring)."""
    for path in _candidates():
        if path.is_dir():
            return path
    searched = ", ".join(str(p) for p in _candidates())
    raise FileNotFoundError(f"frs_ros configuration not found (searched: {searched})")


def config_path(*parts: str) -> Path:
    return config_dir().joinpath(*parts)


def config_file(name: str | os.PathLike[str]) -> Path:
    """A config file given as a path, or by name in the shipped configuration directory
    (``perception.yaml``, ``reasoner_cpu.yaml``, as ROS parameters give them)."""
    path = Path(name)
    if path.is_file():
        return path
    path = config_path(str(name))
    if not path.is_file():
        raise FileNotFoundError(f"config {str(name)!r} not found as a path nor as {path}")
    return path


def cache_root() -> Path:
    """Where frs_ros keeps caches: ``$FRS_CACHE_DIR``, else ``$XDG_CACHE_HOME/frs_ros``,
    else ``~/.cache/frs_ros``."""
    if env := os.environ.get("FRS_CACHE_DIR"):
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "frs_ros"
