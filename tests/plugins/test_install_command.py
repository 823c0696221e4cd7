"""``dataops install``: creates each pip_url source's environment, reuses it, rebuilds it when the pip_url
changes, and fails in one line. In a fresh project (no shared cache); the first call goes through the
console script as an operator's would, the others through ``main`` in-process (each ``dataops`` process
spends seconds importing Dagster before it does anything)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from plugin_testkit import build_tiny_tap_wheel

from dataops_assets.cli import main
from dataops_assets.plugins.environments import FINGERPRINT_FILE

pytestmark = pytest.mark.slow
DATAOPS = str(Path(sys.executable).parent / "dataops")


def declare(project: Path, gitlab_pip_url: str, tiny_pip_url: Path | str) -> None:
    (project / "dataops.yaml").write_text(
        textwrap.dedent(
            f"""
            sources:
              gitlab:
                tap: tap-gitlab
                pip_url: {gitlab_pip_url}
                streams: [projects]
              tiny:
                tap: tap-tiny
                pip_url: {tiny_pip_url}
                streams: [widgets]
              local:
                tap: tap-dataops-sql
                streams: [people]
            """
        )
    )


def dataops(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATAOPS_CONFIG": str(project / "dataops.yaml")}
    return subprocess.run([DATAOPS, *arguments], capture_output=True, text=True, env=environment, check=False)


def dataops_in_process(
    capsys: pytest.CaptureFixture[str], *arguments: str
) -> subprocess.CompletedProcess[str]:
    capsys.readouterr()
    returncode = main(list(arguments))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(arguments, returncode, captured.out, captured.err)


def test_install_creates_reuses_rebuilds_and_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("DATAOPS_CONFIG", str(project / "dataops.yaml"))
    first_wheel = build_tiny_tap_wheel(tmp_path / "v1", "0.1.0")
    declare(project, "tap-gitlab==0.5.1 pytz", first_wheel)
    plugins = project / ".dataops" / "plugins"

    created = dataops(project, "install")
    assert created.returncode == 0, created.stderr
    assert "installing tap-gitlab for source gitlab: pip_url tap-gitlab==0.5.1 pytz" in created.stdout
    assert f"installing tap-tiny for source tiny: pip_url {first_wheel}" in created.stdout
    assert created.stdout.count("done in ") == 2 and "local" not in created.stdout
    gitlab_help = subprocess.run(
        [plugins / "gitlab/bin/tap-gitlab", "--help"], capture_output=True, text=True, check=True
    )
    assert "--discover" in gitlab_help.stdout
    fingerprints = {name: (plugins / name / FINGERPRINT_FILE).read_text() for name in ("gitlab", "tiny")}

    reused = dataops_in_process(capsys, "install")
    assert reused.returncode == 0 and "installing" not in reused.stdout
    assert "gitlab: tap-gitlab is up to date in" in reused.stdout
    assert {name: (plugins / name / FINGERPRINT_FILE).read_text() for name in fingerprints} == fingerprints

    declare(project, "tap-gitlab==0.5.1 pytz", build_tiny_tap_wheel(tmp_path / "v2", "0.2.0"))
    rebuilt = dataops_in_process(capsys, "install", "tiny", "local")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "installing tap-tiny for source tiny" in rebuilt.stdout and "gitlab" not in rebuilt.stdout
    assert "local: no pip_url" in rebuilt.stdout
    assert (plugins / "tiny" / FINGERPRINT_FILE).read_text() != fingerprints["tiny"]
    assert (plugins / "gitlab" / FINGERPRINT_FILE).read_text() == fingerprints["gitlab"]
    version = subprocess.run([plugins / "tiny/bin/tap-tiny", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "0.2.0"

    declare(project, "tap-does-not-exist-dataops-test==1.0", first_wheel)
    failed = dataops_in_process(capsys, "install", "gitlab")
    assert failed.returncode == 1
    reason = failed.stderr.strip().splitlines()[-1]
    assert reason.startswith(
        "dataops install: source gitlab: installing tap-does-not-exist-dataops-test==1.0 failed: uv pip install: "
    )
    assert "tap-does-not-exist-dataops-test" in reason.split("uv pip install: ", 1)[1]
    assert (plugins / "gitlab" / FINGERPRINT_FILE).read_text() == fingerprints["gitlab"]  # still usable

    with pytest.raises(SystemExit) as shown:
        main(["install", "--help"])
    assert shown.value.code == 0 and "--force" in capsys.readouterr().out

    unknown = dataops_in_process(capsys, "install", "nope")
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip()
        == "dataops install: no source named nope in the declaration (known: gitlab, local, tiny)"
    )
