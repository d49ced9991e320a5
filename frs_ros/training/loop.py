"""The optimisation loop shared by SFT and GRPO, with exact resume.

Why not ``transformers.Trainer`` / TRL: both stages here need one loop where a "step" can
be a batch of engine rollouts (GRPO) or of fixed sequences (SFT), and resume must be exact
for both. This loop makes the data order and every random draw a pure function of
(seed, step): item order comes from a per-epoch permutation seeded by (seed, epoch), and
torch/numpy/python RNGs are re-seeded from (seed, step) at the start of each step. So a run
killed after step k and resumed from its checkpoint (weights, optimiser, scheduler, RNG
states, step — written atomically by ``accelerate``'s ``save_state``) reaches bit-for-bit
the weights of an uninterrupted run. ``accelerate`` also makes it run under
``accelerate launch`` (DDP or DeepSpeed ZeRO-2): each process takes its share of the step's
items.

Damage on disk does not block a resume: a checkpoint with an unreadable file is skipped
with a warning naming the file, and training resumes from the newest one before it (when
none is readable, a :class:`CheckpointError` names every bad file); an unreadable line of
``metrics.jsonl`` (the last one, torn by a kill mid-write) is dropped with a warning, its
step being re-run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pickle
import random
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from frs_ros.training.config import OptimSettings
from frs_ros.training.model import autocast_dtype

LossFn = Callable[[Sequence[int], int], tuple[torch.Tensor, dict[str, float]]]
STATE = "trainer_state.json"
log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """No checkpoint of a run can be loaded; the message names each unreadable file."""


def _mixed(name: str) -> str:
    dt = autocast_dtype(name)
    return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "no"}[dt]


def total_steps(opt: OptimSettings, n_items: int) -> int:
    if n_items < 1:
        raise ValueError("no training items: the dataset is empty")
    if opt.max_steps > 0:
        return opt.max_steps
    return max(1, math.ceil(opt.epochs * n_items / (opt.batch_size * opt.grad_accum)))


def step_items(opt: OptimSettings, n_items: int, step: int) -> list[int]:
    """Dataset indices consumed by optimiser step ``step`` (0-based): a pure function."""
    per_step = opt.batch_size * opt.grad_accum
    out = []
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, k = divmod(pos, n_items)
        perm = np.random.default_rng([opt.seed, epoch]).permutation(n_items)
        out.append(int(perm[k]))
    return out


def seed_step(seed: int, step: int) -> None:
    s = (seed * 1_000_003 + step) % 2**31
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    metrics: list[dict[str, float]]
    output_dir: Path


class Trainer:
    """Runs ``loss_fn`` over micro-batches of item indices, AdamW + warm-up/cosine schedule,
    checkpoints every ``save_steps`` and resumes from the newest complete checkpoint."""

    def __init__(
        self,
        model: Any,
        opt: OptimSettings,
        n_items: int,
        output_dir: str | Path,
        loss_fn: LossFn,
        *,
        name: str = "train",
        on_step_end: Callable[[int], None] | None = None,
    ) -> None:
        from accelerate import Accelerator
        from transformers import get_scheduler

        self.opt = opt
        self.n_items = n_items
        self.out = Path(output_dir)
        self.loss_fn = loss_fn
        self.name = name
        self.on_step_end = on_step_end
        self.steps = total_steps(opt, n_items)
        self.accelerator = Accelerator(mixed_precision=_mixed(opt.mixed_precision))
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        optimizer = torch.optim.AdamW(params, lr=opt.learning_rate, weight_decay=opt.weight_decay)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        # The scheduler is not prepared: accelerate would step it once per process.
        self.scheduler = get_scheduler(
            "constant_with_warmup" if opt.scheduler == "constant" else opt.scheduler,
            self.optimizer,
            num_warmup_steps=math.ceil(opt.warmup_ratio * self.steps),
            num_training_steps=self.steps,
        )
        self.accelerator.register_for_checkpointing(self.scheduler)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """The complete checkpoints, oldest first (a kill mid-save leaves only a ``.tmp``
        dir); one whose trainer_state.json is unreadable is left out with a warning."""
        found = []
        for d in self.checkpoint_dir.glob("step-*"):
            if d.suffix == ".tmp" or not (d / STATE).is_file():
                continue
            try:
                step = json.loads((d / STATE).read_text())["step"]
                if isinstance(step, bool) or not isinstance(step, int) or step < 1:
                    raise ValueError(f"step {step!r} is not a positive integer")
            except (ValueError, KeyError, TypeError, OSError) as err:
                log.warning("skipping checkpoint %s: %s is unreadable (%s)", d, d / STATE, err)
                continue
            found.append((step, d))
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        """The newest complete checkpoint."""
        found = self.checkpoints()
        return found[-1] if found else None

    def resume(self) -> int:
        """Load the newest checkpoint that loads; returns its step (0: none, a fresh start).
        A checkpoint with an unreadable file is skipped with a warning naming the file."""
        bad: list[str] = []
        for step, path in reversed(self.checkpoints()):
            try:
                with _quiet_pickle_warnings():
                    self.accelerator.load_state(str(path))
            except Exception as err:  # corrupt files raise anything: pickle, safetensors, torch
                bad.append(_unreadable_file(path, err))
                log.warning("checkpoint %s is unusable: %s; trying the one before", path, bad[-1])
                continue
            if bad:
                log.warning("resuming from %s (step %d) instead", path, step)
            return step
        if bad:
            raise CheckpointError(
                f"no checkpoint in {self.checkpoint_dir} can be loaded: {'; '.join(bad)}; "
                f"delete {self.checkpoint_dir} to train this stage from the start"
            )
        return 0

    def train(self, stop_after: int | None = None) -> TrainResult:
        """Train to the end (or until ``stop_after`` steps are done in total, which tests
        use to simulate a kill). Returns the metrics of the steps run in this call."""
        acc = self.accelerator
        start = self.resume()
        log_path = self.out / "metrics.jsonl"
        self._truncate_log(log_path, start)
        writer = self._writer(start)
        metrics: list[dict[str, float]] = []
        end = self.steps if stop_after is None else min(self.steps, stop_after)
        bar = tqdm(
            range(start, end),
            desc=self.name,
            initial=start,
            total=self.steps,
            disable=not acc.is_local_main_process,
        )
        self.model.train()
        for step in bar:
            seed_step(self.opt.seed, step)
            row = self._step(step)
            metrics.append(row)
            if acc.is_main_process:
                with log_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                if writer is not None:
                    for k, v in row.items():
                        if k != "step":
                            writer.add_scalar(f"{self.name}/{k}", v, step + 1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("loss", "reward")})
            if self.on_step_end is not None:
                self.on_step_end(step)
            done = step + 1
            if done % self.opt.save_steps == 0 or done == self.steps:
                self.save_checkpoint(done)
        if writer is not None:
            writer.close()
        return TrainResult(end, start, metrics, self.out)

    def _step(self, step: int) -> dict[str, float]:
        acc, opt = self.accelerator, self.opt
        items = step_items(opt, self.n_items, step)
        # Each process takes its share of the step's micro-batches (DDP / ZeRO-2).
        micro = [items[i : i + opt.batch_size] for i in range(0, len(items), opt.batch_size)]
        mine = micro[acc.process_index :: acc.num_processes] or micro[:1]
        sums: dict[str, float] = {}
        for batch in mine:
            with acc.autocast():
                loss, info = self.loss_fn(batch, step)
            acc.backward(loss / len(mine))
            for k, v in {"loss": float(loss.detach()), **info}.items():
                sums[k] = sums.get(k, 0.0) + v / len(mine)
        if opt.max_grad_norm > 0:
            # logged before clipping: shows whether the clip, not the lr, sets the step size
            sums["grad_norm"] = float(
                acc.clip_grad_norm_(self.model.parameters(), opt.max_grad_norm)
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"step": step + 1, "lr": self.scheduler.get_last_lr()[0], **sums}

    def save_checkpoint(self, step: int) -> Path:
        acc = self.accelerator
        final = self.checkpoint_dir / f"step-{step}"
        tmp = final.with_suffix(".tmp")
        acc.wait_for_everyone()
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        acc.save_state(str(tmp))
        if acc.is_main_process:
            (tmp / STATE).write_text(json.dumps({"step": step, "total_steps": self.steps}))
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)  # atomic: a checkpoint dir without .tmp is complete
            self._prune()
        acc.wait_for_everyone()
        return final

    def _prune(self) -> None:
        done = self.checkpoints()
        for _, d in done[: max(0, len(done) - self.opt.save_total_limit)]:
            shutil.rmtree(d, ignore_errors=True)

    def unwrapped(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    def _truncate_log(self, path: Path, start: int) -> None:
        """Drop log rows after the resumed step (they are re-run), so logs never repeat."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            return
        kept = [r for r in read_metrics(self.out) if r["step"] <= start]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(path)  # atomic: a kill here never loses the rows kept

    def _writer(self, start: int) -> Any:
        if not self.accelerator.is_main_process:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional; metrics.jsonl has everything
            return None
        return SummaryWriter(str(self.out / "tensorboard"), purge_step=start + 1)


