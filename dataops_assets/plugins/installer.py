"""Create a virtualenv and install requirements into it: uv when it is at hand, else ``venv`` + pip.

uv resolves and links a tap's dependencies from its cache in seconds; pip is the fallback for an
environment without uv. Either way the environment is built in a temporary folder and moved into place
afterwards, so its scripts must not hard-code the folder they were built in: uv writes relocatable
scripts (``--relocatable``), and pip's absolute shebangs are rewritten to the final folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from dataops_assets.plugins.errors import PluginInstallError

Installer = Literal["uv", "pip"]

INSTALL_TIMEOUT_SECONDS = 1800.0  # building a tap from source (C extensions) can take minutes, not hours
_TAIL_LINES = 20
_REASON_MAX_CHARS = 400
# uv marks errors with "error:" when piped; on a terminal with a multiplication sign, causes with an arrow.
_ERROR_STARTS = ("error:", "\u00d7")
_CAUSE_STARTS = ("cause:", "caused by:", "\u2570\u2500\u25b6")


def find_uv() -> str | None:
    """The uv installed next to this Python (the project's own), else one on PATH."""
    beside_python = Path(sys.executable).parent / "uv"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("uv")


def build_virtualenv(
    folder: Path,
    requirements: Sequence[str],
    *,
    final_folder: Path,
    cwd: Path,
    installer: Installer | None = None,
) -> Installer:
    """Create a virtualenv in ``folder`` holding ``requirements``, ready to be renamed to ``final_folder``.

    Relative paths among the requirements are resolved against ``cwd`` (the project folder). Returns the
    installer used; raises :class:`PluginInstallError` with the installer's own words on failure.
    """
    uv = find_uv() if installer in (None, "uv") else None
    if installer == "uv" and uv is None:
        raise PluginInstallError(f"uv is not installed (not next to {sys.executable}, not on PATH)")
    python = str(folder / "bin" / "python")
    if uv is not None:
        _run(
            "uv venv", [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(folder)], cwd
        )
        _run("uv pip install", [uv, "pip", "install", "--python", python, *requirements], cwd)
        return "uv"
    _run("python -m venv", [sys.executable, "-m", "venv", str(folder)], cwd)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *requirements]
    _run("pip install", pip, cwd)
    _retarget_scripts(folder / "bin", folder, final_folder)
    return "pip"


def one_line_reason(lines: Sequence[str]) -> str:
    """The installer's error in one line: uv's ``error:`` with its ``cause:`` lines, or pip's last ``ERROR:``."""
    stripped = [line.strip() for line in lines if line.strip()]
    starts = [index for index, line in enumerate(stripped) if line.lower().startswith(_ERROR_STARTS)]
    if not starts:
        return _shorten(stripped[-1]) if stripped else "no output"
    first = starts[-1]
    parts = [_without_prefix(stripped[first])]
    for line in stripped[first + 1 :]:
        if not line.lower().startswith(_CAUSE_STARTS):
            break
        parts.append(_without_prefix(line))
    return _shorten(": ".join(parts))


def _run(step: str, argv: list[str], cwd: Path) -> None:
    try:
        completed = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise PluginInstallError(f"{step}: {argv[0]} does not exist") from None
    except subprocess.TimeoutExpired as error:
        output = (error.output or b"").decode("utf-8", "replace").splitlines()
        raise PluginInstallError(
            f"{step} took longer than {INSTALL_TIMEOUT_SECONDS:.0f}s and was stopped", output[-_TAIL_LINES:]
        ) from None
    if completed.returncode != 0:
        output = completed.stdout.decode("utf-8", "replace").splitlines()
        raise PluginInstallError(f"{step}: {one_line_reason(output)}", output[-_TAIL_LINES:])


def _retarget_scripts(bin_dir: Path, built_in: Path, final_folder: Path) -> None:
    """pip writes ``#!<build folder>/bin/python`` into every script: point them at the final folder."""
    old, new = str(built_in).encode(), str(final_folder).encode()
    for script in bin_dir.iterdir():
        if not script.is_file() or script.is_symlink():
            continue
        content = script.read_bytes()
        if old in content[:4096]:  # the shebang (and activate scripts' VIRTUAL_ENV) sit at the top
            script.write_bytes(content.replace(old, new))


def _without_prefix(line: str) -> str:
    for prefix in (*_ERROR_STARTS, *_CAUSE_STARTS):
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip()
    return line


def _shorten(text: str) -> str:
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 1] + "…"
