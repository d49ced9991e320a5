"""torch implementations of the core protocols (``frs_ros.perception.cores``).

Each wraps a transformers model: numpy arrays in, numpy float32 arrays out, run under
``torch.inference_mode`` on the model's device and dtype. Pre/post-processing is not here
(``frs_ros.perception.processing``), so an onnxruntime core can replace any of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from frs_ros.perception.models import (
    ModelProfile,
    depth_input_size,
    load_depth,
    load_owlv2,
    load_sam2,
    nested_config,
    owlv2_image_size,
)

if TYPE_CHECKING:
    from transformers import (
        DepthAnythingForDepthEstimation,
        Owlv2ForObjectDetection,
        PreTrainedTokenizerBase,
        Sam2Model,
    )


def _param(model: torch.nn.Module) -> torch.Tensor:
    return next(model.parameters())


def _to_tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=like.device, dtype=like.dtype)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float32).numpy()


class TorchSam2Core:
    """SAM 2.1: ``get_image_embeddings`` once per image, then prompt decoding."""

    def __init__(self, model: Sam2Model) -> None:
        self.model = model
        self.image_size = int(nested_config(model.config.prompt_encoder_config).image_size)

    @classmethod
    def from_profile(cls, profile: ModelProfile) -> TorchSam2Core:
        return cls(load_sam2(profile))

    @torch.inference_mode()
    def encode(self, pixel_values: np.ndarray) -> list[np.ndarray]:
        x = _to_tensor(pixel_values, _param(self.model))
        return [_to_numpy(e) for e in self.model.get_image_embeddings(x)]

    @torch.inference_mode()
    def decode(
        self,
        embeddings: list[np.ndarray],
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        like = _param(self.model)
        emb = [_to_tensor(e, like) for e in embeddings]
        pts = _to_tensor(points, like) if points is not None else None
        lbl = (
            torch.from_numpy(np.asarray(labels, np.int64)).to(like.device)
            if labels is not None
            else None
        )
        bxs = _to_tensor(boxes, like) if boxes is not None else None
        out = self.model(
            image_embeddings=emb,
            input_points=pts,
            input_labels=lbl,
            input_boxes=bxs,
            multimask_output=multimask,
        )
        return _to_numpy(out.pred_masks), _to_numpy(out.iou_scores)


class TorchOwlv2Core:
    """OWLv2 open-vocabulary detection (text queries already tokenised).

    ``image_size`` (default: the model config's) other than the config's runs the model
    with ``interpolate_pos_encoding``: the patch position embedding is resized to the
    input's grid and the box bias is computed for that grid (transformers'
    ``Owlv2ForObjectDetection.box_predictor``)."""

    def __init__(self, model: Owlv2ForObjectDetection, image_size: int | None = None) -> None:
        self.model = model
        native = int(nested_config(model.config.vision_config).image_size)
        self.image_size = int(image_size or native)
        self.interpolate = self.image_size != native

    @classmethod
    def from_profile(cls, profile: ModelProfile) -> tuple[TorchOwlv2Core, PreTrainedTokenizerBase]:
        model, tokenizer = load_owlv2(profile)
        return cls(model, owlv2_image_size(profile)), tokenizer

    @torch.inference_mode()
    def detect(
        self, pixel_values: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        like = _param(self.model)
        out = self.model(
            pixel_values=_to_tensor(pixel_values, like),
            input_ids=torch.from_numpy(np.asarray(input_ids, np.int64)).to(like.device),
            attention_mask=torch.from_numpy(np.asarray(attention_mask, np.int64)).to(like.device),
            interpolate_pos_encoding=self.interpolate,
        )
        return _to_numpy(out.logits), _to_numpy(out.pred_boxes)


class TorchDepthCore:
    """Depth Anything V2: relative inverse depth at the input resolution."""

    def __init__(self, model: DepthAnythingForDepthEstimation, input_size: int) -> None:
        self.model = model
        self.input_size = int(input_size)

    @classmethod
    def from_profile(cls, profile: ModelProfile) -> TorchDepthCore:
        return cls(load_depth(profile), depth_input_size(profile))

    @torch.inference_mode()
    def predict(self, pixel_values: np.ndarray) -> np.ndarray:
        out = self.model(pixel_values=_to_tensor(pixel_values, _param(self.model)))
        return _to_numpy(out.predicted_depth)
