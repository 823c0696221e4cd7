"""The dbt project, parsed once into a manifest that definitions load without running dbt again."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

LAKE_PATH_VARIABLE = "DATAOPS_LAKE_PATH"


def dbt_environment(lake_path: Path) -> None:
    """dbt's profile reads the lake path from the environment; our runs always set it to the declared lake."""
    os.environ[LAKE_PATH_VARIABLE] = str(lake_path)
    # dbt is installed beside this interpreter; a virtualenv used without activation has it off PATH.
    interpreter_bin = str(Path(sys.executable).parent)
    if shutil.which("dbt") is None and interpreter_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([interpreter_bin, os.environ.get("PATH", "")])
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@cache
def dbt_project(project_dir: Path, lake_path: Path) -> DbtProject:
    """The project with a manifest: parsed when missing (first use of a checkout) or under ``dagster dev``."""
    dbt_environment(lake_path)
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    else:
        project.prepare_if_dev()
    return project
