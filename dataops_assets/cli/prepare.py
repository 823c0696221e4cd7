"""``dataops prepare``: parse the dbt project so the code location loads without running dbt."""

from __future__ import annotations

import argparse
from typing import Any

from dataops_assets.config import load_pipeline


def register(commands: Any) -> None:
    parser = commands.add_parser("prepare", help="parse the dbt project into its manifest")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from dagster_dbt import DbtProject  # imported here: it costs seconds every other command need not pay

    from dataops_assets.dbt.project import dbt_environment

    pipeline = load_pipeline()
    dbt_environment(pipeline.lake.path)
    project = DbtProject(project_dir=pipeline.dbt.project_dir, profiles_dir=pipeline.dbt.project_dir)
    project.preparer.prepare(project)
    print(f"dbt manifest ready: {project.manifest_path}")
    return 0
