"""Stage configurations as dataclasses (like TRL's ``*Config``), loadable from a YAML recipe.

A recipe (``training/recipes/*.yaml``) has one section per stage: ``data``, ``teacher``,
``sft``, ``student``, ``export``; each stage names its own ``output_dir``. Unknown keys
are an error, so a typo never silently falls back to a default. Every value is checked
against its field's type and range (``frs_ros.validation.config``: the ``Annotated``
ranges below) when the recipe is loaded, before any model loads; an error names the
recipe, section and key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Gt, Interval

from frs_ros import validation
from frs_ros.reasoning.engine import ReasonerConfig
from frs_ros.reasoning.prompt import check_prompt_style
from frs_ros.yaml_safe import load_yaml_mapping

T = TypeVar("T")

# Ranges of recipe values, checked by frs_ros.validation.config when a recipe is loaded
AtLeast1 = Annotated[int, Ge(1)]
AtLeast0 = Annotated[int, Ge(0)]
NonNegative = Annotated[float, Ge(0.0)]
Positive = Annotated[float, Gt(0.0)]
Fraction = Annotated[float, Interval(ge=0.0, le=1.0)]


@dataclass
class LoraSettings:
    """LoRA (FastReasonSeg §4: r = 64, alpha = 128). ``r = 0`` trains all weights instead,
    which is what a tiny random model needs to learn anything."""

    r: AtLeast0 = 64
    alpha: AtLeast1 = 128
    dropout: Annotated[float, Interval(ge=0.0, lt=1.0)] = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
    )


@dataclass
class OptimSettings:
    """Optimiser, schedule and checkpointing shared by every training stage."""

    learning_rate: Positive = 4e-5
    weight_decay: NonNegative = 0.0
    # linear warm-up over this fraction of the steps, then cosine
    warmup_ratio: Annotated[float, Interval(ge=0.0, lt=1.0)] = 0.1
    scheduler: str = "cosine"  # cosine | linear | constant
    batch_size: AtLeast1 = 1  # sequences per micro-batch
    grad_accum: AtLeast1 = 1  # micro-batches per optimiser step
    epochs: NonNegative = 1.0
    max_steps: AtLeast0 = 0  # > 0 overrides epochs
    max_grad_norm: NonNegative = 1.0  # 0 = no clipping
    mixed_precision: str = "auto"  # auto (bf16 when supported) | bf16 | fp16 | no
    seed: AtLeast0 = 0
    save_steps: AtLeast1 = 50
    save_total_limit: AtLeast1 = 2  # checkpoints kept (the newest); resume needs one
    log_steps: AtLeast1 = 1

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("learning_rate must be > 0, batch_size and grad_accum >= 1")
        # also for configs built in Python: 0 would divide by zero / prune every checkpoint
        if self.save_steps < 1 or self.save_total_limit < 1:
            raise ValueError("save_steps and save_total_limit must be >= 1")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.scheduler not in ("cosine", "linear", "constant"):
            raise ValueError(f"scheduler must be cosine, linear or constant: {self.scheduler!r}")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise ValueError(
                f"mixed_precision must be auto, bf16, fp16 or no: {self.mixed_precision!r}"
            )
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("set epochs > 0 or max_steps > 0")


@dataclass
class DataConfig:
    """Where training samples come from (``frs train data``)."""

    output: str = "data/samples.jsonl"  # the training-set JSONL every later stage reads
    cache_dir: str = "data/twin_cache"
    bags: list[str] = field(default_factory=list)  # rosbag2 directories or .mcap/.db3 files
    annotations: list[str] = field(default_factory=list)  # annotation YAML/JSON files
    jsonl: list[str] = field(default_factory=list)  # benchmark JSONL files
    # a folder for the generated smoke inputs (frs_ros.training.synthetic), written there
    # by the data stage when absent; the inputs above may then name files in it
    synthetic: str = ""
    image_topic: str = ""  # "" = the first Image/CompressedImage topic of the bag
    depth_topic: str = ""
    camera_info_topic: str = ""
    frame_stride: AtLeast1 = 1
    max_frames: AtLeast0 = 0  # per bag; 0 = all
    perception_profile: str = "default"
    # held out into <output stem>.eval.jsonl
    eval_fraction: Annotated[float, Interval(ge=0.0, lt=1.0)] = 0.0


@dataclass
class GRPOConfig:
    """Teacher GRPO (FastReasonSeg §3 "Teacher LLM Training") and student GRPO (§3
    "Two-Stage Distillation", with ``gamma`` > 0 and a judge)."""

    model: str = "Qwen/Qwen3-8B"  # hub id, local dir or "tiny"
    init_adapter: str = ""  # start from this adapter (student GRPO starts from the SFT one)
    train_file: str = "data/samples.jsonl"
    output_dir: str = "runs/teacher"
    num_generations: AtLeast1 = 8  # G rollouts per prompt
    temperature: NonNegative = 1.0
    top_p: Annotated[float, Interval(gt=0.0, le=1.0)] = 1.0
    # every rollout's bounds and system prompt (max_new_tokens, max_rounds, timeout_s,
    # prompt: full | brief; serve the trained model with the same prompt)
    reasoner: ReasonerConfig = field(default_factory=ReasonerConfig)
    # rollouts decode inside the protocol grammar (frs_ros/reasoning/grammar.py): a pretrained
    # model that does not know the protocol then still finishes rollouts, so groups differ
    constrained: bool = False
    # the group's shared prompt runs once without gradient (masking.token_logprobs): a
    # cheaper, approximate gradient for CPU runs
    frozen_prompt: bool = False
    epsilon: NonNegative = 0.2  # PPO-style clip range (on-policy here, so the ratio is 1)
    # advantages: "group" divides r - mean(group) by the group's std (GRPO); "none" keeps
    # the reward scale (Dr. GRPO), so reward weights and negative_weight act across groups
    # too (true / false = group / none)
    scale_rewards: bool | str = "none"
    # rewards as TRL lists them: names of frs_ros/training/rewards.py REWARD_FUNCS and their
    # weights; every function's mean (and iou, success) is logged per step
    reward_funcs: list[str] = field(default_factory=lambda: ["format", "iou"])
    reward_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    # scales the reward of empty-target samples, so that neither always nor never
    # answering "nothing" wins (docs/training.md, Rewards)
    negative_weight: Fraction = 0.5
    # weight of KL(policy || reference) per model-written token; the reference is the
    # starting policy (LoRA: the base with adapters disabled); 0 skips the reference pass
    beta: NonNegative = 0.04
    gamma: NonNegative = 0.0  # weight of the judge's "reasoning" reward; 0.5 for the student
    judge: dict[str, Any] = field(default_factory=dict)  # JudgeConfig fields
    teacher_chains: str = ""  # JSONL of teacher chains (sample id -> rollout) for the judge
    dtype: str = "float32"
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)

    def __post_init__(self) -> None:
        self.rewards()
        self.advantage_scaling()
        if self.num_generations < 2:
            raise ValueError(f"num_generations must be >= 2 (a group), got {self.num_generations}")

    def rewards(self) -> tuple[list[str], list[float]]:
        """(reward functions, weights): ``reward_funcs`` plus ``reasoning`` weighted
        ``gamma`` when gamma > 0."""
        from frs_ros.training.rewards import REWARD_FUNCS

        funcs, weights = list(self.reward_funcs), [float(w) for w in self.reward_weights]
        if len(funcs) != len(weights) or not funcs:
            raise ValueError(
                f"reward_funcs ({len(funcs)}) and reward_weights ({len(weights)}) must be "
                "non-empty lists of the same length"
            )
        if unknown := [f for f in funcs if f not in REWARD_FUNCS]:
            raise ValueError(f"unknown reward_funcs {unknown}; known: {sorted(REWARD_FUNCS)}")
        if len(set(funcs)) != len(funcs):
            raise ValueError(f"reward_funcs lists a function twice: {funcs}")
        if self.gamma > 0:
            if "reasoning" in funcs:
                raise ValueError("give the judge term one weight: gamma or reasoning's weight")
            funcs, weights = [*funcs, "reasoning"], [*weights, self.gamma]
        return funcs, weights

    def advantage_scaling(self) -> str:
        """``group`` or ``none`` (``scale_rewards``; true and false are accepted too)."""
        value = self.scale_rewards
        if isinstance(value, bool):
            value = "group" if value else "none"
        if value not in ("group", "none"):
            raise ValueError(f"scale_rewards must be group or none, got {self.scale_rewards!r}")
        return str(value)


@dataclass
class SFTConfig:
    """Distillation stage 1: teacher chains -> rejection sampling -> SFT of the student."""

    model: str = "Qwen/Qwen3-0.6B"  # the student
    train_file: str = "data/samples.jsonl"
    output_dir: str = "runs/sft"
    teacher_model: str = ""  # "" = no teacher generation (use the samples' own chains)
    teacher_adapter: str = ""
    # the teacher as a runtime spec (config/reasoner*.yaml's ``runtime:``, e.g. a GGUF file
    # with ``constrained: true``); set, it replaces teacher_model / teacher_adapter
    teacher_runtime: dict[str, Any] = field(default_factory=dict)
    # the teacher's chains: bounds per chain, its system prompt (the one it was trained
    # with) and few_shot (solved examples in that prompt)
    teacher_reasoner: ReasonerConfig = field(default_factory=ReasonerConfig)
    # teacher chains for this many samples (stratified); 0 = all
    teacher_samples: AtLeast0 = 0
    chains: str = "teacher"  # teacher | oracle | teacher+oracle (oracle = the sample's chain)
    min_iou: Fraction = 0.7  # rejection sampling threshold (keep IoU > min_iou)
    # the student's system prompt, full | brief (serve it with the same)
    prompt: str = ReasonerConfig.prompt
    # terse: each kept chain's <reason> cut to its first sentence (rationale kept, procedure
    # dropped: the plan names the tools and labels), so the student writes fewer tokens
    reason_style: str = "full"
    max_length: AtLeast1 = 4096  # longer sequences are dropped (and counted)
    # DTwinSeger eq. (10): weight of <plan> (tool-call) tokens
    decision_weight: NonNegative = 1.0
    answer_weight: NonNegative | None = None  # ... of <answer> (ids) tokens; None = decision_weight
    # the prompt runs without gradient (masking.token_logprobs): a cheaper, approximate
    # gradient; only the prefix all rows of a micro-batch share is frozen (use batch_size 1)
    frozen_prompt: bool = False
    dtype: str = "float32"
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimSettings = field(
        default_factory=lambda: OptimSettings(learning_rate=5e-5, weight_decay=0.01, epochs=3)
    )

    def __post_init__(self) -> None:
        check_prompt_style(self.prompt)
        if self.reason_style not in ("full", "terse"):
            raise ValueError(f"reason_style must be full or terse, got {self.reason_style!r}")
        if self.teacher_samples < 0:
            raise ValueError(f"teacher_samples must be >= 0, got {self.teacher_samples}")


@dataclass
class ExportConfig:
    model: str = "Qwen/Qwen3-0.6B"  # the base the adapter was trained on
    adapter: str = "runs/student/final"
    output_dir: str = "runs/export"
    merged: bool = True  # also write a merged model directory


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Dataclass ``cls`` from a mapping (nested dataclasses from nested mappings), each value
    checked against its field's type and range; a wrong type, a value out of range or an
    unknown key is a ``ValueError`` naming ``where`` and the key."""
    return validation.config(cls, data, where or cls.__name__)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


