"""The ROS 2 package manifest and build files: package.xml, CMakeLists.txt, colcon discovery.

Nothing here needs ROS: catkin_pkg parses package.xml the way rosdep/bloom do, and colcon
(colcon-core + colcon-ros + colcon-package-information) discovers the package as colcon
build would in a Jazzy workspace.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package
from cmake_lists import Command, parse

ROOT = Path(__file__).resolve().parents[1]
CMAKE = parse(ROOT / "CMakeLists.txt")

RUNTIME_DEPS = {
    "rclpy",
    "lifecycle_msgs",
    "std_msgs",
    "sensor_msgs",
    "visualization_msgs",
    "geometry_msgs",
    "builtin_interfaces",
    "message_filters",
    "launch",
    "launch_ros",
    "rviz2",
    "rosidl_default_runtime",
    "python3-numpy",
    "python3-yaml",
    "python3-pil",
    "python3-pycocotools",
}


@pytest.fixture(scope="module")
def package():
    pkg = parse_package(ROOT / "package.xml")
    pkg.validate()  # raises InvalidPackage on any schema violation
    return pkg


def test_manifest_is_format_3_ament_cmake_interface_package(package) -> None:
    assert package.name == "frs_ros"
    assert package.package_format == 3
    assert package.get_build_type() == "ament_cmake"
    assert [g.name for g in package.member_of_groups] == ["rosidl_interface_packages"]
    assert [str(lic) for lic in package.licenses] == ["Apache-2.0"]
    assert package.maintainers and package.maintainers[0].email


def test_manifest_lists_build_runtime_and_test_dependencies(package) -> None:
    buildtool = {d.name for d in package.buildtool_depends}
    run = {d.name for d in package.exec_depends}
    assert {"ament_cmake", "rosidl_default_generators"} <= buildtool
    assert RUNTIME_DEPS - run == set()
    # every interface dependency of the .msg files is needed to build them too
    build = {d.name for d in package.build_depends}
    assert {"std_msgs", "sensor_msgs", "builtin_interfaces"} <= build
    assert {"ament_cmake_pytest", "python3-pytest"} <= {d.name for d in package.test_depends}


def test_manifest_version_matches_pyproject(package) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{package.version}"' in pyproject


def test_the_package_and_cli_report_the_one_version(package) -> None:
    import frs_ros

    assert frs_ros.__version__ == package.version
    out = subprocess.run(
        [sys.executable, "-m", "frs_ros.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.split() == ["frs", package.version]


def _commands(name: str) -> list[Command]:
    return [c for c in CMAKE if c.name == name]


def _rosidl() -> Command:
    (rosidl,) = _commands("rosidl_generate_interfaces")
    assert rosidl.args[0] == "${PROJECT_NAME}", "interfaces must belong to this package"
    return rosidl


def _cmake_interface_files() -> list[str]:
    return _rosidl().args[1 : _rosidl().args.index("DEPENDENCIES")]


def _install(kind: str, destination: str) -> Command:
    """The one install(<kind> ... DESTINATION <destination>) command."""
    (found,) = [
        c
        for c in _commands("install")
        if c.args[0] == kind and c.after("DESTINATION")[:1] == [destination]
    ]
    return found


def test_cmake_generates_exactly_the_interface_files_in_the_tree() -> None:
    on_disk = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("msg/*.msg")) + sorted(
        str(p.relative_to(ROOT)) for p in ROOT.glob("srv/*.srv")
    )
    assert sorted(_cmake_interface_files()) == sorted(on_disk)
    assert len(on_disk) >= 6


def test_cmake_interface_dependencies_cover_the_msg_files() -> None:
    deps = set(_rosidl().after("DEPENDENCIES"))
    used = set()
    for f in _cmake_interface_files():
        used |= set(re.findall(r"^\s*(\w+)/\w+", (ROOT / f).read_text(), re.M))
    assert used - {"frs_ros"} <= deps
    # every dependency is found before the interfaces are generated
    found = {c.args[0] for c in _commands("find_package") if "REQUIRED" in c.args}
    assert deps <= found


def test_cmake_avoids_the_duplicate_python_install_target() -> None:
    # ros2/rosidl_python#141: a second ament_python_install_package(frs_ros) next to
    # rosidl_generate_interfaces breaks the Humble/Jazzy build.
    assert _commands("ament_python_install_package") == []
    python = _install("DIRECTORY", "${PYTHON_INSTALL_DIR}/${PROJECT_NAME}")
    assert python.args[1] == "${PROJECT_NAME}/"  # the package's contents, not a nested dir
    # the Python package is installed after (hence over) the generated one
    assert CMAKE.index(_rosidl()) < CMAKE.index(python)
    # ... without replacing the generated msg/ and srv/ subpackages
    excluded = {
        python.args[i + 1]
        for i, arg in enumerate(python.args)
        if arg == "PATTERN" and python.args[i + 2 : i + 3] == ("EXCLUDE",)
    }
    assert {"msg", "srv"} <= excluded
    assert not (ROOT / "frs_ros" / "msg").exists() and not (ROOT / "frs_ros" / "srv").exists()
    assert CMAKE[-1].name == "ament_package"


def test_cmake_installs_node_executables_and_share_dirs() -> None:
    # `ros2 run frs_ros <node>` looks in lib/${PROJECT_NAME}
    scripts = _install("PROGRAMS", "lib/${PROJECT_NAME}").after("PROGRAMS", until={"DESTINATION"})
    assert scripts, "no node executables installed"
    for script in scripts:
        path = ROOT / script
        assert path.is_file(), script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        module = re.search(r"from (frs_ros\.ros\.\w+) import main", path.read_text()).group(1)
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    share = _install("DIRECTORY", "share/${PROJECT_NAME}").after("DIRECTORY", until={"DESTINATION"})
    assert set(share) == {"launch", "config", "rviz"}


def _colcon() -> str:
    exe = Path(sys.executable).parent / "colcon"
    path = str(exe) if exe.exists() else shutil.which("colcon")
    if path is None:
        pytest.skip("colcon is not installed (pip install colcon-core colcon-ros)")
    if subprocess.run([path, "list", "--help"], capture_output=True).returncode != 0:
        pytest.skip("colcon list/info need colcon-package-information")
    return path


@pytest.mark.slow
def test_colcon_discovers_one_ament_cmake_package(tmp_path: Path) -> None:
    colcon = _colcon()
    out = subprocess.run(
        [colcon, "--log-base", str(tmp_path), "list", "--base-paths", str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert rows == [["frs_ros", str(ROOT), "(ros.ament_cmake)"]]


def test_colcon_info_reads_the_dependencies(tmp_path: Path) -> None:
    colcon = _colcon()
    out = subprocess.run(
        [colcon, "--log-base", str(tmp_path), "info", "--base-paths", str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "type: ros.ament_cmake" in out and "name: frs_ros" in out
    run = re.search(r"run: (.*)", out).group(1).split()
    assert set(run) >= RUNTIME_DEPS
