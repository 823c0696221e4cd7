"""Start and talk to a live Dagster deployment of a temporary demo project: ``dagster-webserver`` and ``dagster-daemon``.

The instance is the project's own ``dagster_home/dagster.yaml`` (queued run coordinator, the
``duckdb_lake`` pool limited to one op, freshness), copied into a temporary DAGSTER_HOME. The
declaration switches on the shop's schedule every minute and the web source's folder sensor every
five seconds, so the daemon's ticks can be watched within a test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from dataops_assets.demo.generate import generate_demo

REPOSITORY = Path(__file__).resolve().parents[2]
LOCATION = "dataops_assets"
REPOSITORY_NAME = "__repository__"
BIN = Path(sys.executable).parent


@dataclass
class LiveDagster:
    """The running webserver (``url``), the project it serves (``root``) and a GraphQL client."""

    url: str
    root: Path
    home: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    def logs(self) -> str:
        """The webserver's and daemon's output, for a failing assertion's message."""
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.root.glob("*.log"))
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_project(root: Path) -> None:
    generate_demo(root / "demo", scale=0.05)
    declaration = f"""
    lake:
      path: .dataops/lake.duckdb
      landing_dir: .dataops/landing
    dbt:
      project_dir: {REPOSITORY / "dbt_project"}
    sources:
      shop:
        tap: tap-dataops-sql
        config:
          sqlalchemy_url: sqlite:///{root / "demo/shop.sqlite"}
        streams:
          customers: {{replication_key: updated_at}}
          products: {{replication_key: updated_at}}
          orders: {{replication_key: updated_at}}
          order_items: {{replication_key: updated_at}}
        partitions: {{start_date: 2024-01-01, end_date: 2024-03-01}}
        schedule: {{cron: "* * * * *", enabled: true}}
      web:
        tap: tap-dataops-files
        config:
          path: {root / "demo/events"}
          streams:
            - name: events
              glob: "events-*.jsonl"
              key_properties: [event_id]
              replication_key: occurred_at
        streams:
          events: {{}}
        partitions: {{start_date: 2024-01-01, end_date: 2024-03-01}}
        sensor: {{enabled: true, minimum_interval_seconds: 5}}
    """
    (root / "dataops.yaml").write_text(textwrap.dedent(declaration))
    workspace = f"""
    load_from:
      - python_module:
          module_name: dataops_assets.definitions
          working_directory: {root}
          location_name: {LOCATION}
    """
    (root / "workspace.yaml").write_text(textwrap.dedent(workspace))


def wait_for_location(live: LiveDagster, deadline: float) -> None:
    query = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name } } } }"""
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in live.processes):
            break
        try:
            data = live.graphql(query)["repositoriesOrError"]
            if data["__typename"] == "RepositoryConnection" and data["nodes"]:
                return
        except (requests.RequestException, AssertionError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the webserver or daemon stopped, or the code location did not load\n{live.logs()}")


# Launch a run of a job or an asset selection; the answer names the run or says why it did not start.
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
