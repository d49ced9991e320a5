"""Hugging Face causal-LM runtime (Qwen3 family; GGUF chat models too), with KV-cache reuse.

The decode loop is not delegated to ``model.generate`` because the runtime must know
exactly which tokens its ``DynamicCache`` holds after every call (to crop it to the longest
common prefix of the next transcript), how many tokens it had to prefill, and why it
stopped. That loop (prefix reuse, stops, limits, sampling, the protocol grammar) is shared
with the CPU runtime in :mod:`~frs_ros.reasoning.runtime.decoding`; this module supplies
the forward pass and ``DynamicCache.crop``. Rounds after ``<results>`` and second queries
on the same twin therefore cost only their new tokens. Call :meth:`HFRuntime.reset_cache`
after changing the model's weights.

``dtype: auto`` keeps the checkpoint's dtype except where it would be slow: on a CPU
without native bf16 (no AVX512-BF16 / AMX-BF16) torch emulates bf16 matmuls, several times
slower than float32 (docs/cpu.md), so ``auto`` loads float32 there.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from frs_ros.hub import hub_unavailable, missing_model_reason
from frs_ros.reasoning.runtime.base import Sampling
from frs_ros.reasoning.runtime.config import DEFAULT_MODEL
from frs_ros.reasoning.runtime.decoding import CachedTokenRuntime

log = logging.getLogger(__name__)

QWEN3_MODELS = ("Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-8B")
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


class ModelNotAvailableError(OSError):
    """The model (or tokenizer, or adapter) could not be found locally or on the hub."""


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype | str:
    """``"auto"`` (the checkpoint's dtype), a name like ``"bf16"``, or a torch dtype."""
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto' or one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


# CPU flags (/proc/cpuinfo) for native bf16 matmuls, which oneDNN uses for torch's bf16
FAST_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` text (read when None; empty elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: no flags, so ``auto`` takes the safe float32
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_has_fast_bf16(flags: Iterable[str] | None = None) -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool(FAST_BF16_FLAGS & set(cpu_flags() if flags is None else flags))


def auto_dtype(checkpoint: torch.dtype, device: torch.device) -> torch.dtype:
    """The dtype ``dtype: auto`` runs: the checkpoint's, unless that is slow on this CPU.

    Half precision on a CPU without native support is emulated (bf16 prefill measured at
    ~1/5 of float32's speed on an AVX2 machine), so it becomes float32.
    """
    if device.type != "cpu" or checkpoint not in (torch.bfloat16, torch.float16):
        return checkpoint
    if checkpoint == torch.bfloat16 and cpu_has_fast_bf16():
        return checkpoint
    return torch.float32


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _offline(model: str, local_files_only: bool | None) -> bool:
    """Read only local files: a local directory, or no hub to download from (offline mode
    or unreachable, found at once instead of after the hub client's retries)."""
    if local_files_only is not None:
        return local_files_only
    return Path(model).is_dir() or hub_unavailable() is not None


def _missing(what: str, name: str, err: Exception, offline: bool) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"cannot load the {what} {name!r}: "
        f"{missing_model_reason(err, local_only=offline and not Path(name).exists())}. "
        f"Supply it as a local directory: on a machine with network run "
        f"`hf download {name} --local-dir DIR` (or copy a Hugging Face cache into HF_HOME), "
        f"then set `model: DIR` (or `adapter: DIR`) in config/reasoner.yaml. "
        f"For tests without weights use `model: tiny`."
    )


def _gguf_source(path: str) -> dict[str, Any]:
    """``from_pretrained`` arguments for a local GGUF file, after checking what it needs."""
    file = Path(path)
    if not file.is_file():
        raise ModelNotAvailableError(
            f"GGUF file {path} does not exist; `frs models list` shows the sources and "
            f"`frs models get NAME --dir {file.parent}` assembles one"
        )
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF)
    except ImportError as err:
        raise ImportError(
            f"loading {path} needs the gguf package: pip install 'frs_ros[gguf]' "
            "(or pip install gguf torch==2.13.0)"
        ) from err
    return {"pretrained_model_name_or_path": str(file.parent), "gguf_file": file.name}


class HFRuntime(CachedTokenRuntime):
    """An :class:`~frs_ros.reasoning.runtime.base.LLMRuntime` over a transformers causal LM.

    Build with :meth:`from_pretrained` (hub id or local directory, optional LoRA adapter)
    or :meth:`tiny` (random weights, for tests). ``model`` and ``tokenizer`` are exposed
    for training (the tokenizer gives offset mappings).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        thinking: bool = False,
        sampling: Sampling | None = None,
        reuse_cache: bool = True,
        constrained: bool = False,
        draft_tokens: int = 0,
    ) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self._cache: Any = None
        super().__init__(
            tokenizer,
            model_eos=model.generation_config.eos_token_id,
            thinking=thinking,
            sampling=sampling,
            reuse_cache=reuse_cache,
            constrained=constrained,
            draft_tokens=draft_tokens,
            device=self.device,
        )

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        adapter: str | os.PathLike[str] | None = None,
        dtype: str | torch.dtype = "auto",
        device: str = "cpu",
        thinking: bool = False,
        sampling: Sampling | None = None,
        local_files_only: bool | None = None,
        constrained: bool = False,
        draft_tokens: int = 0,
    ) -> HFRuntime:
        """Load a Qwen3 checkpoint (hub id or local dir) and an optional peft LoRA adapter.

        ``model`` may also be a local ``.gguf`` file (``frs models get``): transformers
        dequantises it and builds the tokenizer and chat template from it (the ``gguf``
        package is needed).
        ``local_files_only`` defaults to True when ``model`` is a local directory or
        ``HF_HUB_OFFLINE`` is set. Missing files raise :class:`ModelNotAvailableError`
        naming the model and how to supply it.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        name = str(model)
        torch_dtype, torch_device = resolve_dtype(dtype), resolve_device(device)
        offline = _offline(name, local_files_only)
        source: dict[str, Any] = {"pretrained_model_name_or_path": name}
        if name.endswith(".gguf"):
            source, offline = _gguf_source(name), True
        try:
            tokenizer = AutoTokenizer.from_pretrained(**source, local_files_only=offline)
        except (OSError, ValueError) as err:
            raise _missing("tokenizer of", name, err, offline) from err
        try:
            lm = AutoModelForCausalLM.from_pretrained(
                **source, dtype=torch_dtype, local_files_only=offline
            )
        except OSError as err:
            raise _missing("model", name, err, offline) from err
        # functools.wraps on PreTrainedModel.to: mypy does not bind `self` through _Wrapped
        lm = lm.to(torch_device)  # type: ignore[arg-type]
        if torch_dtype == "auto":  # the checkpoint's dtype, unless emulated on this CPU
            lm = lm.to(auto_dtype(lm.dtype, torch_device))
        if adapter is not None:
            lm = load_adapter(lm, adapter, local_files_only=_offline(str(adapter), offline))
        return cls(
            lm,
            tokenizer,
            thinking=thinking,
            sampling=sampling,
            constrained=constrained,
            draft_tokens=draft_tokens,
        )

    @classmethod
    def tiny(
        cls,
        *,
        seed: int = 0,
        dtype: str | torch.dtype = "float32",
        adapter: str | os.PathLike[str] | None = None,
        thinking: bool = False,
        sampling: Sampling | None = None,
        reuse_cache: bool = True,
        constrained: bool = False,
        draft_tokens: int = 0,
    ) -> HFRuntime:
        """Random-weight 2-layer Qwen3 + the tiny tokenizer: real code paths, meaningless text."""
        from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

        warnings.warn(
            "HFRuntime.tiny(): random weights; its outputs are MEANINGLESS (tests and "
            "smoke runs only)",
            stacklevel=2,
        )
        tokenizer = load_tiny_tokenizer()
        model = tiny_qwen3(tokenizer, seed=seed)
        dt = resolve_dtype(dtype)
        if dt != "auto":
            model = model.to(dt)
        if adapter is not None:
            model = load_adapter(model, adapter, local_files_only=True)
        return cls(
            model,
            tokenizer,
            thinking=thinking,
            sampling=sampling,
            reuse_cache=reuse_cache,
            constrained=constrained,
            draft_tokens=draft_tokens,
        )

    # ------------------------------------------------------------------ backend hooks

    def _forward(self, ids: list[int], rows: int = 1) -> torch.Tensor:
        from transformers import DynamicCache

        cache = self._cache if self._cache is not None else DynamicCache(config=self.model.config)
        # Invalidate first: an exception mid-forward leaves layers partly updated.
        self._cache, fed = None, self._cached_ids
        self._cached_ids = []
        key = cache_keyword(self.model)
        out = self.model(
            input_ids=torch.tensor([ids], device=self.device),
            use_cache=True,
            logits_to_keep=rows,
            **{key: cache},
        )
        self._cache, self._cached_ids = getattr(out, key), fed + list(ids)
        logits: torch.Tensor = out.logits[0, -rows:]  # the model's output is untyped (Any)
        return logits

    def _crop(self, keep: int) -> None:
        self._cache.crop(keep - len(self._cached_ids))  # negative: tokens to remove

    def _drop_cache(self) -> None:
        self._cache = None


def tiny_qwen3(
    tokenizer: Any,
    *,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 64,
    head_dim: int = 0,
    init_std: float = 0.2,
) -> Any:
    """A random-weight ``Qwen3ForCausalLM`` sized for tests, matching ``tokenizer``.

    ``init_std`` 0.2 (not the usual 0.02): with tiny random weights the usual value makes
    greedy decoding repeat one token forever, which would hide stop/length handling in
    tests. Models that will be *trained* (benchmarks/learning.py) use 0.02. ``head_dim``
    0 = ``hidden / 4`` (4 query heads)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=head_dim or hidden // 4,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        initializer_range=init_std,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    # transformers' eval() (unannotated) is exactly train(False)
    return Qwen3ForCausalLM(config).train(False)


def cache_keyword(model: Any) -> str:
    """The name under which ``model``'s forward takes and returns the KV cache: ``cache``
    in current transformers (``past_key_values`` is deprecated there and warns on every
    call), ``past_key_values`` in the 5.x releases before the rename."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def load_adapter(model: Any, adapter: str | os.PathLike[str], *, local_files_only: bool) -> Any:
    """Wrap ``model`` with a saved peft (LoRA) adapter, for inference. ``asset:NAME``
    names a shipped adapter; one with ``sha256.json`` is checked before it is read."""
    from peft import PeftModel

    from frs_ros.reasoning.shipped import resolve_adapter

    adapter = resolve_adapter(adapter) or str(adapter)
    try:
        peft_model = PeftModel.from_pretrained(
            model, str(adapter), is_trainable=False, local_files_only=local_files_only
        )
    except (OSError, ValueError) as err:
        raise _missing("LoRA adapter", str(adapter), err, local_files_only) from err
    log.info("loaded LoRA adapter %s", adapter)
    return peft_model.eval()
