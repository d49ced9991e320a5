"""The perception cores of a model profile on its backend: torch, or onnxruntime.

``load_cores(profile)`` is what ``PerceptionPipeline.from_profile`` calls, so the CLI, the
ROS nodes and the evaluation all run the backend the profile names (``backend:`` in
``config/models/*.yaml``).

The ``onnx`` backend runs graphs exported from the profile's models. Choice: they are
exported **on first use** (with a warning naming the directory; the released checkpoints
take minutes) into ``onnx_dir``, by default a cache directory keyed by a hash of
everything the graphs depend on (model sources and revisions, input sizes, the file
signatures of local model directories, the manifest version), so a changed profile never
loads stale graphs and an unchanged one never re-exports. Exporting needs torch; a
deployment without it gets an error with the exact export command to run elsewhere.

The depth graph has one fixed input shape (the tracer bakes DINOv2's position-embedding
interpolation), so depth graphs are exported per network input shape, on the first frame
of that shape, into ``depth_<h>x<w>/`` under the export directory (a camera has one shape,
so this happens once per camera).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frs_ros.perception.cores import DepthCore, Owlv2Core, Sam2Core
from frs_ros.perception.models import (
    ModelProfile,
    depth_input_size,
    load_owlv2_tokenizer,
    owlv2_image_size,
    profile_path,
    sam2_image_size,
)
from frs_ros.perception.onnx.manifest import DEPTH, MANIFEST, MANIFEST_VERSION

log = logging.getLogger(__name__)


@dataclass
class Cores:
    """The networks a ``PerceptionPipeline`` runs, and OWLv2's tokenizer."""

    sam2: Sam2Core
    owlv2: Owlv2Core
    tokenizer: Any
    depth: DepthCore | None


def load_cores(profile: ModelProfile, depth: bool = True) -> Cores:
    """The cores of ``profile`` on its backend; ``depth=False`` skips Depth Anything."""
    if profile.backend == "torch":
        from frs_ros.perception.torch_cores import TorchDepthCore, TorchOwlv2Core, TorchSam2Core

        owlv2, tokenizer = TorchOwlv2Core.from_profile(profile)
        depth_core = TorchDepthCore.from_profile(profile) if depth else None
        return Cores(TorchSam2Core.from_profile(profile), owlv2, tokenizer, depth_core)
    return load_onnx_cores(profile, depth=depth)


# --------------------------------------------------------------------------- onnx


