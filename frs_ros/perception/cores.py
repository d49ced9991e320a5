"""The network *cores* of the perception models: preprocessed arrays in, raw arrays out.

Pre/post-processing (resize, normalise, box decoding, mask upscaling) lives outside the
cores and never touches torch or torchvision, so a torch core and an onnxruntime core are
interchangeable behind these protocols (``frs_ros.perception.torch_cores`` and
``frs_ros.perception.onnx``). Shapes follow the transformers models they wrap.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Sam2Core(Protocol):
    """SAM 2.1 image model split as image encoder + prompt decoder."""

    image_size: int  # square input side (1024 for the released checkpoints)

    def encode(self, pixel_values: np.ndarray) -> list[np.ndarray]:
        """``pixel_values`` [1, 3, S, S] float32 → image embeddings, as
        ``Sam2Model.get_image_embeddings`` returns them (finest level first)."""
        ...

    def decode(
        self,
        embeddings: list[np.ndarray],
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prompts in the model's input frame (S x S pixels): ``points`` [1, N, P, 2] with
        ``labels`` [1, N, P] (1 fg, 0 bg), or ``boxes`` [1, N, 4] (x0, y0, x1, y1).
        Returns (low-res mask logits [1, N, M, s, s], predicted IoU [1, N, M]), M = 3 when
        ``multimask`` else 1."""
        ...


class Owlv2Core(Protocol):
    image_size: int  # square input side (960 for owlv2-base)

    def detect(
        self, pixel_values: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``pixel_values`` [1, 3, S, S]; text queries ``input_ids``/``attention_mask``
        [Q, L]. Returns (logits [1, P, Q], pred_boxes [1, P, 4] normalised cx, cy, w, h
        of the padded square input)."""
        ...


class DepthCore(Protocol):
    input_size: int  # multiple of 14 (518 for Depth-Anything-V2)

    def predict(self, pixel_values: np.ndarray) -> np.ndarray:
        """``pixel_values`` [1, 3, H, W] → relative inverse depth [1, H, W] (larger = nearer)."""
        ...
