"""The pip-only ROS build's own logic (frs_ros/deploy/workspace.py) on files it makes; the
build itself runs in CI through the README's ROS command and the live tests use it."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

import numpy

from frs_ros.deploy.workspace import Workspace, inputs_fingerprint, repair_exports

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = (
    'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
    '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"\n'
)


def test_exports_are_pointed_at_this_interpreter_once(tmp_path):
    export = tmp_path / "share/std_msgs/cmake/export_std_msgs__rosidl_generator_pyExport.cmake"
    export.parent.mkdir(parents=True)
    export.write_text(FOREIGN)
    clean = tmp_path / "share/other/cmake/otherConfig.cmake"
    clean.parent.mkdir(parents=True)
    clean.write_text("set(X /opt/ros/jazzy)\n")
    assert repair_exports(tmp_path) == [export]
    text = export.read_text()
    assert "/opt/python" not in text
    assert sysconfig.get_paths()["include"] in text and numpy.get_include() in text
    assert clean.read_text() == "set(X /opt/ros/jazzy)\n"
    assert repair_exports(tmp_path) == []  # idempotent


def test_rebuild_only_when_compiled_inputs_or_installed_file_names_change(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("CMakeLists.txt", "package.xml", "msg", "srv", "config", "frs_ros"):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    before = inputs_fingerprint(source)
    (source / "frs_ros" / "cli.py").write_text("# edited\n")  # symlinked: no rebuild
    (source / "config" / "perception.yaml").write_text("# edited\n")
    assert inputs_fingerprint(source) == before
    (source / "frs_ros" / "new_module.py").write_text("")  # a new file to link
    after_new = inputs_fingerprint(source)
    assert after_new != before
    (source / "msg" / "Twin.msg").write_text("# changed interface\n")
    assert inputs_fingerprint(source) != after_new


def test_workspace_layout_is_inside_the_environment(tmp_path):
    ws = Workspace(source=ROOT, prefix=tmp_path)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert ws.root == tmp_path / "frs_ros_ws"
    assert ws.site_packages == tmp_path / f"frs_ros_ws/install/frs_ros/lib/{version}/site-packages"
    assert not ws.is_built()
