"""The live deployment, started once per test session and shared by the GraphQL and browser tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import dagster as dg
import pytest
from live_dagster import BIN, REPOSITORY, LiveDagster, free_port, wait_for_location, write_project

from dataops_assets.config import load_pipeline
from dataops_assets.definitions import build_definitions


@pytest.fixture(scope="session")
def live_dagster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDagster]:
    root = tmp_path_factory.mktemp("live_project")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPOSITORY / "dagster_home/dagster.yaml", home / "dagster.yaml")
    write_project(root)
    # parse the dbt manifest once here, not in the webserver's and daemon's code servers at the same time
    build_definitions(load_pipeline(root / "dataops.yaml"))
    # create the instance's SQLite storage once: two processes migrating a fresh one at once collide
    with dg.DagsterInstance.from_config(str(home)):
        pass

    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATAOPS_CONFIG": str(root / "dataops.yaml"),
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    port = free_port()
    live = LiveDagster(url=f"http://127.0.0.1:{port}", root=root, home=home)
    commands = {
        "webserver": [
            str(BIN / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
    }
    try:
        for name, command in commands.items():
            log = (root / f"{name}.log").open("wb")
            live.processes.append(
                subprocess.Popen(
                    command,
                    cwd=root,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_for_location(live, time.monotonic() + 120)
        yield live
    finally:
        # each process leads its own session: stop it with the code servers and runs it started
        for process in live.processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in live.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
