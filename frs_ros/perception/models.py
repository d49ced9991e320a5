"""Model profiles and loading of the three perception models (docs/DESIGN.md §7).

A *profile* names where each model comes from (a hub id or a local directory), the device
and the dtype. ``load_profile("default")`` gives the released checkpoints; ``"tiny"``
gives random-weight miniature models built from configs, so every code path runs here
without downloads (their outputs are meaningless, and loading them says so loudly).

torch and transformers are imported inside the functions: importing this module (to read
a profile, e.g. in the CLI or a ROS launch file) stays cheap.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from frs_ros.paths import config_path

if TYPE_CHECKING:
    import torch
    from transformers import (
        DepthAnythingForDepthEstimation,
        Owlv2ForObjectDetection,
        PreTrainedTokenizerBase,
        Sam2Model,
        Sam2VideoModel,
    )

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16")


class ModelUnavailableError(RuntimeError):
    """The weights (or tokenizer) of a model cannot be found locally or downloaded."""


@dataclass(frozen=True)
class TinySizes:
    """Input sizes of the random-weight miniature models (``tiny`` profile)."""

    sam2_image_size: int = 128
    owlv2_image_size: int = 64
    depth_input_size: int = 56


@dataclass(frozen=True)
class ModelProfile:
    """Where the perception models come from and how they run.

    ``sam2``, ``owlv2`` and ``depth`` are hub ids or local directories (a directory wins
    when it exists). ``depth_input_size`` is the Depth Anything input side (the DPT
    processor's ``size``: 518 for the released checkpoints), not stored in the model config.
    """

    name: str = "default"
    sam2: str = "facebook/sam2.1-hiera-tiny"
    owlv2: str = "google/owlv2-base-patch16-ensemble"
    depth: str = "depth-anything/Depth-Anything-V2-Small-hf"
    device: str = "cpu"
    dtype: str = "float32"
    depth_input_size: int = 518
    revision: str | None = None
    tiny: bool = False
    tiny_sizes: TinySizes = field(default_factory=TinySizes)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.depth_input_size <= 0 or self.depth_input_size % 14:
            raise ValueError(
                f"depth_input_size must be a positive multiple of 14, got {self.depth_input_size}"
            )

    @property
    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelProfile:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown model profile keys {sorted(unknown)} (known: {sorted(known)})"
            )
        d = dict(d)
        if "tiny_sizes" in d:
            d["tiny_sizes"] = TinySizes(**(d["tiny_sizes"] or {}))
        return cls(**d)


def profile_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The YAML file of a profile name (``config/models/<name>.yaml``) or path (may not exist)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = config_path("models", f"{name_or_path}.yaml")
    return path


def load_profile(name_or_path: str | os.PathLike[str] | ModelProfile) -> ModelProfile:
    """A profile by name (``default``, ``tiny``: ``config/models/<name>.yaml``) or YAML path."""
    if isinstance(name_or_path, ModelProfile):
        return name_or_path
    path = profile_path(name_or_path)
    if not path.is_file():
        names = sorted(p.stem for p in config_path("models").glob("*.yaml"))
        raise ValueError(f"no model profile {str(name_or_path)!r}: not a file nor one of {names}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"model profile {path} must be a YAML mapping")
    data.setdefault("name", path.stem)
    return ModelProfile.from_dict(data)


# --------------------------------------------------------------------------- real loading


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no")


def _from_pretrained(cls: Any, source: str, what: str, profile: ModelProfile, **kwargs: Any) -> Any:
    """``cls.from_pretrained`` with a message that says how to supply missing weights."""
    local = Path(source).expanduser()
    kwargs.setdefault("revision", profile.revision)
    try:
        if local.is_dir():
            return cls.from_pretrained(str(local), local_files_only=True, **kwargs)
        return cls.from_pretrained(source, local_files_only=_offline(), **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"cannot load {what} from {source!r}: {exc}\n"
            f"Supply it one of two ways: on a networked machine run "
            f"`huggingface-cli download {source}` and copy the Hugging Face cache "
            f"(~/.cache/huggingface/hub) here, or download it to a directory and point the "
            f"model profile at that directory (e.g. `{_field_for(what)}: /models/<dir>` in a "
            f"profile YAML). The `tiny` profile runs without weights (meaningless outputs)."
        ) from exc


def _field_for(what: str) -> str:
    return {"SAM 2.1": "sam2", "OWLv2": "owlv2", "Depth Anything V2": "depth"}.get(
        what.split(" (")[0], "sam2"
    )


def _place(model: Any, profile: ModelProfile) -> Any:
    return model.to(device=profile.device, dtype=profile.torch_dtype).eval()


def load_sam2(profile: ModelProfile) -> Sam2Model:
    """SAM 2.1 image model (image encoder + prompt decoder)."""
    if profile.tiny:
        return _place(tiny_sam2(profile), profile)
    from transformers import Sam2Model

    return _place(_from_pretrained(Sam2Model, profile.sam2, "SAM 2.1", profile), profile)


def load_sam2_video(profile: ModelProfile) -> Sam2VideoModel:
    """SAM 2.1 video model (adds memory attention/encoder); same checkpoint as the image model."""
    if profile.tiny:
        return _place(tiny_sam2_video(profile), profile)
    from transformers import Sam2VideoModel

    model = _from_pretrained(Sam2VideoModel, profile.sam2, "SAM 2.1 (video)", profile)
    return _place(model, profile)


def load_owlv2(profile: ModelProfile) -> tuple[Owlv2ForObjectDetection, PreTrainedTokenizerBase]:
    """OWLv2 detector and its CLIP tokenizer."""
    if profile.tiny:
        tokenizer = tiny_clip_tokenizer()
        return _place(tiny_owlv2(profile, tokenizer), profile), tokenizer
    from transformers import AutoTokenizer, Owlv2ForObjectDetection

    model = _from_pretrained(Owlv2ForObjectDetection, profile.owlv2, "OWLv2", profile)
    tokenizer = _from_pretrained(AutoTokenizer, profile.owlv2, "OWLv2 (tokenizer)", profile)
    return _place(model, profile), tokenizer


def load_depth(profile: ModelProfile) -> DepthAnythingForDepthEstimation:
    """Depth Anything V2 (relative inverse depth)."""
    if profile.tiny:
        return _place(tiny_depth(profile), profile)
    from transformers import DepthAnythingForDepthEstimation

    model = _from_pretrained(
        DepthAnythingForDepthEstimation, profile.depth, "Depth Anything V2", profile
    )
    return _place(model, profile)


# --------------------------------------------------------------------------- tiny models

_TINY_WARNING = (
    "model profile %r builds RANDOM-WEIGHT tiny %s: its outputs are MEANINGLESS "
    "(use it for tests and plumbing only, never for results)"
)


def _tiny_sam2_parts(sizes: TinySizes) -> dict[str, Any]:
    s = sizes.sam2_image_size
    if s % 32:
        raise ValueError(f"tiny sam2_image_size must be a multiple of 32, got {s}")
    f = s // 4  # Hiera patch stride 4, then three 2x query-pooling stages
    # A global-attention block must not open a stage (Hiera pools queries there), hence
    # two blocks in stage 3 with the global one second.
    backbone = {
        "model_type": "sam2_hiera_det_model",
        "hidden_size": 16,
        "image_size": [s, s],
        "blocks_per_stage": [1, 1, 2, 1],
        "embed_dim_per_stage": [16, 32, 64, 128],
        "num_attention_heads_per_stage": [1, 1, 2, 2],
        "window_size_per_stage": [4, 4, 4, 4],
        "global_attention_blocks": [3],
        "window_positional_embedding_background_size": [4, 4],
    }
    vision = {
        "backbone_config": backbone,
        "backbone_channel_list": [128, 64, 32, 16],
        "backbone_feature_sizes": [[f, f], [f // 2, f // 2], [f // 4, f // 4]],
        "fpn_hidden_size": 32,
    }
    return {
        "vision_config": vision,
        "prompt_encoder_config": {"hidden_size": 32, "image_size": s, "patch_size": 16},
        "mask_decoder_config": {
            "hidden_size": 32,
            "mlp_dim": 64,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 32,
        },
    }


def tiny_sam2(profile: ModelProfile) -> Sam2Model:
    import torch
    from transformers import Sam2Config, Sam2Model

    log.warning(_TINY_WARNING, profile.name, "SAM 2")
    torch.manual_seed(profile.seed)
    return Sam2Model(Sam2Config(**_tiny_sam2_parts(profile.tiny_sizes)))


def tiny_sam2_video(profile: ModelProfile) -> Sam2VideoModel:
    """Tiny video model carrying the tiny image model's weights for the shared parts."""
    import torch
    from transformers import Sam2VideoConfig, Sam2VideoModel

    log.warning(_TINY_WARNING, profile.name, "SAM 2 video")
    s = profile.tiny_sizes.sam2_image_size
    config = Sam2VideoConfig(
        **_tiny_sam2_parts(profile.tiny_sizes),
        image_size=s,
        num_maskmem=3,
        memory_attention_hidden_size=32,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=32,
        memory_encoder_output_channels=16,
        mask_downsampler_embed_dim=32,
        memory_fuser_embed_dim=32,
        memory_fuser_intermediate_dim=64,
    )
    torch.manual_seed(profile.seed)
    model = Sam2VideoModel(config)
    # Same encoder/decoder weights as ``tiny_sam2`` so image and video paths agree, as
    # they do for the released checkpoint (one checkpoint serves both classes).
    model.load_state_dict(tiny_sam2(profile).state_dict(), strict=False)
    return model


TINY_VOCABULARY = (
    "a photo of person people man woman child dog cat bird horse car truck bus bicycle "
    "motorcycle chair table sofa couch bed bottle cup mug bowl plate fork knife spoon laptop "
    "keyboard mouse phone book lamp plant pot door window shelf box bag backpack ball toy "
    "robot arm gripper red green blue yellow black white small large left right object thing"
)


def tiny_clip_tokenizer() -> PreTrainedTokenizerBase:
    """A small CLIP-style BPE tokenizer trained here with ``tokenizers`` (no download).

    It reproduces what OWLv2 relies on: lower-casing, ``<|startoftext|>`` … ``<|endoftext|>``
    around every query, padding with ``!`` to 16 tokens, and the end token having the
    *highest* id (OWLv2 pools the text at ``input_ids.argmax``).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<|unk|>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=300,
        special_tokens=["!", "<|unk|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([TINY_VOCABULARY] * 4, trainer=trainer)
    tok.add_special_tokens(["<|startoftext|>", "<|endoftext|>"])  # appended: highest ids
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="!",
        unk_token="<|unk|>",
        model_max_length=16,
    )


def tiny_owlv2(
    profile: ModelProfile, tokenizer: PreTrainedTokenizerBase
) -> Owlv2ForObjectDetection:
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection

    log.warning(_TINY_WARNING, profile.name, "OWLv2")
    s = profile.tiny_sizes.owlv2_image_size
    if s % 16:
        raise ValueError(f"tiny owlv2_image_size must be a multiple of 16, got {s}")
    config = Owlv2Config(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": s,
            "patch_size": 16,
        },
        projection_dim=32,
    )
    torch.manual_seed(profile.seed)
    return Owlv2ForObjectDetection(config)


def tiny_depth(profile: ModelProfile) -> DepthAnythingForDepthEstimation:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    log.warning(_TINY_WARNING, profile.name, "Depth Anything")
    s = profile.tiny_sizes.depth_input_size
    config = DepthAnythingConfig(
        backbone_config={
            "model_type": "dinov2",
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "image_size": s,
            "patch_size": 14,
            "out_indices": [1, 2],
            "reshape_hidden_states": False,
        },
        reassemble_hidden_size=32,
        neck_hidden_sizes=[16, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    torch.manual_seed(profile.seed)
    return DepthAnythingForDepthEstimation(config)


def depth_input_size(profile: ModelProfile) -> int:
    return profile.tiny_sizes.depth_input_size if profile.tiny else profile.depth_input_size
