"""The pip-only ROS 2 route: build this package against the ROS 2 Jazzy wheels installed in
the current virtual environment (``pip install -e ".[ros]"``) and make that environment find
the result. No system ROS, no sourcing: every Python started from the venv sees it.

What a system ROS install does with ``colcon build`` + ``source install/setup.bash``, done
inside the venv (docs/ros.md, "pip-only route"):

1. repair the wheels' exported CMake files: ``*__rosidl_generator_pyExport.cmake`` name the
   wheel builder's ``/opt/python/cp311-cp311/...`` Python and numpy include directories,
   which do not exist here; they are pointed at this interpreter's real ones;
2. ``colcon build`` this package (rosidl interfaces + the Python package, symlinked) into
   ``<venv>/frs_ros_ws``, skipped when its inputs did not change since the last build;
3. link the generated ``libfrs_ros__*.so`` into ``<venv>/lib``: rosidl's type-support
   dispatch ``dlopen``s them by name, and the wheels' bootstrapper
   (``ros_wheels_bootstrapper``) puts ``<venv>/lib`` on ``LD_LIBRARY_PATH`` of every Python
   started from the venv;
4. a ``.pth`` file puts the install's site-packages on ``sys.path``, where ``frs_ros.msg``
   and ``frs_ros.srv`` resolve (``frs_ros/__init__.py`` extends the package path).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

PACKAGE = "frs_ros"
# The wheel builder's interpreter paths baked into the exported CMake files.
_FOREIGN_PYTHON = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
_FOREIGN_NUMPY = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_)?core/include"
)
# A change of these files' content triggers a rebuild (they are compiled or configure CMake);
# installed files are symlinks (--symlink-install), so only adding or removing one does.
_BUILT_FROM = ("CMakeLists.txt", "package.xml", "msg", "srv")
_INSTALLED = ("scripts", "launch", "config", "rviz", PACKAGE)


@dataclass(frozen=True)
class Workspace:
    """Where the pip-only route builds: ``root`` holds colcon's build, install and log."""

    source: Path  # the package source: the directory holding package.xml
    prefix: Path  # the virtual environment (sys.prefix)

    @property
    def root(self) -> Path:
        return self.prefix / "frs_ros_ws"

    @property
    def install(self) -> Path:
        return self.root / "install"

    @property
    def package_prefix(self) -> Path:
        return self.install / PACKAGE

    @property
    def site_packages(self) -> Path:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.package_prefix / "lib" / version / "site-packages"

    @property
    def stamp(self) -> Path:
        return self.root / "inputs.sha256"

    @property
    def pth(self) -> Path:
        return Path(sysconfig.get_paths()["purelib"]) / "frs_ros_interfaces.pth"

    def is_built(self) -> bool:
        return (self.site_packages / PACKAGE / "msg" / "__init__.py").is_file()


def default_workspace() -> Workspace:
    """The source tree this module belongs to, built into the running virtual environment."""
    source = Path(__file__).resolve().parents[2]
    if not (source / "package.xml").is_file():
        raise FileNotFoundError(
            f"no package.xml next to {source / PACKAGE}: the pip-only ROS route builds from a "
            "source checkout (pip install -e .), not from an installed wheel"
        )
    if sys.prefix == sys.base_prefix:
        raise RuntimeError(
            "the pip-only ROS route builds into a virtual environment; activate or call "
            "the venv's own `frs` (e.g. .venv/bin/frs ros build)"
        )
    return Workspace(source=source, prefix=Path(sys.prefix))


def missing_prerequisites() -> list[str]:
    """What the build needs and does not find, each with how to get it."""
    missing = []
    if find_spec("rclpy") is None or find_spec("rosidl_generator_py") is None:
        missing.append('the ROS 2 Jazzy wheels: pip install -e ".[ros]"')
    if shutil.which("colcon", path=_path_with_venv()) is None:
        missing.append('colcon: pip install -e ".[ros]" (colcon-common-extensions)')
    if shutil.which("cmake") is None:
        missing.append("CMake >= 3.16: apt install cmake (or pip install cmake)")
    if shutil.which("cc") is None or shutil.which("c++") is None:
        missing.append("a C and C++ compiler: apt install build-essential")
    return missing


