"""benchmarks/ros_latency.py writes its overlay picture under out/ unless told otherwise:
a plain run never overwrites a tracked file."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("ros_latency", ROOT / "benchmarks/ros_latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_overlay_picture_goes_under_out_by_default():
    picture = Path(_benchmark().build_parser().parse_args([]).picture)
    assert picture.is_relative_to(ROOT / "out")
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(picture)], cwd=ROOT, capture_output=True
    )
    assert tracked.returncode != 0  # not a tracked file


def test_image_names_another_place():
    args = _benchmark().build_parser().parse_args(["--image", "docs/images/ros_overlay.png"])
    assert args.picture == "docs/images/ros_overlay.png"