def read_metrics(output_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``metrics.jsonl``; an unreadable line (a torn last line after a kill
    mid-write) is dropped with a warning."""
    path = Path(output_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise ValueError("not a metrics row with a step")
        except ValueError as err:
            log.warning(
                "%s line %d is unreadable (%s); dropped, its step is re-run", path, number, err
            )
            continue
        rows.append(row)
    return rows


def _unreadable_file(checkpoint: Path, err: Exception) -> str:
    """Which file of ``checkpoint`` does not load, and why, as one line; ``err`` is what
    loading the whole checkpoint raised (named when no single file is to blame)."""
    from accelerate.utils.other import load as torch_load  # weights_only, as accelerate loads
    from safetensors.torch import load_file

    for file in sorted(checkpoint.iterdir()):
        if not file.is_file():
            continue
        try:
            if file.suffix == ".safetensors":
                load_file(file)
            elif file.suffix in (".bin", ".pkl", ".pt"):
                with _quiet_pickle_warnings():
                    torch_load(file, map_location="cpu")
        except Exception as file_err:
            return f"{file}: {_reason(file_err)}"
    return f"{checkpoint}: {_reason(err)}"


@contextlib.contextmanager
def _quiet_pickle_warnings() -> Iterator[None]:
    # a damaged file makes torch's unpickler warn about its pickle protocol, mentioning
    # weights_only; the error that follows says what is wrong, and names the file
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        yield


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, EOFError) or not text:
        return "truncated or empty"
    # torch's own message for a bad pickle advises weights_only=False: unsafe for a file
    # that is damaged or of unknown origin, so it is not repeated
    if "weights_only" in text or isinstance(err, pickle.UnpicklingError):
        return "not a torch checkpoint file (corrupt)"
    first = text.split(". ")[0].rstrip(".")[:200]
    if "PytorchStreamReader" in first:
        return f"not a torch checkpoint file ({first})"
    return first


def plot_metrics(
    output_dir: str | Path, keys: Sequence[str], png: str | Path | None = None
) -> Path:
    """A PNG of ``keys`` (e.g. loss, reward) against the step, from ``metrics.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(output_dir)
    present = [k for k in keys if any(k in r for r in rows)]
    fig, axes = plt.subplots(
        len(present) or 1, 1, figsize=(6, 2.2 * max(1, len(present))), squeeze=False
    )
    for ax, key in zip(axes[:, 0], present, strict=False):
        xs = [r["step"] for r in rows if key in r]
        ax.plot(xs, [r[key] for r in rows if key in r])
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    out = Path(png) if png is not None else Path(output_dir) / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
