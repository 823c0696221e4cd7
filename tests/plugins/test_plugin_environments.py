"""A tap's own virtualenv: built once, reused while its pip_url holds, rebuilt when it changes, never
half-built, one builder at a time. Offline: the tap is a wheel made here."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from plugin_testkit import build_tiny_tap_wheel

from dataops_assets.plugins.environments import (
    FINGERPRINT_FILE,
    PluginSpec,
    ensure_environment,
    read_fingerprint,
)
from dataops_assets.plugins.errors import PluginError, PluginInstallError
from dataops_assets.plugins.installer import one_line_reason


def spec_for(pip_url: Path | str, executable: str = "tap-tiny") -> PluginSpec:
    return PluginSpec(name="tiny", label="tap-tiny", pip_url=str(pip_url), executable=executable)


def version_of(executable: Path) -> str:
    return subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_built_once_reused_then_rebuilt_when_the_pip_url_changes(tmp_path: Path) -> None:
    first_wheel = build_tiny_tap_wheel(tmp_path / "v1", "0.1.0")
    second_wheel = build_tiny_tap_wheel(tmp_path / "v2", "0.2.0")
    root, messages = tmp_path / "plugins", []

    built = ensure_environment(root, spec_for(first_wheel), cwd=tmp_path, progress=messages.append)
    assert built.installed and built.executable == root.resolve() / "tiny" / "bin" / "tap-tiny"
    assert version_of(built.executable) == "0.1.0"
    assert messages[0] == f"installing tap-tiny for source tiny: pip_url {first_wheel}"
    assert messages[-1].startswith("done in ") and len(messages) == 2
    fingerprint = read_fingerprint(built.path)

    reused = ensure_environment(root, spec_for(first_wheel), cwd=tmp_path, progress=messages.append)
    assert not reused.installed and reused.executable == built.executable
    assert read_fingerprint(reused.path) == fingerprint and len(messages) == 2  # silent when up to date

    rebuilt = ensure_environment(root, spec_for(second_wheel), cwd=tmp_path, progress=messages.append)
    assert rebuilt.installed and version_of(rebuilt.executable) == "0.2.0"
    assert read_fingerprint(rebuilt.path) not in {None, fingerprint}
    forced = ensure_environment(root, spec_for(second_wheel), cwd=tmp_path, progress=print, force=True)
    assert forced.installed and version_of(forced.executable) == "0.2.0"
    assert sorted(path.name for path in root.iterdir()) == ["tiny", "tiny.lock"]  # no build left behind
    recorded = json.loads((forced.path / FINGERPRINT_FILE).read_text())
    assert recorded["installer"] == "uv" and recorded["python"] == ".".join(map(str, sys.version_info[:3]))


def test_pip_is_the_fallback_and_its_scripts_name_the_final_folder(tmp_path: Path) -> None:
    wheel = build_tiny_tap_wheel(tmp_path / "wheel")
    built = ensure_environment(
        tmp_path / "plugins", spec_for(wheel), cwd=tmp_path, progress=print, installer="pip"
    )
    shebang = built.executable.read_text().splitlines()[0]
    assert str(built.path / "bin" / "python") in shebang and ".building-" not in shebang
    assert version_of(built.executable) == "0.1.0"
    assert json.loads((built.path / FINGERPRINT_FILE).read_text())["installer"] == "pip"


def test_a_missing_executable_names_what_the_package_does_install(tmp_path: Path) -> None:
    wheel = build_tiny_tap_wheel(tmp_path / "wheel")
    with pytest.raises(PluginError, match=r"installs no executable 'tap-other' \(it installs: tap-tiny\)"):
        ensure_environment(tmp_path / "plugins", spec_for(wheel, "tap-other"), cwd=tmp_path, progress=print)
    assert not (tmp_path / "plugins" / "tiny").exists()  # never swapped in


def test_a_failed_install_says_why_in_one_line_and_keeps_the_working_environment(tmp_path: Path) -> None:
    wheel = build_tiny_tap_wheel(tmp_path / "wheel")
    root = tmp_path / "plugins"
    working = ensure_environment(root, spec_for(wheel), cwd=tmp_path, progress=print)

    with pytest.raises(PluginInstallError) as raised:
        ensure_environment(root, spec_for("./no-such-tap.whl"), cwd=tmp_path, progress=print)
    error = raised.value
    assert "\n" not in error.reason and error.output_tail
    assert error.reason.startswith("source tiny: installing ./no-such-tap.whl failed: ")
    assert "no-such-tap.whl" in error.reason.split("failed: ", 1)[1]  # the installer's own reason
    assert version_of(working.executable) == "0.1.0"
    assert sorted(path.name for path in root.iterdir()) == ["tiny", "tiny.lock"]


def test_two_processes_installing_at_once_build_it_once(tmp_path: Path) -> None:
    wheel = build_tiny_tap_wheel(tmp_path / "wheel")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from dataops_assets.plugins.environments import PluginSpec, ensure_environment
        spec = PluginSpec(name="tiny", label="tap-tiny", pip_url={str(wheel)!r}, executable="tap-tiny")
        built = ensure_environment(Path({str(tmp_path / "plugins")!r}), spec, cwd=Path("."), progress=print)
        print("RESULT", built.installed, built.executable)
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    results = [
        line.split() for output in outputs for line in output.splitlines() if line.startswith("RESULT")
    ]
    assert sorted(result[1] for result in results) == ["False", "True"]  # one built, the other waited
    assert len({result[2] for result in results}) == 1
    assert version_of(Path(results[0][2])) == "0.1.0"


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (
            [
                "Using Python 3.11.7 environment at: x",
                "error: No solution found when resolving dependencies",
                "  cause: Because there is no version of tap-gitlab==9.9.9 and you require it, ...",
            ],
            "No solution found when resolving dependencies: Because there is no version of tap-gitlab==9.9.9 "
            "and you require it, ...",
        ),
        (
            [
                "ERROR: Could not find a version that satisfies the requirement tap-x==1 (from versions: none)",
                "ERROR: No matching distribution found for tap-x==1",
            ],
            "No matching distribution found for tap-x==1",
        ),
        (["Traceback (most recent call last):", "OSError: disk full"], "OSError: disk full"),
    ],
)
def test_the_installer_error_becomes_one_line(output: list[str], reason: str) -> None:
    assert one_line_reason(output) == reason
