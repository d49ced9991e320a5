"""onnxruntime implementations of the perception core protocols (``cores.py``).

Loaded from an export directory (``python -m frs_ros.perception.onnx.export``). No torch
import: a deployment can run perception with numpy + onnxruntime only.

Execution providers: ``providers_for("auto")`` picks TensorRT, then CUDA, then CPU among
those this onnxruntime build has; ``"tensorrt"`` adds the TensorRT EP options (FP16, engine
and timing caches, optimisation profiles for the dynamic axes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from frs_ros.perception.onnx.manifest import (
    DEPTH,
    MANIFEST,
    OWLV2,
    SAM2_DECODER_MULTI,
    SAM2_DECODER_SINGLE,
    SAM2_ENCODER,
)
from frs_ros.perception.onnx.profiles import DEFAULT_DIM_RANGES, optimisation_profile

Provider = str | tuple[str, dict[str, Any]]

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
# execution providers to try, in order
BACKENDS: dict[str, tuple[str, ...]] = {
    "auto": (TRT_EP, CUDA_EP, CPU_EP),
    "tensorrt": (TRT_EP, CUDA_EP, CPU_EP),
}
BACKENDS |= {"cuda": (CUDA_EP, CPU_EP), "cpu": (CPU_EP,)}

# SAM's box-corner point labels (``Sam2PromptEncoder.point_embed`` rows 2 and 3).
BOX_CORNER_LABELS = (2, 3)


class OnnxExportError(FileNotFoundError):
    """The export directory lacks the manifest or a graph file it names."""


def tensorrt_provider_options(
    cache_dir: str | Path,
    *,
    fp16: bool = True,
    profile: Mapping[str, tuple[Sequence[int], Sequence[int], Sequence[int]]] | None = None,
) -> dict[str, Any]:
    """Options of onnxruntime's TensorRT EP: engines (and timing) cached under ``cache_dir``
    so they are built once per model/GPU, and explicit min/opt/max shapes for dynamic
    inputs (without them the EP rebuilds an engine whenever a shape leaves its range)."""
    options: dict[str, Any] = {
        "trt_fp16_enable": fp16,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache_dir),
    }
    if profile:
        for i, key in enumerate(("min", "opt", "max")):
            options[f"trt_profile_{key}_shapes"] = ",".join(
                f"{name}:" + "x".join(str(d) for d in shapes[i]) for name, shapes in profile.items()
            )
    return options


def providers_for(backend: str = "auto") -> list[str]:
    """Execution providers, best first, for ``backend`` (auto, tensorrt, cuda, cpu).

    ``auto`` keeps what this onnxruntime build has; naming a GPU backend this build lacks
    is an error rather than a silent CPU fallback."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    available = set(ort.get_available_providers())
    wanted = BACKENDS[backend]
    if backend != "auto" and wanted[0] not in available:
        raise ValueError(
            f"backend {backend!r} needs {wanted[0]}, which this onnxruntime build lacks "
            f"(available: {sorted(available)}); install onnxruntime-gpu on a CUDA machine"
        )
    return [p for p in wanted if p in available]


