"""The Python API in one page: observe a clip, ask, follow up, track, draw.

    python examples/python_api.py                                   # tiny random models
    python examples/python_api.py --models default --reasoner cpu   # real ones (docs/cpu.md)
    python examples/python_api.py --twin                # ground-truth twin, no perception

With the tiny profiles the answers are meaningless (random weights); the calls are the
ones a robot program makes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from frs_ros.io.sources import iter_frames
from frs_ros.reasoning import ReasonerConfig
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.twin import Twin

CLIP = Path(__file__).parent / "kitchen_video"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny", help="perception profile")
    parser.add_argument("--reasoner", default="tiny", help="reasoner config")
    parser.add_argument("--twin", action="store_true", help="reason over the clip's twin.json")
    parser.add_argument("--out", default="out/python_api", help="where the overlay goes")
    args = parser.parse_args()

    seg = ReasoningSegmenter.from_config(
        None if args.twin else args.models,
        args.reasoner,
        ReasonerConfig(max_new_tokens=96),
        window=8,  # the twin keeps the last 8 frames, however long the stream
    )
    frames = list(iter_frames(CLIP, fps=2.0))
    if args.twin:
        seg.set_twin(Twin.from_json((CLIP / "twin.json").read_text()))
    else:
        for frame in frames:  # a camera callback would call observe() per frame
            seg.observe(frame)
    print(f"twin: {len(seg.twin)} frames, objects {seg.twin.ids}")

    answer = seg.ask("what could prick a finger")
    print(f"answer: {answer.outcome} ids={answer.ids} in {answer.timings['total_s']:.1f} s")
    # a follow-up sees the previous answer; track=True follows its objects onto new frames
    follow = seg.ask("the one closest to it", follow_up=True, track=True)
    print(f"follow-up: {follow.outcome} ids={follow.ids}")
    tracked = seg.tracked()  # what a camera loop reads after each observe()
    print(f"tracked: ids={tracked.ids} on frame {tracked.twin.latest.index}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(answer.overlay(frames[-1].rgb)).save(out / "overlay.png")
    print(f"wrote {out / 'overlay.png'}")


if __name__ == "__main__":
    main()
