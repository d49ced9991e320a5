"""The ``frs`` command line: ``segment``, ``twin``, and the evaluation / training stages.

``frs segment INPUT --query "..."`` runs the whole online path offline: frames → perception
→ twin → reasoner → masks, and writes mask PNGs, an overlay and ``result.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from PIL import Image
from tqdm import tqdm

import frs_ros
from frs_ros.io.frames import Frame
from frs_ros.io.sources import DEPTH_SUFFIX, IMAGE_SUFFIXES, iter_frames, kind_of
from frs_ros.reasoning.options import add_reasoner_arguments, reasoner_config
from frs_ros.terminal import escape_terminal
from frs_ros.twin import Twin
from frs_ros.twin import rle as rle_utils
from frs_ros.twin.serialize import to_compact, to_verbose
from frs_ros.validation import positive_float, positive_int

log = logging.getLogger("frs")


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="image, folder of images, .gif, video file or rosbag2")
    p.add_argument(
        "--models",
        default="default",
        help="perception profile: default | cpu (sized for a CPU robot) | tiny | a YAML path",
    )
    p.add_argument(
        "--perception",
        default=None,
        help="perception config YAML (thresholds, keyframes...); default: the profile's own",
    )
    p.add_argument("--labels", default="", help="extra detector labels, comma-separated")
    p.add_argument("--max-frames", type=positive_int, default=64, help="at most this many frames")
    p.add_argument("--stride", type=positive_int, default=1, help="use every N-th frame")
    p.add_argument("--fps", type=positive_float, default=10.0, help="frame rate of untimed inputs")
    p.add_argument("--image-topic", default=None, help="rosbag2: colour topic (auto)")
    p.add_argument("--depth-topic", default=None, help="rosbag2: depth topic")
    p.add_argument("--info-topic", default=None, help="rosbag2: CameraInfo topic")


def _frames(args: argparse.Namespace) -> Any:
    return iter_frames(
        args.input,
        fps=args.fps,
        max_frames=args.max_frames,
        stride=args.stride,
        image_topic=args.image_topic,
        depth_topic=args.depth_topic,
        info_topic=args.info_topic,
    )


def _input_frames(args: argparse.Namespace) -> Iterator[Frame]:
    """The input's frames, the first one decoded now: a damaged input fails in a second,
    before any model loads."""
    frames = _frames(args)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{args.input} yielded no frames")
    return itertools.chain([first], frames)


def _frame_total(args: argparse.Namespace) -> int | None:
    """How many frames the input yields, where that is known without decoding it (an
    image, a folder); None for videos and bags, whose bars then count without a total."""
    path = Path(args.input)
    kind = kind_of(path)
    if kind == "image":
        return 1
    if kind != "folder":
        return None
    files = [
        f
        for f in path.iterdir()
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.stem.endswith(DEPTH_SUFFIX)
    ]
    return min(len(files[:: args.stride]), args.max_frames)


def observe_input(
    args: argparse.Namespace, frames: Iterator[Frame], segmenter: Any
) -> dict[str, float]:
    """Feed ``frames`` (at least one) to ``segmenter``; returns perception timings."""
    t0 = time.perf_counter()
    n = 0
    total = _frame_total(args)
    # a bar only where there is progress to show: one image is one step
    bar = tqdm(frames, desc="perception", unit="frame", total=total, disable=total == 1)
    for frame in bar:
        segmenter.observe(frame)
        n += 1
    return {"perception_per_frame_s": (time.perf_counter() - t0) / n}


def _segmenter(
    args: argparse.Namespace, models: str | None, reasoner: str | None, config: Any = None
) -> tuple[Any, float]:
    """The segmenter of the flags (the whole clip fits its window: at most --max-frames
    frames) and the seconds its models took to load."""
    from frs_ros.segmenter import ReasoningSegmenter

    labels = [s.strip() for s in args.labels.split(",") if s.strip()]
    t0 = time.perf_counter()
    seg = ReasoningSegmenter.from_config(
        models,
        reasoner,
        config,
        perception=args.perception,
        window=max(args.max_frames, 1),
        extra_labels=labels,
    )
    return seg, time.perf_counter() - t0


def cmd_twin(args: argparse.Namespace) -> int:
    frames = _input_frames(args)
    seg, _ = _segmenter(args, args.models, reasoner=None)
    observe_input(args, frames, seg)
    twin = seg.twin
    text = {
        "json": lambda: twin.to_json(indent=1),
        "compact": lambda: to_compact(twin),
        "verbose": lambda: to_verbose(twin),
    }[args.form]()
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote the twin of {len(twin)} frame(s), {len(twin.ids)} object(s) to {args.out}")
    else:
        print(escape_terminal(text, keep_newlines=True))  # labels may come from --labels
    return 0


def _save_mask(mask: np.ndarray, path: Path) -> None:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _check_twin_matches_input(twin: Twin, args: argparse.Namespace) -> None:
    """A --twin's masks are drawn over the input's frames: their sizes must agree (checked
    on the first frame, before any model loads)."""
    if not twin.frames:
        raise ValueError(f"twin file {args.twin} has no frames")
    frame = next(_frames(args), None)
    if frame is None:
        raise ValueError(f"{args.input} yielded no frames")
    h, w = frame.rgb.shape[:2]
    latest = twin.latest
    if (latest.height, latest.width) != (h, w):
        raise ValueError(
            f"twin file {args.twin} is for {latest.width}x{latest.height} frames but "
            f"{args.input} is {w}x{h}; pass the input the twin was built from"
        )


def cmd_segment(args: argparse.Namespace) -> int:
    from frs_ros.reasoning import validate_query
    from frs_ros.reasoning.runtime.factory import reasoner_config_path

    config = reasoner_config(args)  # bad flags and queries fail before any model loads
    query = validate_query(args.query, config.max_query_chars)
    reasoner_config_path(args.reasoner)  # so does a misspelt config name
    out = Path(args.out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    if args.twin:  # a given twin (e.g. the example's ground truth) replaces perception
        twin = Twin.load(args.twin)
        _check_twin_matches_input(twin, args)
        seg, load_s = _segmenter(args, None, args.reasoner, config)
        seg.set_twin(twin)
        timings = {"models_load_s": load_s}
    else:
        frames = _input_frames(args)
        seg, load_s = _segmenter(args, args.models, args.reasoner, config)
        timings = {"models_load_s": load_s, **observe_input(args, frames, seg)}
    answer = seg.ask(query)
    twin, result = answer.twin, answer.result

    for fm in answer.masks.frames:
        _save_mask(fm.union_array(), out / "masks" / f"frame_{fm.index:04d}.png")
        for obj_id, rle in fm.instances.items():
            _save_mask(
                rle_utils.decode(rle), out / "masks" / f"frame_{fm.index:04d}_id{obj_id}.png"
            )
    # A second lazy pass over the input draws the overlays: memory stays bounded.
    overlays = [
        Image.fromarray(answer.overlay(f.rgb, f.index, caption=True)) for f in _frames(args)
    ]
    overlays[-1].save(out / "overlay.png")
    if len(overlays) > 1:
        overlays[0].save(
            out / "overlay.gif",
            save_all=True,
            append_images=overlays[1:],
            duration=int(1000 / args.fps),
            loop=0,
        )
    (out / "twin.json").write_text(twin.to_json())
    report = {
        "input": str(args.input),
        "input_kind": kind_of(args.input),
        "query": answer.query,
        "prompt": seg.config.prompt,
        "few_shot": seg.config.few_shot,
        "ids": answer.ids,
        "unknown_ids": answer.unknown_ids,
        "empty": answer.empty,
        "outcome": answer.outcome,
        "reasoning": answer.reasoning,
        "rollout": result.transcript.rollout,
        "rounds": result.rounds,
        "tokens": result.n_tokens,
        "frames": len(twin),
        "objects": len(twin.ids),
        "timings": {**timings, **{f"reasoning_{k}": v for k, v in answer.timings.items()}},
    }
    (out / "result.json").write_text(json.dumps(report, indent=2))
    labels = {i: twin.last_seen(i).label for i in answer.ids}
    print(f"query: {escape_terminal(answer.query)}")
    print(escape_terminal(f"answer: {answer.outcome} ids={answer.ids} {labels}"))
    if answer.unknown_ids:
        print(f"ids not in the twin (ignored): {answer.unknown_ids}")
    print(f"wrote {out}/result.json, overlay.png and {len(answer.masks.frames)} mask frame(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="frs", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {frs_ros.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment what a query means in an input")
    _add_input_args(seg)
    seg.add_argument("--query", "-q", required=True, help="what to segment, in words")
    seg.add_argument(
        "--reasoner",
        default="default",
        help="reasoner config: default | cpu | tiny | openai | a YAML",
    )
    seg.add_argument("--out", default="out/segment", help="output directory")
    seg.add_argument("--twin", default=None, help="reason over this twin JSON, no perception")
    add_reasoner_arguments(seg)
    seg.set_defaults(func=cmd_segment)

    tw = sub.add_parser("twin", help="dump the digital twin of an input")
    _add_input_args(tw)
    tw.add_argument("--form", choices=("json", "compact", "verbose"), default="json")
    tw.add_argument("--out", default=None, help="file to write (default: stdout)")
    tw.set_defaults(func=cmd_twin)

    from frs_ros.deploy.cli import add_ros_parser
    from frs_ros.evaluation.cli import add_bench_parser, add_eval_parser
    from frs_ros.reasoning.model_sources import add_models_parser
    from frs_ros.reasoning.runtime.export_cpu import add_export_cpu_parser
    from frs_ros.training.cli import add_train_parser

    add_eval_parser(sub)
    add_bench_parser(sub)
    add_train_parser(sub)
    add_ros_parser(sub)
    add_models_parser(sub)
    add_export_cpu_parser(sub)
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit code 2), with user-typed text escaped."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, escape_terminal(f"{self.prog}: error: {message} (see --help)") + "\n")


# Bad input or environment: exit code 2. Anything else is a bug or a failing server: 1.
_INPUT_ERRORS = (ValueError, FileNotFoundError, ImportError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"frs {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, _INPUT_ERRORS):
            code, text = 2, str(exc)
        else:
            code, text = 1, f"{type(exc).__name__}: {exc} (--debug shows the traceback)"
        # newlines stay (a multi-line message is read as lines, not as \x0a escapes)
        message = escape_terminal(f"frs {args.command}: error: {text}", keep_newlines=True)
        print(message, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
