"""Shared fixtures: real database services, never mocks.

Under ``CI=true`` a missing service is a failure, not a skip: CI must prove the code against the real thing.
Locally a test may skip when the service is absent, and says why.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version
from singer_fixtures import FAKE_TAP_TEMPLATE

POSTGRES_URL = os.environ.get(
    "DATAOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get("DATAOPS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``--dist loadgroup`` where it does not group: the live tests would start a deployment per worker.

    With pytest 9.2, pytest-xdist 3.8 stops seeing ``xdist_group`` marks (pytest-dev/pytest-xdist#1386) and
    says nothing: each worker then ran part of the live tests against its own webserver and daemon, twice
    the slowest setup of the suite. pyproject.toml pins pytest below 9.2 until a fixed pytest-xdist.
    """
    if config.getoption("dist", None) != "loadgroup":
        return
    pytest_version, xdist_version = Version(pytest.__version__), Version(installed_version("pytest-xdist"))
    if pytest_version >= Version("9.2") and xdist_version <= Version("3.8.0"):
        raise pytest.UsageError(
            f"pytest {pytest_version} with pytest-xdist {xdist_version} does not group tests for --dist "
            "loadgroup (pytest-dev/pytest-xdist#1386): install pytest<9.2 as pyproject.toml pins it"
        )


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally, fail in CI, when a service the test needs is not listening."""
    if _port_open(host, port):
        return
    reason = f"{name} is not listening on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; under CI=true this test must run against the real service")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def mariadb_url() -> str:
    require_service("MariaDB", "127.0.0.1", 3306)
    return MARIADB_URL


@pytest.fixture
def unique_name() -> Iterator[str]:
    """A name no parallel test shares, for schemas and tables created in the shared services."""
    yield f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fake_tap(tmp_path: Path) -> Callable[..., Path]:
    """Build an executable fake tap printing ``lines`` (dicts are JSON-encoded, strings are sent as-is)."""
    counter = iter(range(1_000_000))

    def build(
        lines: list[dict[str, Any] | str],
        catalog: dict[str, Any],
        **behaviour: Any,
    ) -> Path:
        number = next(counter)
        spec_path = tmp_path / f"fake_tap_{number}.json"
        encoded = [line if isinstance(line, str) else json.dumps(line) for line in lines]
        spec_path.write_text(json.dumps({"lines": encoded, "catalog": catalog, **behaviour}))
        script = tmp_path / f"fake-tap-{number}"
        script.write_text(FAKE_TAP_TEMPLATE.format(python=sys.executable, spec_path=str(spec_path)))
        script.chmod(0o755)
        return script

    return build
