"""Model profiles and loading of the three perception models (docs/DESIGN.md §7).

A *profile* names where each model comes from (a hub id or a local directory), the device
and the dtype. ``load_profile("default")`` gives the released checkpoints; ``"tiny"``
gives random-weight miniature models built from configs, so every code path runs here
without downloads (their outputs are meaningless, and loading them says so loudly).

torch and transformers are imported inside the functions: importing this module (to read
a profile, e.g. in the CLI or a ROS launch file) stays cheap.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frs_ros import validation
from frs_ros.hub import hub_unavailable, missing_model_reason
from frs_ros.paths import config_path
from frs_ros.yaml_safe import load_yaml_mapping

if TYPE_CHECKING:
    import torch
    from transformers import (
        DepthAnythingForDepthEstimation,
        Owlv2ForObjectDetection,
        PreTrainedConfig,
        PreTrainedTokenizerBase,
        Sam2Config,
        Sam2Model,
    )

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16")


class ModelUnavailableError(OSError):
    """The weights (or tokenizer) of a model cannot be found locally or downloaded: an
    environment to fix, like a missing file (``frs`` exits with code 2)."""


@dataclass(frozen=True)
class TinySizes:
    """Input sizes of the random-weight miniature models (``tiny`` profile)."""

    sam2_image_size: int = 128
    owlv2_image_size: int = 64
    depth_input_size: int = 56


BACKENDS = ("torch", "onnx")


@dataclass(frozen=True)
class ModelProfile:
    """Where the perception models come from, at which input sizes, and how they run.

    ``sam2``, ``owlv2`` and ``depth`` are hub ids or local directories (a directory wins
    when it exists). The input sizes apply to those checkpoints (the ``tiny`` models use
    ``tiny_sizes``): ``sam2_image_size`` (1024 released; the Hiera position embedding is
    interpolated, so any multiple of 32 loads the same weights), ``owlv2_image_size`` (960
    released; smaller sizes interpolate the patch position embedding and the box bias
    follows the feature map) and ``depth_input_size`` (the DPT processor's ``size``: 518
    released, a multiple of 14; not stored in the model config).

    ``backend`` runs the networks on ``torch`` or on onnxruntime (``onnx``: graphs exported
    once into ``onnx_dir``, default a cache directory keyed by the profile, see
    ``frs_ros.perception.backends``) with ``threads`` intra-op threads (None: onnxruntime's
    default, one per physical core). ``perception`` names the perception config
    (``config/<file>`` or a path) used when a caller gives none.
    """

    name: str = "default"
    sam2: str = "facebook/sam2.1-hiera-tiny"
    owlv2: str = "google/owlv2-base-patch16-ensemble"
    depth: str = "depth-anything/Depth-Anything-V2-Small-hf"
    device: str = "cpu"
    dtype: str = "float32"
    sam2_image_size: int = 1024
    owlv2_image_size: int = 960
    depth_input_size: int = 518
    backend: str = "torch"
    onnx_dir: str | None = None
    threads: int | None = None
    perception: str = "perception.yaml"
    revision: str | None = None
    tiny: bool = False
    tiny_sizes: TinySizes = field(default_factory=TinySizes)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        threads = self.threads
        if threads is not None and (type(threads) is not int or threads < 1):
            raise ValueError(f"threads must be a positive integer or null, got {self.threads!r}")
        for key, multiple, released in _SIZE_RULES:
            _check_size(key, getattr(self, key), multiple, released)
        for key, multiple, _ in _SIZE_RULES:
            _check_size(f"tiny_sizes.{key}", getattr(self.tiny_sizes, key), multiple, None)

    @property
    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype)


# (profile key, the multiple it must be, the released checkpoint's size): SAM 2's Hiera
# pools four times (stride 4 then 2, 2, 2), OWLv2 and DINOv2 take 16 and 14 px patches.
_SIZE_RULES = (
    ("sam2_image_size", 32, 1024),
    ("owlv2_image_size", 16, 960),
    ("depth_input_size", 14, 518),
)


def _check_size(key: str, value: Any, multiple: int, released: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % multiple:
        hint = f" (the released checkpoint uses {released})" if released else ""
        raise ValueError(f"{key} must be a positive multiple of {multiple}, got {value!r}{hint}")


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
    data = load_yaml_mapping(path, "model profile")
    data.setdefault("name", path.stem)
    # typed like every other config: unknown keys, wrong types and bad sizes name the key
    return validation.config(ModelProfile, data, f"model profile {path}")


# --------------------------------------------------------------------------- real loading


def _offline() -> bool:
    """Only the local cache can serve (offline mode, or the hub unreachable): found at once,
    so a missing model fails without the hub client's minute of retries."""
    return hub_unavailable() is not None


