"""``frs eval``, ``frs bench generate`` and ``frs bench reword``: parser builders and
handlers for ``frs_ros.cli``.

``frs_ros/cli.py`` wires them in: ``add_eval_parser(sub)`` sets ``func=run_eval`` and
``add_bench_parser(sub)`` sets ``func=run_bench``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frs_ros.benchmark.generator import SPLITS, generate_dataset
from frs_ros.benchmark.heldout import (
    HELDOUT_FILE,
    NAMED_SETS,
    REWORDED_FILE,
    load_named,
    write_heldout,
)
from frs_ros.evaluation.harness import MODES, evaluate
from frs_ros.evaluation.predictors import (
    LargestPredictor,
    OraclePredictor,
    Predictor,
    RandomPredictor,
    ReasonerPredictor,
)
from frs_ros.manifest import ensure_manifest, file_digest, local_digest, settings_digest, slug
from frs_ros.reasoning.few_shot import FEW_SHOT_SPLIT
from frs_ros.reasoning.options import add_reasoner_arguments, reasoner_config
from frs_ros.samples import Sample, read_jsonl
from frs_ros.validation import fraction, non_negative_int, positive_int

METHODS: tuple[str, ...] = ("oracle", "random", "largest", "hf", "openai", "config")
LLM_METHODS: tuple[str, ...] = ("hf", "openai", "config")
DEFAULT_HF_MODEL = "Qwen/Qwen3-0.6B"


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="evaluate a reasoner on a benchmark split (J, F, J&F, gIoU, cIoU, R)"
    )
    p.add_argument(
        "data",
        help="a benchmark folder (with <split>.jsonl), a .jsonl file, or a shipped set: "
        "heldout (the frozen test set) | reworded (its hand-reworded queries)",
    )
    p.add_argument("--split", default="test", choices=SPLITS, help="split, for a folder")
    p.add_argument("--method", default="oracle", choices=METHODS, help="what answers")
    p.add_argument("--model", default=None, help="hf: hub id, local dir or 'tiny'; openai: name")
    p.add_argument("--adapter", default=None, help="hf: LoRA adapter directory")
    p.add_argument("--dtype", default=None, help="hf: float32 | bfloat16 | auto")
    p.add_argument("--device", default=None, help="hf: cpu | cuda")
    p.add_argument("--endpoint", default=None, help="openai: base URL of the server")
    p.add_argument("--api-key-env", default=None, help="openai: env var holding the API key")
    p.add_argument(
        "--server",
        default=None,
        choices=("llamacpp", "vllm", "ollama"),
        help="openai: the server's kind (where it reads a grammar, which penalties it has)",
    )
    p.add_argument(
        "--constrained",
        action="store_true",
        help="openai: the server decodes inside the protocol grammar (needs --server)",
    )
    p.add_argument("--reasoner-config", default=None, help="config: reasoner YAML (runtime:)")
    p.add_argument(
        "--mode",
        default="twin",
        choices=MODES,
        help="twin: reasoning only; full: render -> perception -> twin -> reasoning",
    )
    p.add_argument(
        "--models", default="default", help="full mode: perception profile (default | cpu | tiny)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: out/eval/<method>[-<model>]-<mode>-<settings digest>); "
        "resuming one made with other settings is refused",
    )
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate at most N samples")
    p.add_argument(
        "--bootstrap",
        type=non_negative_int,
        default=1000,
        help="resamples of the 95 %% confidence intervals (seeded; 0: none)",
    )
    add_reasoner_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="random baseline seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_eval)
    return p


def add_bench_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="the reasoning-over-twins benchmark")
    bench_sub = p.add_subparsers(dest="bench_command", required=True)
    g = bench_sub.add_parser("generate", help="generate train/validation/test JSONL splits")
    g.add_argument("--out", default="data/bench", help="output folder")
    g.add_argument(
        "--n-per-cell", type=positive_int, default=20, help="samples per category x level"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    g.add_argument("--negative-fraction", type=fraction, default=0.2)
    g.add_argument(
        "--video-fraction",
        type=fraction,
        default=0.25,
        help="share of semantic/spatial samples on video (temporal: always)",
    )
    g.add_argument("--frames", type=positive_int, default=6, help="frames per video scene")
    g.add_argument(
        "--paraphrase",
        type=fraction,
        default=0.0,
        help="share of queries reworded in other words than the templates' "
        "(frs_ros/benchmark/paraphrase.py; for training data)",
    )
    g.add_argument("--size", default="240x320", help="image size HxW")
    g.add_argument(
        "--heldout",
        action="store_true",
        help="write the frozen held-out set (<out>/heldout.jsonl) with its own settings "
        "and check it against its sha256",
    )
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=run_bench)

    r = bench_sub.add_parser(
        "reword",
        help="reword a share of a training file's queries with a local LLM, checked to keep "
        "their answer (frs_ros/benchmark/llm_reword.py)",
    )
    r.add_argument("data", help="sample JSONL (e.g. the train.jsonl of `frs bench generate`)")
    r.add_argument("--out", required=True, help="output folder (resumes when it has a log)")
    r.add_argument(
        "--model-config",
        default="reworder.yaml",
        help="runtime config of the rewording model (default: config/reworder.yaml, "
        "Qwen2.5-Coder-1.5B from `frs models get`)",
    )
    r.add_argument("--fraction", type=fraction, default=0.5, help="share of queries sent")
    r.add_argument("--candidates", type=positive_int, default=3, help="wordings drawn per query")
    r.add_argument("--seed", type=int, default=0, help="which samples are sent")
    r.add_argument(
        "--categories",
        nargs="+",
        default=[],
        choices=("semantic", "spatial", "temporal"),
        help="send only these categories' samples (default: all)",
    )
    r.add_argument(
        "--add",
        action="store_true",
        help="add each kept wording as a copy (id <id>-llm) instead of replacing the query",
    )
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=run_reword)
    return p


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 240x320 (HxW), got {text!r}") from None
    if h < 32 or w < 32:
        raise ValueError(f"--size must be at least 32x32, got {text!r}")
    return h, w


def run_reword(args: argparse.Namespace) -> int:
    from frs_ros.benchmark.llm_reword import RewordConfig, reword_samples
    from frs_ros.reasoning.runtime.config import runtime_config
    from frs_ros.reasoning.runtime.factory import build_runtime, reasoner_config_path
    from frs_ros.yaml_safe import load_yaml_mapping

    samples = read_jsonl(args.data)
    config = RewordConfig(
        fraction=args.fraction,
        candidates=args.candidates,
        seed=args.seed,
        categories=tuple(args.categories),
        add=args.add,
    )
    path = reasoner_config_path(args.model_config)
    spec = runtime_config(load_yaml_mapping(path, "model config"), f"model config {path}")
    report = reword_samples(
        samples,
        build_runtime(spec),
        args.out,
        config=config,
        model_name=Path(getattr(spec, "model", "") or path.stem).name,  # the GGUF file's name
        progress=not args.no_progress,
    )
    print(report.markdown())
    print(f"wrote {report.out_dir / 'train.jsonl'}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    if args.bench_command != "generate":  # argparse enforces it; keep the handler honest
        raise ValueError(f"unknown bench command {args.bench_command!r}")
    if args.heldout:
        print(write_heldout(args.out, progress=not args.no_progress))
        return 0
    generate_dataset(
        args.out,
        args.n_per_cell,
        seed=args.seed,
        splits=args.splits,
        negative_fraction=args.negative_fraction,
        video_fraction=args.video_fraction,
        n_frames=args.frames,
        size=_size(args.size),
        paraphrase=args.paraphrase,
        progress=not args.no_progress,
    )
    return 0


def build_predictor(args: argparse.Namespace) -> Predictor:
    """The predictor named by ``--method`` (LLM runtimes through the runtime factory)."""
    from frs_ros.reasoning.runtime import load_runtime

    if args.method == "oracle":
        return OraclePredictor()
    if args.method == "random":
        return RandomPredictor(args.seed)
    if args.method == "largest":
        return LargestPredictor()
    if args.method == "hf":
        cfg = {"kind": "hf", "model": args.model or DEFAULT_HF_MODEL}
        cfg |= {k: v for k in ("adapter", "dtype", "device") if (v := getattr(args, k))}
    elif args.method == "openai":
        if not args.endpoint or not args.model:
            raise ValueError("--method openai needs --endpoint URL and --model NAME")
        endpoint = {"url": args.endpoint}
        if args.api_key_env:
            endpoint["api_key_env"] = args.api_key_env
        cfg = {"kind": "openai", "model": args.model, "endpoint": endpoint}
        cfg |= {"server": args.server, "constrained": args.constrained}
    else:
        if not args.reasoner_config:
            raise ValueError("--method config needs --reasoner-config PATH")
        cfg = args.reasoner_config
    runtime = load_runtime(cfg)
    config = reasoner_config(args)
    name = args.method if args.method != "hf" else f"hf:{cfg['model']}"
    return ReasonerPredictor(runtime, config, name=name)


def eval_settings(args: argparse.Namespace, data: Path) -> dict[str, object]:
    """What determines the predictions of ``frs eval`` (its manifest). ``--limit`` is left
    out: it bounds how many samples are scored, not what each prediction is, so a rerun with
    a larger limit extends the run."""
    settings: dict[str, object] = {
        "command": "eval",
        "method": args.method,
        "mode": args.mode,
        "data": str(data),
        "data_sha256": file_digest(data),
        "seed": args.seed,
    }
    if args.mode == "full":
        settings["models"] = args.models
    if args.method == "hf":
        settings |= {
            "model": args.model or DEFAULT_HF_MODEL,
            "adapter_sha256": file_digest(args.adapter),
            "dtype": args.dtype,
        }
        # weights in a local dir or file, by content: replaced in place, they are noticed
        if (digest := local_digest(args.model)) is not None:
            settings["model_sha256"] = digest
    elif args.method == "openai":
        settings |= {"model": args.model, "endpoint": args.endpoint}
        if args.server or args.constrained:  # recorded when set: older folders stay valid
            settings |= {"server": args.server, "constrained": args.constrained}
    elif args.method == "config":
        settings["reasoner_config_sha256"] = file_digest(args.reasoner_config)
        settings |= _runtime_weights(args.reasoner_config)
    if args.method in LLM_METHODS:
        cfg = reasoner_config(args)  # validates the flags before anything is loaded
        settings |= {
            "prompt": cfg.prompt,
            "max_rounds": cfg.max_rounds,
            "max_new_tokens": cfg.max_new_tokens,
            "timeout_s": cfg.timeout_s,
        }
        if cfg.few_shot:  # recorded only when used: zero-shot folders made before stay valid
            settings["few_shot"] = cfg.few_shot
    return settings


def _runtime_weights(reasoner_config: str | None) -> dict[str, str]:
    """Content digests of the local model and adapter a reasoner config's runtime names
    (``runtime_model_sha256``, ``runtime_adapter_sha256``): the config file's own digest
    does not change when the weights it points at do."""
    from frs_ros.reasoning.runtime.factory import reasoner_config_path
    from frs_ros.yaml_safe import load_yaml_mapping

    if not reasoner_config:
        return {}
    config = load_yaml_mapping(reasoner_config_path(reasoner_config), "reasoner config")
    runtime = config.get("runtime", config)
    out = {}
    for key in ("model", "adapter"):
        value = runtime.get(key) if isinstance(runtime, dict) else None
        if isinstance(value, str) and (digest := local_digest(value)) is not None:
            out[f"runtime_{key}_sha256"] = digest
    return out


def check_few_shot_split(samples: list[Sample], few_shot: int) -> None:
    """Few-shot examples come from the train split: scoring train samples with them in the
    prompt could score a model on an answer it was shown."""
    if few_shot and any(s.split == FEW_SHOT_SPLIT for s in samples):
        raise ValueError(
            f"--few-shot {few_shot} takes its examples from the {FEW_SHOT_SPLIT} split; "
            f"evaluate another split (validation or test)"
        )


def default_out(settings: dict[str, object]) -> Path:
    """``out/eval/<method>[-<model>]-<mode>-<digest>``: one folder per set of settings."""
    parts = [str(settings["method"])]
    if settings.get("model"):
        parts.append(slug(str(settings["model"])))
    parts += [str(settings["mode"]), settings_digest(settings)]
    return Path("out/eval") / "-".join(parts)


def load_eval_data(data: str, split: str) -> tuple[list[Sample], Path]:
    """The samples ``frs eval`` scores and the file that identifies them (its manifest
    records that file's hash): a shipped set by name, a folder's split or a JSONL file."""
    if data in NAMED_SETS and not Path(data).exists():
        return load_named(data), HELDOUT_FILE if data == "heldout" else REWORDED_FILE
    path = Path(data) / f"{split}.jsonl" if Path(data).is_dir() else Path(data)
    return list(read_jsonl(path)), path


def run_eval(args: argparse.Namespace) -> int:
    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    samples, path = load_eval_data(args.data, args.split)
    if not samples:
        raise ValueError(f"{path} holds no samples")
    settings = eval_settings(args, path)
    if args.data in NAMED_SETS and not Path(args.data).exists():
        settings["data"] = args.data  # the name, not where the package is installed
    if args.method in LLM_METHODS:
        check_few_shot_split(samples, args.few_shot)
    out = Path(args.out) if args.out else default_out(settings)
    ensure_manifest(out, settings)  # before any model loads: a mismatch fails at once
    predictor = build_predictor(args)
    pipeline = None
    if args.mode == "full":
        from frs_ros.perception import PerceptionPipeline

        pipeline = PerceptionPipeline.from_profile(args.models)
    report = evaluate(
        samples,
        predictor,
        out,
        mode=args.mode,
        pipeline=pipeline,
        limit=args.limit,
        progress=not args.no_progress,
        bootstrap=args.bootstrap,
    )
    print(report.markdown())
    if report.n_new < len(report.metrics):
        print(f"(resumed: {len(report.metrics) - report.n_new} samples were already scored)")
    print(f"wrote {out}/metrics.md, metrics.csv, metrics.json, jf.png, efficiency.md")
    if report.chain_failures:
        print(f"oracle replay differed from the chain on {report.chain_failures}", file=sys.stderr)
        return 1
    return 0
