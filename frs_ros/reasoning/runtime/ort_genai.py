"""CPU runtime: onnxruntime-genai (int4 / int8 ONNX) behind the same contract as ``HFRuntime``.

Why this runtime for a CPU robot: docs/cpu.md (decode reads ~4× fewer weight bytes than
torch fp32, and the wheel is prebuilt). It keeps one ``og.Generator`` alive as the KV
cache: ``rewind_to`` crops it to the longest common token prefix and ``append_tokens``
prefills the rest, so tool rounds resume the same sequence and the system prompt is
prefilled once per process. Tokens are chosen here from the logits (the shared loop in
:mod:`~frs_ros.reasoning.runtime.decoding`), never by ``generate_next_token``: that leaves
the sampled token outside the cache, and appending after it silently computes wrong
logits (measured), whereas feeding every token with ``append_tokens`` keeps the cache and
``_cached_ids`` equal at all times. Tokenization is the Hugging Face tokenizer saved next
to the model, so token ids match training and ``HFRuntime`` exactly.

``frs_ros.reasoning.runtime.export_cpu.convert`` writes the directory this runtime loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from frs_ros.reasoning.runtime.base import Sampling
from frs_ros.reasoning.runtime.config import DEFAULT_CONTEXT
from frs_ros.reasoning.runtime.decoding import CachedTokenRuntime

EXPORT_MANIFEST = "frs_export.json"
_INSTALL_HINT = "pip install 'frs_ros[cpu-llm]' torch==2.13.0"


def require_ort_genai() -> Any:
    """Import onnxruntime_genai or fail with how to install it."""
    try:
        import onnxruntime_genai
    except ImportError as err:
        raise ImportError(
            f"the ort-genai reasoner runtime needs onnxruntime-genai: {_INSTALL_HINT}"
        ) from err
    return onnxruntime_genai


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which container limits narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def config_overlay(context: int, threads: int | None) -> dict[str, Any]:
    """What the runtime overlays on a model's ``genai_config.json``: the KV cache's length
    and the decoder's threads (None: :func:`available_cpus`). The threads are always set:
    left unset, onnxruntime-genai's own default ran the student's prefill and decode about
    2x slower on 2 cores than 2 explicit threads (docs/cpu.md, "Threads set explicitly")."""
    threads = available_cpus() if threads is None else threads
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    session = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
    return {"search": {"max_length": context}, "model": {"decoder": {"session_options": session}}}


class OrtGenaiRuntime(CachedTokenRuntime):
    """An :class:`~frs_ros.reasoning.runtime.base.LLMRuntime` over an onnxruntime-genai model.

    ``model_dir`` is what :func:`~frs_ros.reasoning.runtime.export_cpu.convert` writes.
    ``context`` bounds prompt + generated tokens: onnxruntime-genai preallocates the KV
    cache for it (0.6B, fp32 cache: about 0.23 MB per token, so 4096 tokens ≈ 0.9 GB).
    ``threads`` sets the intra-op threads (None: one per CPU this process may run on).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        threads: int | None = None,
        context: int = DEFAULT_CONTEXT,
        thinking: bool = False,
        sampling: Sampling | None = None,
        reuse_cache: bool = True,
        constrained: bool = False,
        draft_tokens: int = 0,
    ) -> None:
        og = require_ort_genai()
        from transformers import AutoTokenizer

        root = Path(model_dir)
        if not (root / "genai_config.json").is_file():
            raise FileNotFoundError(
                f"{root} is not an onnxruntime-genai model (no genai_config.json); "
                f"convert a checkpoint with `frs export-cpu MODEL --out {root}`"
            )
        if context < 2:
            raise ValueError(f"context must be >= 2 tokens, got {context}")
        genai = json.loads((root / "genai_config.json").read_text())
        #: whether the graph returns every position's logits (``frs export-cpu
        #: --all-logits``), which checking drafts needs; pruned graphs return the last only
        self.all_logits = bool(self._manifest(root).get("all_logits", False))
        if draft_tokens and not self.all_logits:
            raise ValueError(
                f"draft_tokens needs a model that returns every position's logits, and {root} "
                "returns the last only; convert it with `frs export-cpu ... --all-logits` "
                "(a .gguf model in a reasoner config is converted so when draft_tokens > 0)"
            )
        self.context = min(context, int(genai["model"].get("context_length", context)))
        config = og.Config(str(root))
        config.overlay(json.dumps(config_overlay(self.context, threads)))
        self.model_dir = root
        self.og_model = og.Model(config)
        self._params = og.GeneratorParams(self.og_model)
        self._og = og
        self._gen: Any = None
        tokenizer = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
        super().__init__(
            tokenizer,
            model_eos=genai["model"].get("eos_token_id"),
            thinking=thinking,
            sampling=sampling,
            reuse_cache=reuse_cache,
            constrained=constrained,
            draft_tokens=draft_tokens,
        )

    @property
    def parameter_count(self) -> int | None:
        """Parameters of the checkpoint it was converted from (``frs export-cpu`` records
        them); None for a directory converted without that record."""
        count = self._manifest(self.model_dir).get("parameters")
        return count if isinstance(count, int) else None

    @staticmethod
    def _manifest(root: Path) -> dict[str, Any]:
        """What ``frs export-cpu`` recorded about the conversion (empty when absent)."""
        try:
            manifest = json.loads((root / EXPORT_MANIFEST).read_text())
        except (OSError, ValueError):
            return {}
        return manifest if isinstance(manifest, dict) else {}

    # ------------------------------------------------------------------ backend hooks

    def _forward(self, ids: list[int], rows: int = 1) -> torch.Tensor:
        total = len(self._cached_ids) + len(ids)
        if total > self.context:
            raise ValueError(
                f"the transcript needs {total} tokens but the ort-genai runtime's context "
                f"is {self.context}; raise runtime.context in the reasoner config"
            )
        gen = (
            self._gen if self._gen is not None else self._og.Generator(self.og_model, self._params)
        )
        # Invalidate first: an exception mid-append leaves the cache in an unknown state.
        self._gen, fed = None, self._cached_ids
        self._cached_ids = []
        gen.append_tokens(np.asarray(ids, dtype=np.int32))
        if rows == 1:
            last = np.array(gen.get_logits(), dtype=np.float32)
        else:  # every position's (all_logits graphs): the raw output of this append
            last = np.array(gen.get_output("logits"), dtype=np.float32)
        logits = torch.from_numpy(last.reshape(-1, last.shape[-1])[-rows:])
        self._gen, self._cached_ids = gen, fed + list(ids)
        return logits

    def _crop(self, keep: int) -> None:
        self._gen.rewind_to(keep)

    def _drop_cache(self) -> None:
        self._gen = None