def cache_root() -> Path:
    """``$FRS_CACHE_DIR``, else ``$XDG_CACHE_HOME/frs_ros``, else ``~/.cache/frs_ros``."""
    if os.environ.get("FRS_CACHE_DIR"):
        return Path(os.environ["FRS_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "frs_ros"


def _source_signature(source: str) -> Any:
    """A local model directory's file names, sizes and modification times (a re-downloaded
    or retrained checkpoint changes them); a hub id stands for itself."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return source
    return [
        (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
        if p.is_file()
    ]


def export_key(profile: ModelProfile) -> str:
    """Hash of what the exported graphs depend on (not device, backend, threads, config)."""
    keys = {
        "manifest_version": MANIFEST_VERSION,
        "sources": [_source_signature(s) for s in (profile.sam2, profile.owlv2, profile.depth)],
        "revision": profile.revision,
        "tiny": profile.tiny,
        "seed": profile.seed if profile.tiny else None,
        "sizes": [sam2_image_size(profile), owlv2_image_size(profile), depth_input_size(profile)],
    }
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]


def onnx_export_dir(profile: ModelProfile) -> Path:
    """``onnx_dir`` of the profile, or ``<cache>/onnx/<name>-<export key>``."""
    if profile.onnx_dir:
        return Path(profile.onnx_dir).expanduser()
    return cache_root() / "onnx" / f"{Path(profile.name).name}-{export_key(profile)}"


def _export_command(profile: ModelProfile, out: Path, frame: str = "") -> str:
    # A profile read from a YAML path carries only the file's stem as its name.
    models = profile.name if profile_path(profile.name).is_file() else "<the profile's YAML>"
    return f"python -m frs_ros.perception.onnx.export --models {models} --out {out}{frame}"


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _export_into(out: Path, what: str, export: Any, command: str) -> None:
    """Run ``export(tmp_dir)`` and move the result to ``out`` (atomic for readers: another
    process sees either no directory or a complete one)."""
    if not _torch_available():
        raise RuntimeError(
            f"the onnx backend needs {what} exported in {out}, and exporting needs torch, "
            f"which is not installed here; run `{command}` on a machine with torch and copy "
            f"{out} here"
        )
    if out.exists() and any(out.iterdir()):
        raise RuntimeError(
            f"{out} exists but holds no {MANIFEST}; remove it, or point onnx_dir elsewhere"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    log.warning("exporting %s to ONNX in %s (once; minutes for real checkpoints)", what, out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        export(tmp)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except OSError:
        if not (out / MANIFEST).is_file():  # not "another process finished first"
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_onnx_export(profile: ModelProfile) -> Path:
    """The export directory of ``profile`` with SAM 2 and OWLv2 graphs, exported if absent."""
    out = onnx_export_dir(profile)
    if not (out / MANIFEST).is_file():

        def export(tmp: Path) -> None:
            from frs_ros.perception import models
            from frs_ros.perception.onnx.export import export_models

            owlv2, _ = models.load_owlv2(profile)
            export_models(
                tmp,
                sam2=models.load_sam2(profile),
                owlv2=owlv2,
                owlv2_image_size=owlv2_image_size(profile),
                source=profile.name,
            )

        what = f"the {profile.name!r} profile's SAM 2 and OWLv2"
        _export_into(out, what, export, _export_command(profile, out))
    return out


class ShapeCachedOrtDepthCore:
    """``DepthCore`` on onnxruntime for frames of any shape: one depth graph per network
    input shape, taken from the export directory (its own depth graph, or
    ``depth_<h>x<w>/``) or exported there on the first frame of that shape."""

    def __init__(
        self, profile: ModelProfile, export_dir: Path, providers: list[str], threads: int | None
    ) -> None:
        self.profile = profile
        self.input_size = depth_input_size(profile)
        self.export_dir = export_dir
        self._providers = providers
        self._threads = threads
        self._cores: dict[tuple[int, int], Any] = {}

    def predict(self, pixel_values: np.ndarray) -> np.ndarray:
        hw = (int(pixel_values.shape[2]), int(pixel_values.shape[3]))
        if hw not in self._cores:
            self._cores[hw] = self._load(hw)
        return self._cores[hw].predict(pixel_values)

    def _load(self, hw: tuple[int, int]) -> Any:
        from frs_ros.perception.onnx import runtime

        export = runtime.OnnxExport.open(self.export_dir)
        if DEPTH in export.manifest["graphs"] and tuple(export.manifest["depth"]["input_hw"]) == hw:
            return runtime.load_depth_core(export, self._providers, threads=self._threads)
        out = self.export_dir / f"depth_{hw[0]}x{hw[1]}"
        if not (out / MANIFEST).is_file():
            profile = self.profile

            def export_depth(tmp: Path) -> None:
                from frs_ros.perception import models
                from frs_ros.perception.onnx.export import export_models

                # frame_hw = the network input: DPT's resize leaves a size it produced as is
                export_models(
                    tmp,
                    depth=models.load_depth(profile),
                    depth_input_size=self.input_size,
                    frame_hw=hw,
                    source=profile.name,
                )

            what = f"the {profile.name!r} profile's Depth Anything for {hw[1]}x{hw[0]} inputs"
            command = _export_command(profile, out, f" --frame-size {hw[0]}x{hw[1]}")
            _export_into(out, what, export_depth, command)
        depth_export = runtime.OnnxExport.open(out)
        return runtime.load_depth_core(depth_export, self._providers, threads=self._threads)


def load_onnx_cores(profile: ModelProfile, depth: bool = True) -> Cores:
    """onnxruntime cores of ``profile`` (exported on first use, see the module docstring)."""
    from frs_ros.perception.onnx import runtime

    root = ensure_onnx_export(profile)
    export = runtime.OnnxExport.open(root)
    providers = runtime.providers_for("cpu" if profile.device == "cpu" else "cuda")
    kw = {"threads": profile.threads}
    _check_sizes(export.manifest, profile, root)
    return Cores(
        sam2=runtime.load_sam2_core(export, providers, **kw),
        owlv2=runtime.load_owlv2_core(export, providers, **kw),
        tokenizer=load_owlv2_tokenizer(profile),
        depth=ShapeCachedOrtDepthCore(profile, root, providers, profile.threads) if depth else None,
    )


def _check_sizes(manifest: dict[str, Any], profile: ModelProfile, root: Path) -> None:
    """An explicit ``onnx_dir`` may hold graphs of other sizes than the profile asks for."""
    want = {"sam2": sam2_image_size(profile), "owlv2": owlv2_image_size(profile)}
    for family, size in want.items():
        got = manifest.get(family, {}).get("image_size")
        if got != size:
            raise ValueError(
                f"{root} holds {family} graphs for {got} px inputs but profile "
                f"{profile.name!r} asks for {size}; export again "
                f"(`{_export_command(profile, root)}` into an empty directory)"
            )