@dataclass(frozen=True)
class OnnxExport:
    """An export directory and its manifest."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, root: str | Path) -> OnnxExport:
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise OnnxExportError(
                f"no {MANIFEST} in {root}: export the models first with "
                f"`python -m frs_ros.perception.onnx.export --models default --out {root}`"
            )
        return cls(root, json.loads(path.read_text()))

    def graph_path(self, name: str) -> Path:
        entry = self.manifest["graphs"].get(name)
        if entry is None:
            raise OnnxExportError(
                f"{self.root} has no {name!r} graph (it has {sorted(self.manifest['graphs'])}); "
                "re-export with the model included"
            )
        path = self.root / entry["file"]
        if not path.is_file():
            raise OnnxExportError(f"{path} named in {self.root / MANIFEST} is missing")
        return path

    def session(
        self,
        name: str,
        providers: Sequence[Provider] | None = None,
        *,
        trt_cache_dir: str | Path | None = None,
        fp16: bool = True,
        threads: int | None = None,
    ) -> ort.InferenceSession:
        """A session for graph ``name``. When the TensorRT EP is among ``providers`` (as a
        bare name) it gets this graph's options; ``trt_cache_dir`` defaults to
        ``<export dir>/trt_cache``."""
        path = self.graph_path(name)
        resolved: list[Provider] = []
        for p in providers or providers_for("auto"):
            if p == TRT_EP:
                profile = optimisation_profile(
                    self.manifest["graphs"][name]["inputs"], DEFAULT_DIM_RANGES
                )
                cache = trt_cache_dir or self.root / "trt_cache"
                p = (TRT_EP, tensorrt_provider_options(cache, fp16=fp16, profile=profile))
            resolved.append(p)
        return ort.InferenceSession(
            str(path), sess_options=cpu_session_options(threads), providers=resolved
        )


def cpu_session_options(threads: int | None = None) -> ort.SessionOptions:
    """Session options for the CPU work of a perception graph: ``threads`` intra-op threads
    (None: onnxruntime's default, one per physical core), operators run one after another.

    The pipeline runs one graph at a time, so inter-op parallelism has nothing to overlap,
    and idle intra-op threads do not spin: five sessions (one pool each) and the reasoner
    share a robot's few cores, and a spinning pool steals them from whichever runs next."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _input_names(session: ort.InferenceSession) -> list[str]:
    return [i.name for i in session.get_inputs()]


def sam2_prompt_points(
    points: np.ndarray | None, labels: np.ndarray | None, boxes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The decoder graph's (points [1, N, P, 2] float32, labels [1, N, P] int64): boxes
    become their two corners labelled 2 and 3, after any points (the order
    ``Sam2PromptEncoder`` concatenates them in)."""
    if points is None and boxes is None:
        raise ValueError("SAM 2 decode needs point prompts, box prompts or both")
    parts_p: list[np.ndarray] = []
    parts_l: list[np.ndarray] = []
    if points is not None:
        points = np.asarray(points, dtype=np.float32)
        if labels is None:
            raise ValueError("point prompts need labels [1, N, P] (1 foreground, 0 background)")
        labels = np.asarray(labels)
        if points.ndim != 4 or points.shape[0] != 1 or points.shape[-1] != 2:
            raise ValueError(f"points must be [1, N, P, 2], got {points.shape}")
        if labels.shape != points.shape[:3]:
            raise ValueError(
                f"labels must be {points.shape[:3]} to match points, got {labels.shape}"
            )
        parts_p.append(points)
        parts_l.append(labels.astype(np.int64))
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.ndim != 3 or boxes.shape[0] != 1 or boxes.shape[-1] != 4:
            raise ValueError(f"boxes must be [1, N, 4] (x0, y0, x1, y1), got {boxes.shape}")
        if parts_p and parts_p[0].shape[1] != boxes.shape[1]:
            raise ValueError(
                f"points and boxes must prompt the same number of masks, got "
                f"{parts_p[0].shape[1]} and {boxes.shape[1]}"
            )
        parts_p.append(boxes.reshape(1, boxes.shape[1], 2, 2))
        corner = np.array(BOX_CORNER_LABELS, dtype=np.int64)
        parts_l.append(np.broadcast_to(corner, (1, boxes.shape[1], 2)))
    return np.concatenate(parts_p, axis=2), np.concatenate(parts_l, axis=2)


class OrtSam2Core:
    """``Sam2Core`` on onnxruntime: encoder graph + one decoder graph per ``multimask``."""

    def __init__(
        self,
        encoder: ort.InferenceSession,
        decoder_multi: ort.InferenceSession,
        decoder_single: ort.InferenceSession,
        image_size: int,
    ) -> None:
        self.image_size = image_size
        self._encoder = encoder
        self._decoders = {True: decoder_multi, False: decoder_single}
        self._embedding_names = [o.name for o in encoder.get_outputs()]

    def encode(self, pixel_values: np.ndarray) -> list[np.ndarray]:
        expected = (1, 3, self.image_size, self.image_size)
        if pixel_values.shape != expected:
            raise ValueError(f"SAM 2 pixel_values must be {expected}, got {pixel_values.shape}")
        return self._encoder.run(None, {"pixel_values": pixel_values.astype(np.float32)})

    def decode(
        self,
        embeddings: list[np.ndarray],
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(embeddings) != len(self._embedding_names):
            raise ValueError(
                f"expected {len(self._embedding_names)} image embeddings (as encode returns), "
                f"got {len(embeddings)}"
            )
        prompt_points, prompt_labels = sam2_prompt_points(points, labels, boxes)
        feeds = dict(zip(self._embedding_names, embeddings, strict=True))
        feeds |= {"points": prompt_points, "labels": prompt_labels}
        masks, iou = self._decoders[bool(multimask)].run(["pred_masks", "iou_scores"], feeds)
        return masks, iou


class OrtOwlv2Core:
    """``Owlv2Core`` on onnxruntime."""

    def __init__(self, session: ort.InferenceSession, image_size: int) -> None:
        self.image_size = image_size
        self._session = session

    def detect(
        self, pixel_values: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        expected = (1, 3, self.image_size, self.image_size)
        if pixel_values.shape != expected:
            raise ValueError(f"OWLv2 pixel_values must be {expected}, got {pixel_values.shape}")
        if input_ids.ndim != 2 or input_ids.shape != attention_mask.shape:
            raise ValueError(
                f"input_ids and attention_mask must both be [Q, L], got {input_ids.shape} "
                f"and {attention_mask.shape}"
            )
        feeds = {
            "pixel_values": pixel_values.astype(np.float32),
            "input_ids": input_ids.astype(np.int64),
            "attention_mask": attention_mask.astype(np.int64),
        }
        logits, boxes = self._session.run(["logits", "pred_boxes"], feeds)
        return logits, boxes


class OrtDepthCore:
    """``DepthCore`` on onnxruntime. The graph has one fixed input shape ``input_hw``
    (the export's ``--frame-size``), so frames of another shape are refused."""

    def __init__(
        self, session: ort.InferenceSession, input_size: int, input_hw: Sequence[int]
    ) -> None:
        self.input_size = input_size
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self._session = session

    def predict(self, pixel_values: np.ndarray) -> np.ndarray:
        expected = (1, 3, *self.input_hw)
        if pixel_values.shape != expected:
            raise ValueError(
                f"depth pixel_values must be {expected}, got {pixel_values.shape}: the depth "
                "graph was exported for another frame shape; re-export with "
                "`--frame-size HEIGHTxWIDTH` of your camera"
            )
        (depth,) = self._session.run(
            ["predicted_depth"], {"pixel_values": pixel_values.astype(np.float32)}
        )
        return depth


@dataclass
class OnnxCores:
    sam2: OrtSam2Core
    owlv2: OrtOwlv2Core
    depth: OrtDepthCore


def load_sam2_core(
    export: OnnxExport, providers: Sequence[Provider] | None = None, **kw: Any
) -> OrtSam2Core:
    return OrtSam2Core(
        export.session(SAM2_ENCODER, providers, **kw),
        export.session(SAM2_DECODER_MULTI, providers, **kw),
        export.session(SAM2_DECODER_SINGLE, providers, **kw),
        image_size=export.manifest["sam2"]["image_size"],
    )


def load_owlv2_core(
    export: OnnxExport, providers: Sequence[Provider] | None = None, **kw: Any
) -> OrtOwlv2Core:
    return OrtOwlv2Core(
        export.session(OWLV2, providers, **kw), export.manifest["owlv2"]["image_size"]
    )


def load_depth_core(
    export: OnnxExport, providers: Sequence[Provider] | None = None, **kw: Any
) -> OrtDepthCore:
    info = export.manifest["depth"]
    return OrtDepthCore(
        export.session(DEPTH, providers, **kw), info["input_size"], info["input_hw"]
    )


def load_onnx_cores(
    export_dir: str | Path, providers: Sequence[Provider] | None = None, **session_kw: Any
) -> OnnxCores:
    """The three cores from an export directory. ``session_kw``: ``trt_cache_dir``,
    ``fp16``, ``threads`` (see ``OnnxExport.session``)."""
    export = OnnxExport.open(export_dir)
    return OnnxCores(
        sam2=load_sam2_core(export, providers, **session_kw),
        owlv2=load_owlv2_core(export, providers, **session_kw),
        depth=load_depth_core(export, providers, **session_kw),
    )