def _from_pretrained(cls: Any, source: str, what: str, profile: ModelProfile, **kwargs: Any) -> Any:
    """``cls.from_pretrained`` with a message that says how to supply missing weights."""
    local = Path(source).expanduser()
    kwargs.setdefault("revision", profile.revision)
    offline = local.is_dir() or _offline()
    try:
        return cls.from_pretrained(
            str(local) if local.is_dir() else source, local_files_only=offline, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"cannot load {what} from {source!r}: "
            f"{missing_model_reason(exc, local_only=offline and not local.is_dir())}. "
            "Supply it one of two ways: "
            f"on a networked machine run "
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


def nested_config(value: object) -> PreTrainedConfig:
    """A nested config field (``vision_config``, ``prompt_encoder_config``, ...) of a model's
    config. transformers types these fields as a dict, a config or None; in a config built
    by its class (from a checkpoint or in code) they are config objects."""
    from transformers import PreTrainedConfig

    if not isinstance(value, PreTrainedConfig):
        raise TypeError(f"expected a nested model config, got {type(value).__name__}")
    return value


def sized_sam2_config(config: Sam2Config, image_size: int) -> Sam2Config:
    """A copy of a SAM 2 config whose input side is ``image_size`` (a multiple of 32).

    No weight depends on the side: the Hiera backbone interpolates its position embedding
    to the feature map, and the prompt encoder's embedding is Fourier features. What must
    follow are the sizes the model reshapes with: the backbone's ``image_size``, the three
    FPN ``backbone_feature_sizes`` (strides 4, 8, 16) and the prompt encoder's
    ``image_size`` (its embedding grid is ``image_size // 16``, the coarsest FPN level)."""
    _check_size("sam2_image_size", image_size, 32, 1024)
    config = copy.deepcopy(config)
    s = image_size
    vision = nested_config(config.vision_config)
    vision.backbone_config.image_size = [s, s]
    vision.backbone_feature_sizes = [[s // 4] * 2, [s // 8] * 2, [s // 16] * 2]
    nested_config(config.prompt_encoder_config).image_size = s
    return config


def load_sam2(profile: ModelProfile) -> Sam2Model:
    """SAM 2.1 image model (image encoder + prompt decoder) at ``sam2_image_size``."""
    if profile.tiny:
        return _place(tiny_sam2(profile), profile)
    from transformers import Sam2Config, Sam2Model

    config = _from_pretrained(Sam2Config, profile.sam2, "SAM 2.1", profile)
    config = sized_sam2_config(config, profile.sam2_image_size)
    model = _from_pretrained(Sam2Model, profile.sam2, "SAM 2.1", profile, config=config)
    return _place(model, profile)


def load_owlv2(profile: ModelProfile) -> tuple[Owlv2ForObjectDetection, PreTrainedTokenizerBase]:
    """OWLv2 detector and its CLIP tokenizer. The model keeps the checkpoint's config; the
    cores run it at ``owlv2_image_size(profile)`` (``interpolate_pos_encoding``)."""
    if profile.tiny:
        tokenizer = tiny_clip_tokenizer()
        return _place(tiny_owlv2(profile, tokenizer), profile), tokenizer
    from transformers import Owlv2ForObjectDetection

    model = _from_pretrained(Owlv2ForObjectDetection, profile.owlv2, "OWLv2", profile)
    return _place(model, profile), load_owlv2_tokenizer(profile)


def load_owlv2_tokenizer(profile: ModelProfile) -> PreTrainedTokenizerBase:
    """OWLv2's CLIP tokenizer alone (no torch needed: the onnxruntime backend uses it)."""
    if profile.tiny:
        return tiny_clip_tokenizer()
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, profile.owlv2, "OWLv2 (tokenizer)", profile)


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


def sam2_image_size(profile: ModelProfile) -> int:
    """SAM 2's input side for this profile (the tiny model's or ``sam2_image_size``)."""
    return profile.tiny_sizes.sam2_image_size if profile.tiny else profile.sam2_image_size


def owlv2_image_size(profile: ModelProfile) -> int:
    """OWLv2's input side for this profile (the tiny model's or ``owlv2_image_size``)."""
    return profile.tiny_sizes.owlv2_image_size if profile.tiny else profile.owlv2_image_size


def depth_input_size(profile: ModelProfile) -> int:
    """Depth Anything's input size for this profile (the tiny model's or the profile's)."""
    return profile.tiny_sizes.depth_input_size if profile.tiny else profile.depth_input_size
