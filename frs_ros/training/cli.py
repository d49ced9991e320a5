"""``frs train data|teacher|sft|student|export|all --recipe training/recipes/tiny.yaml``
(also ``python -m frs_ros.training ...``). Every stage reads its section of the recipe
and resumes from its newest checkpoint when re-run."""

from __future__ import annotations

import argparse
import logging

from frs_ros.training.config import Recipe, load_recipe

STAGES = ("data", "teacher", "sft", "student", "export")


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="offline training stages (docs/training.md)")
    p.add_argument(
        "stage", choices=(*STAGES, "all"), help="stage to run; all = every stage in the recipe"
    )
    p.add_argument("--recipe", required=True, help="YAML recipe (training/recipes/*.yaml)")
    p.set_defaults(func=run_train)
    return p


def run_stage(stage: str, recipe: Recipe) -> None:
    log = logging.getLogger("frs.train")
    if stage == "data":
        from frs_ros.training.data import run_data

        n, reports = run_data(recipe.data)
        for r in reports:
            log.info(
                "%s: %d frames (%d built), %d skipped", r.bag, r.frames, r.built, len(r.skipped)
            )
            for why in r.skipped:
                log.warning("  skipped %s", why)
        print(f"data: {n} training samples -> {recipe.data.output}")
    elif stage in ("teacher", "student"):
        from frs_ros.training.grpo import run_grpo

        cfg = getattr(recipe, stage)
        result = run_grpo(cfg, name=stage)
        print(f"{stage}: {result.steps} steps -> {cfg.output_dir}/final")
    elif stage == "sft":
        from frs_ros.training.sft import run_sft

        result = run_sft(recipe.sft)
        print(f"sft: {result.steps} steps -> {recipe.sft.output_dir}/final")
    elif stage == "export":
        from frs_ros.training.export import run_export

        for kind, path in run_export(recipe.export).items():
            print(f"export: {kind} -> {path}")


def run_train(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    # all = every stage the recipe has a section for (a recipe may start from given data)
    for stage in recipe.sections if args.stage == "all" else (args.stage,):
        run_stage(stage, recipe)
    return 0
