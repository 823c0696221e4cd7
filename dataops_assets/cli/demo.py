"""``dataops demo generate|run``: the self-contained demo behind ``make run``."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from dataops_assets.config import load_pipeline
from dataops_assets.config.interpolation import DEMO_DATA_DIR


def register(commands: Any) -> None:
    parser = commands.add_parser("demo", help="generate the demo shop data, or run the whole demo pipeline")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="write the demo SQLite shop and JSONL event files")
    generate.add_argument(
        "--dest", type=Path, default=None, help=f"folder (default: $DATAOPS_DEMO_DIR or {DEMO_DATA_DIR})"
    )
    generate.add_argument("--scale", type=float, default=1.0, help="row-count multiplier (default 1.0)")
    generate.add_argument("--seed", type=int, default=7, help="random seed; same seed, same data")
    generate.add_argument("--force", action="store_true", help="regenerate even if the data exists")
    generate.set_defaults(handler=run_generate)
    run = actions.add_parser("run", help="materialize every asset over every demo partition, then summarize")
    run.set_defaults(handler=run_pipeline)


def demo_dir() -> Path:
    if explicit := os.environ.get("DATAOPS_DEMO_DIR"):
        return Path(explicit)
    return load_pipeline().project_dir / DEMO_DATA_DIR


def run_generate(arguments: argparse.Namespace) -> int:
    from dataops_assets.demo.generate import generate_demo

    destination = arguments.dest or demo_dir()
    if (destination / "shop.sqlite").exists() and not arguments.force:
        print(f"demo data already in {destination} (use --force to regenerate)")
        return 0
    dataset = generate_demo(destination, scale=arguments.scale, seed=arguments.seed)
    counts = ", ".join(f"{name} {count:,}" for name, count in dataset.counts.items())
    print(f"demo data written to {destination}: {counts}")
    return 0


def run_pipeline(arguments: argparse.Namespace) -> int:
    import dagster as dg

    from dataops_assets.automation.runs import run_main_job
    from dataops_assets.cli.summary import print_summary
    from dataops_assets.definitions import build_definitions

    pipeline = load_pipeline()
    started = time.monotonic()
    defs = build_definitions(pipeline)
    with dg.DagsterInstance.get() as instance:
        result = run_main_job(defs, instance)
    elapsed = time.monotonic() - started
    print_summary(pipeline, result, elapsed)
    return 0 if result.success else 1
