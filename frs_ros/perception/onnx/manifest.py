"""Names shared by the exporter and the runtime (no torch import here: the runtime must
load without torch)."""

from __future__ import annotations

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
OPSET = 17

# Graph names, which are also the ONNX file stems.
SAM2_ENCODER = "sam2_encoder"
SAM2_DECODER_MULTI = "sam2_decoder_multi"
SAM2_DECODER_SINGLE = "sam2_decoder_single"
OWLV2 = "owlv2"
DEPTH = "depth"
GRAPHS = (SAM2_ENCODER, SAM2_DECODER_MULTI, SAM2_DECODER_SINGLE, OWLV2, DEPTH)