def repair_exports(prefix: Path) -> list[Path]:
    """Point the wheels' exported CMake files at this interpreter's include directories.

    Only files under ``prefix/share`` that name the foreign paths are rewritten, so a
    second call changes nothing. Returns the rewritten files."""
    import numpy

    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    fixed = []
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = _FOREIGN_NUMPY.sub(numpy_include, _FOREIGN_PYTHON.sub(python_include, text))
        if new != text:
            path.write_text(new)
            fixed.append(path)
    return fixed


def inputs_fingerprint(source: Path) -> str:
    """sha256 over what needs a new colcon build: the content of the files it compiles, the
    names of the files it installs."""
    digest = hashlib.sha256(sys.executable.encode())
    for name in (*_BUILT_FROM, *_INSTALLED):
        root = source / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(source)).encode())
            if name in _BUILT_FROM:
                digest.update(path.read_bytes())
    return digest.hexdigest()


def build(ws: Workspace, *, force: bool = False, echo: Callable[[str], None] = print) -> bool:
    """Build (or find up to date) the package in ``ws``; True when colcon ran."""
    missing = missing_prerequisites()
    if missing:
        raise RuntimeError("cannot build the ROS package; missing:\n  " + "\n  ".join(missing))
    fingerprint = inputs_fingerprint(ws.source)
    up_to_date = (
        not force
        and ws.is_built()
        and ws.stamp.is_file()
        and ws.stamp.read_text().strip() == fingerprint
    )
    if up_to_date:
        echo(f"{PACKAGE}: up to date in {ws.install}")
    else:
        fixed = repair_exports(ws.prefix)
        if fixed:
            echo(f"repaired {len(fixed)} exported CMake file(s) of the ROS wheels")
        _colcon_build(ws, echo)
        ws.stamp.write_text(fingerprint + "\n")
    _link_into_venv(ws)
    return not up_to_date


def _path_with_venv() -> str:
    return os.pathsep.join([str(Path(sys.prefix) / "bin"), os.environ.get("PATH", "")])


def _colcon_build(ws: Workspace, echo: Callable[[str], None]) -> None:
    # colcon builds the source through a link inside the workspace: CMake refuses to export
    # include directories that lie inside the source directory, and the numpy include of a
    # venv kept in the checkout (.venv/) would otherwise be inside it.
    link = ws.root / "src" / PACKAGE
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != ws.source.resolve():
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(ws.source, target_is_directory=True)
    env = {
        **os.environ,
        "PATH": _path_with_venv(),
        "AMENT_PREFIX_PATH": str(ws.prefix),
        "CMAKE_PREFIX_PATH": str(ws.prefix),
    }
    command = [
        str(Path(sys.prefix) / "bin" / "colcon"),
        "--log-base",
        str(ws.root / "log"),
        "build",
        "--paths",  # exactly this package: no crawl through the venv's share/ package.xml files
        str(link),
        "--build-base",
        str(ws.root / "build"),
        "--install-base",
        str(ws.install),
        "--symlink-install",  # Python sources stay editable, as with pip install -e
        "--cmake-args",
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DBUILD_TESTING=OFF",
    ]
    log = ws.root / "build.log"
    echo(f"colcon build {PACKAGE} (interfaces + Python) -> {ws.install}; log: {log}")
    with log.open("w") as out:
        code = subprocess.call(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    if code != 0 or not ws.is_built():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"colcon build failed (exit {code}); last lines of {log}:\n{tail}")


def _link_into_venv(ws: Workspace) -> None:
    """The generated libraries into ``<venv>/lib`` and the install on ``sys.path``."""
    lib = ws.prefix / "lib"
    for library in sorted((ws.package_prefix / "lib").glob(f"lib{PACKAGE}__*.so")):
        link = lib / library.name
        if link.is_symlink() or link.exists():
            if link.resolve() == library.resolve():
                continue
            link.unlink()
        link.symlink_to(library)
    ws.pth.write_text(f"{ws.site_packages}\n")


def ros_environment(ws: Workspace) -> dict[str, str]:
    """Environment for processes that need the package in the ament index (its share/)."""
    ament = [str(ws.package_prefix), str(ws.prefix), os.environ.get("AMENT_PREFIX_PATH", "")]
    return {**os.environ, "AMENT_PREFIX_PATH": os.pathsep.join(p for p in ament if p)}
