"""Export the perception networks to ONNX, with a JSON manifest the runtime loads from.

    python -m frs_ros.perception.onnx.export --models tiny|default|PROFILE.yaml --out DIR

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``. torch 2.13's
default dynamo exporter needs ``onnxscript``, which is not a dependency of this project;
the TorchScript exporter traces all four networks here and the parity tests
(``test/test_onnx_*.py``) check its graphs against torch. It warns that it is deprecated;
those warnings are silenced below so real ones stay visible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import onnx
import torch
from tqdm import tqdm

from frs_ros.perception.models import nested_config
from frs_ros.perception.onnx.manifest import (
    DEPTH,
    MANIFEST,
    MANIFEST_VERSION,
    OPSET,
    OWLV2,
    SAM2_DECODER_MULTI,
    SAM2_DECODER_SINGLE,
    SAM2_ENCODER,
)
from frs_ros.perception.onnx.wrappers import (
    DepthEstimator,
    Owlv2Detector,
    Sam2ImageEncoder,
    Sam2PromptDecoder,
)

if TYPE_CHECKING:
    from transformers import DepthAnythingForDepthEstimation, Owlv2ForObjectDetection, Sam2Model

    from frs_ros.perception.models import ModelProfile

log = logging.getLogger(__name__)
_Module = TypeVar("_Module", bound=torch.nn.Module)

ONNX_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
}


@dataclass
class GraphSpec:
    """One ONNX graph to export: a traceable module and example inputs."""

    name: str
    module: torch.nn.Module
    args: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)


def _prepared(model: _Module) -> _Module:
    # ONNX graphs are exported in float32 on CPU whatever the profile runs in; a runtime
    # may lower precision later (TensorRT FP16).
    return model.to(device="cpu", dtype=torch.float32).eval()


def sam2_graphs(model: Sam2Model) -> list[GraphSpec]:
    """Image encoder + one prompt decoder per ``multimask`` value."""
    model = _prepared(model)
    size = nested_config(model.config.prompt_encoder_config).image_size
    pixel_values = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        embeddings = model.get_image_embeddings(pixel_values)
    embedding_names = [f"image_embeddings_{i}" for i in range(len(embeddings))]
    # N = 2 prompts of P = 3 points: example sizes above 1 so the tracer cannot
    # specialise a broadcast on them.
    points = torch.tensor([[[[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]] * 2]) * size / 128
    labels = torch.tensor([[[1, 0, 1], [2, 3, 1]]], dtype=torch.int64)
    prompt_axes = {"points": {1: "num_prompts", 2: "points_per_prompt"}}
    prompt_axes["labels"] = prompt_axes["points"]
    out_axes = {"pred_masks": {1: "num_prompts"}, "iou_scores": {1: "num_prompts"}}
    specs = [
        GraphSpec(
            SAM2_ENCODER,
            Sam2ImageEncoder(model),
            (pixel_values,),
            ["pixel_values"],
            embedding_names,
        )
    ]
    for name, multimask in ((SAM2_DECODER_MULTI, True), (SAM2_DECODER_SINGLE, False)):
        specs.append(
            GraphSpec(
                name,
                Sam2PromptDecoder(model, multimask=multimask),
                (*(e.clone() for e in embeddings), points, labels),
                [*embedding_names, "points", "labels"],
                ["pred_masks", "iou_scores"],
                {**prompt_axes, **out_axes},
            )
        )
    return specs


def owlv2_graphs(model: Owlv2ForObjectDetection, image_size: int | None = None) -> list[GraphSpec]:
    """The detector at ``image_size`` (default: the config's; another size interpolates the
    position embedding, as ``TorchOwlv2Core`` does)."""
    model = _prepared(model)
    native = nested_config(model.config.vision_config).image_size
    size = image_size or native
    text = nested_config(model.config.text_config)
    length, vocab = text.max_position_embeddings, text.vocab_size
    pixel_values = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    input_ids = torch.randint(0, vocab, (2, length), generator=torch.Generator().manual_seed(0))
    attention_mask = torch.ones(2, length, dtype=torch.int64)
    attention_mask[1, length // 2 :] = 0
    query_axes = {0: "num_queries", 1: "query_length"}
    return [
        GraphSpec(
            OWLV2,
            Owlv2Detector(model, interpolate=size != native),
            (pixel_values, input_ids, attention_mask),
            ["pixel_values", "input_ids", "attention_mask"],
            ["logits", "pred_boxes"],
            {"input_ids": query_axes, "attention_mask": query_axes, "logits": {2: "num_queries"}},
        )
    ]


def depth_graphs(
    model: DepthAnythingForDepthEstimation, input_hw: tuple[int, int]
) -> list[GraphSpec]:
    """Fixed input shape: the TorchScript tracer bakes the DINOv2 position-embedding
    interpolation and DPT upsampling sizes into the graph (checked: a graph traced at one
    size returns that size for any other), so one graph serves one camera frame shape."""
    model = _prepared(model)
    pixel_values = torch.randn(1, 3, *input_hw, generator=torch.Generator().manual_seed(0))
    return [
        GraphSpec(
            DEPTH, DepthEstimator(model), (pixel_values,), ["pixel_values"], ["predicted_depth"]
        )
    ]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _value_info(values: Sequence[onnx.ValueInfoProto]) -> list[dict[str, Any]]:
    out = []
    for v in values:
        tensor = v.type.tensor_type
        shape = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        dtype = ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type))
        out.append({"name": v.name, "dtype": dtype, "shape": shape})
    return out


def export_graph(spec: GraphSpec, out_dir: Path) -> dict[str, Any]:
    """Export one graph; returns its manifest entry (file, hash, input/output signatures)."""
    path = out_dir / f"{spec.name}.onnx"
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # Exporter-internal notes: un-foldable strided slices, and advanced indexing
        # (OWLv2's text pooling indexes with argmax, never negative).
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
        torch.onnx.export(
            spec.module,
            spec.args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_axes=spec.dynamic_axes,
            do_constant_folding=True,
        )
    graph = onnx.load(str(path), load_external_data=False).graph
    return {
        "file": path.name,
        "sha256": file_sha256(path),
        "inputs": _value_info(graph.input),
        "outputs": _value_info(graph.output),
    }


def export_models(
    out_dir: str | Path,
    *,
    sam2: Sam2Model | None = None,
    owlv2: Owlv2ForObjectDetection | None = None,
    owlv2_image_size: int | None = None,
    depth: DepthAnythingForDepthEstimation | None = None,
    depth_input_size: int | None = None,
    frame_hw: tuple[int, int] | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Export the given models into ``out_dir`` and write ``manifest.json`` there.

    Models left out are not exported (the runtime then cannot load that core). OWLv2 runs
    at ``owlv2_image_size`` (default: its config's image size). The depth
    graph takes the network input that frames of ``frame_hw`` (height, width, after the
    pipeline's ``work_side`` downscale) are resized to; without it, ``depth_input_size`` squares.
    """
    if sam2 is None and owlv2 is None and depth is None:
        raise ValueError("export_models needs at least one of sam2, owlv2, depth")
    if depth is not None and depth_input_size is None:
        raise ValueError("exporting depth needs depth_input_size (a multiple of 14, e.g. 518)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # (family, its graphs, what the manifest records about it)
    families: list[tuple[str, Callable[[], list[GraphSpec]], dict[str, int | list[int]]]] = []
    if sam2 is not None:
        size = nested_config(sam2.config.prompt_encoder_config).image_size
        families.append(("sam2", lambda: sam2_graphs(sam2), {"image_size": size}))
    if owlv2 is not None:
        size = owlv2_image_size or nested_config(owlv2.config.vision_config).image_size
        families.append(("owlv2", lambda: owlv2_graphs(owlv2, size), {"image_size": size}))
    if depth is not None:
        assert depth_input_size is not None
        hw = (depth_input_size, depth_input_size)
        if frame_hw is not None:
            from frs_ros.perception.processing import depth_input_hw

            hw = depth_input_hw(frame_hw, depth_input_size)
        info: dict[str, int | list[int]] = {"input_size": depth_input_size, "input_hw": list(hw)}
        families.append(("depth", lambda: depth_graphs(depth, hw), info))
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "source": source,
        "opset": OPSET,
        "exporter": "torch.onnx.export(dynamo=False)",
        "torch": torch.__version__,
        "graphs": {},
    }
    n_graphs = sum({"sam2": 3, "owlv2": 1, "depth": 1}[name] for name, _, _ in families)
    with tqdm(total=n_graphs, desc="ONNX export", unit="graph") as bar:
        for name, build, info in families:
            manifest[name] = info
            bar.set_postfix_str(f"tracing {name}")
            for spec in build():
                bar.set_postfix_str(spec.name)
                manifest["graphs"][spec.name] = export_graph(spec, out)
                bar.update()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def export_profile(
    profile: str | ModelProfile, out_dir: str | Path, frame_hw: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Load the three models of a model profile and export them all."""
    from frs_ros.perception import models

    prof = models.load_profile(profile)
    owlv2, _tokenizer = models.load_owlv2(prof)
    return export_models(
        out_dir,
        sam2=models.load_sam2(prof),
        owlv2=owlv2,
        owlv2_image_size=models.owlv2_image_size(prof),
        depth=models.load_depth(prof),
        depth_input_size=models.depth_input_size(prof),
        frame_hw=frame_hw,
        source=prof.name,
    )


def _hw(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH, e.g. 480x640, got {text!r}"
        ) from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"frame size must be positive, got {text!r}")
    return h, w


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m frs_ros.perception.onnx.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--models", default="default", help="model profile: tiny, default or a profile YAML path"
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--frame-size",
        type=_hw,
        help="camera frame HEIGHTxWIDTH the depth graph is for (default: square input)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from frs_ros.perception.models import ModelUnavailableError

    try:
        manifest = export_profile(args.models, args.out, args.frame_size)
    except (ModelUnavailableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, entry in manifest["graphs"].items():
        size_mb = (args.out / entry["file"]).stat().st_size / 2**20
        print(f"{name:22s} {entry['file']:26s} {size_mb:8.1f} MiB")
    print(f"manifest: {args.out / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
