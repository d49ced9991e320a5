"""``nn.Module`` wrappers giving each perception network a flat tensor-in/tensor-out
signature that ``torch.onnx.export`` can trace (no kwargs, no ModelOutput, no ``None``).

They call the transformers modules' own methods, so the exported graphs compute exactly
what the torch cores compute; nothing here re-implements model code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import DepthAnythingForDepthEstimation, Owlv2ForObjectDetection, Sam2Model


class Sam2ImageEncoder(nn.Module):
    """pixel_values [1, 3, S, S] → the image embeddings of ``Sam2Model.get_image_embeddings``
    (finest level first; the last one is the decoder's main input)."""

    def __init__(self, model: Sam2Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.get_image_embeddings(pixel_values))


class Sam2PromptDecoder(nn.Module):
    """Image embeddings + point prompts → (low-res mask logits [1, N, M, s, s], IoU [1, N, M]).

    Boxes enter as their two corners with SAM's corner labels 2 and 3: the prompt encoder
    embeds a box exactly like that (``Sam2PromptEncoder._embed_boxes`` adds
    ``point_embed[2]``/``[3]`` to the corner encodings and a not-a-point pad), so one graph
    serves points, boxes and both. ``multimask`` is fixed per graph (M = 3, or M = 1 with
    SAM 2's stability-based fallback inside the graph), which is why two graphs are exported.
    """

    def __init__(self, model: Sam2Model, multimask: bool) -> None:
        super().__init__()
        self.model = model
        self.multimask = multimask

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        *embeddings, points, labels = inputs
        sparse, dense = self.model.prompt_encoder(
            input_points=points, input_labels=labels, input_boxes=None, input_masks=None
        )
        masks, iou, _, _ = self.model.mask_decoder(
            image_embeddings=embeddings[-1],
            image_positional_embeddings=self.model.get_image_wide_positional_embeddings(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=self.multimask,
            high_resolution_features=list(embeddings[:-1]),
        )
        return masks, iou


class Owlv2Detector(nn.Module):
    """pixel_values + text queries → (logits [1, P, Q], pred_boxes [1, P, 4]).

    ``interpolate`` runs the model at an input size other than its config's (as
    ``TorchOwlv2Core`` does); the traced graph is then fixed to the example's size."""

    def __init__(self, model: Owlv2ForObjectDetection, interpolate: bool = False) -> None:
        super().__init__()
        self.model = model
        self.interpolate = interpolate

    def forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            attention_mask=attention_mask,
            interpolate_pos_encoding=self.interpolate,
        )
        return out.logits, out.pred_boxes


class DepthEstimator(nn.Module):
    """pixel_values [1, 3, H, W] → predicted_depth [1, H, W] (relative inverse depth)."""

    def __init__(self, model: DepthAnythingForDepthEstimation) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).predicted_depth