# Settings that do not change what a stage produces (where and how often it checkpoints).
_BOOKKEEPING = {"output_dir", "save_steps", "save_total_limit", "log_steps"}
# Inputs named by path: the manifest records a hash of their content, not only the name.
_INPUT_FILES = ("train_file", "init_adapter", "teacher_chains", "teacher_adapter")
# Models: a hub id or "tiny" stands for itself; a local file or directory (a GGUF, a
# checkpoint) is recorded by content too, so weights changed in place are noticed.
_MODELS = ("model", "teacher_model")


def stage_settings(stage: str, cfg: Any) -> dict[str, Any]:
    """The manifest of a training stage (``frs_ros.manifest``): every setting of ``cfg``
    except bookkeeping, plus content hashes of its input files and adapters and of its
    models when they are local paths."""
    from frs_ros.manifest import file_digest, local_digest

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {
            k: strip(v) if isinstance(v, dict) else v for k, v in d.items() if k not in _BOOKKEEPING
        }

    settings: dict[str, Any] = {"command": f"train {stage}", **strip(to_dict(cfg))}
    for key in _INPUT_FILES:
        if settings.get(key):
            settings[f"{key}_sha256"] = file_digest(settings[key])
    judge = settings.get("judge")
    runtimes = {  # runtime specs (config/reasoner*.yaml's runtime:) name models too
        "teacher_runtime": settings.get("teacher_runtime"),
        "judge_runtime": judge.get("runtime") if isinstance(judge, dict) else None,
    }
    named = [(key, settings.get(key)) for key in _MODELS]
    for name, spec in runtimes.items():
        if isinstance(spec, dict):
            named += [(f"{name}_{key}", spec.get(key)) for key in ("model", "adapter")]
    for key, value in named:
        if isinstance(value, str) and (digest := local_digest(value)) is not None:
            settings[f"{key}_sha256"] = digest
    return settings


STAGES = {
    "data": DataConfig,
    "teacher": GRPOConfig,
    "sft": SFTConfig,
    "student": GRPOConfig,
    "export": ExportConfig,
}


# made at run time from STAGES, so its type is only known as "a class"
_SECTIONS: type[Any] = dataclasses.make_dataclass(
    "RecipeSections", [(name, cls, field(default_factory=cls)) for name, cls in STAGES.items()]
)


@dataclass
class Recipe:
    data: DataConfig
    teacher: GRPOConfig
    sft: SFTConfig
    student: GRPOConfig
    export: ExportConfig
    # the sections the recipe file has: ``frs train all`` runs these only
    sections: tuple[str, ...] = tuple(STAGES)


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """A YAML recipe; relative paths inside stay relative to the working directory."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"recipe {p} does not exist")
    raw = load_yaml_mapping(p, "recipe")
    # checked as one dataclass of the sections, so an error names "section.key"
    checked = validation.config(_SECTIONS, raw, f"recipe {p}")
    stages = {name: getattr(checked, name) for name in STAGES}
    return Recipe(**stages, sections=tuple(name for name in STAGES if name in raw))
