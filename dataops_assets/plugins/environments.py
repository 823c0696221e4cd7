"""One virtualenv per tap, built from its ``pip_url`` and reused until that (or Python) changes.

Layout of the plugins folder (``<project>/.dataops/plugins/``)::

    <name>/                       the tap's virtualenv; <name>/bin/<executable> is what runs
    <name>/dataops-plugin.json    the fingerprint it was built for: a hash of pip_url and Python version
    <name>.lock                   held (flock) while checking or building, so two processes never build at once
    .<name>.building-<id>/        a build in progress, renamed to <name>/ only once it succeeded

A rebuild leaves the environment in use alone until the new one is complete, and a failed build leaves it
as it was. The fingerprint is written last, so a half-built environment is never taken for a good one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dataops_assets.config.redaction import redact
from dataops_assets.plugins.errors import PluginError, PluginInstallError
from dataops_assets.plugins.installer import Installer, build_virtualenv

Progress = Callable[[str], None]
FINGERPRINT_FILE = "dataops-plugin.json"
# What every virtualenv's bin/ holds: not a tap, so not worth suggesting as `executable:`.
_VIRTUALENV_SCRIPTS = ("python", "pip", "activate", "deactivate", "pydoc", "easy_install", "wheel")


@dataclass(frozen=True)
class PluginSpec:
    """What to install: ``name`` names the folder, ``label`` the tap in messages."""

    name: str
    label: str
    pip_url: str
    executable: str
    secrets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Environment:
    path: Path
    executable: Path
    installed: bool  # built by this call; False when an up-to-date one was reused
    seconds: float = 0.0


def requirements(pip_url: str) -> list[str]:
    """A Meltano ``pip_url``: requirements (or paths, URLs, pip options) separated by spaces; quotes group."""
    return shlex.split(pip_url)


def fingerprint(pip_url: str) -> str:
    """Changes when the environment must be rebuilt: another pip_url, or another Python to run it."""
    python = f"{sys.implementation.name}-{platform.python_version()}"
    return hashlib.sha256(f"{pip_url}\n{python}".encode()).hexdigest()


def read_fingerprint(folder: Path) -> str | None:
    try:
        recorded = json.loads((folder / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = recorded.get("fingerprint") if isinstance(recorded, dict) else None
    return str(value) if value else None


def ensure_environment(
    root: Path,
    spec: PluginSpec,
    *,
    cwd: Path,
    progress: Progress,
    force: bool = False,
    installer: Installer | None = None,
) -> Environment:
    """The environment of ``spec`` under ``root``, built now if missing, outdated, or ``force``d."""
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()  # scripts written by pip name this path: make it the real one, not a symlink
    target = root / spec.name
    wanted = fingerprint(spec.pip_url)
    with _locked(root / f"{spec.name}.lock", spec, progress):
        _remove_leftovers(root, spec.name)
        if not force and read_fingerprint(target) == wanted:
            return Environment(target, _executable_in(target, spec), installed=False)
        started = time.monotonic()
        progress(f"installing {spec.label} for source {spec.name}: pip_url {_shown(spec.pip_url, spec)}")
        building = root / f".{spec.name}.building-{uuid.uuid4().hex[:12]}"
        try:
            used = _build(building, target, spec, cwd, installer)
            executable = _executable_in(building, spec)
            _write_fingerprint(building, wanted, used)
            _swap_in(building, target)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        seconds = time.monotonic() - started
        progress(f"done in {seconds:.1f}s ({used}): {target}")
    return Environment(target, target / "bin" / executable.name, installed=True, seconds=seconds)


def _build(
    building: Path, target: Path, spec: PluginSpec, cwd: Path, installer: Installer | None
) -> Installer:
    wanted = requirements(spec.pip_url)
    try:
        return build_virtualenv(building, wanted, final_folder=target, cwd=cwd, installer=installer)
    except PluginInstallError as error:
        raise PluginInstallError(
            f"source {spec.name}: installing {_shown(spec.pip_url, spec)} failed: "
            + redact(error.reason, spec.secrets),
            [redact(line, spec.secrets) for line in error.output_tail],
        ) from None


def _executable_in(folder: Path, spec: PluginSpec) -> Path:
    path = folder / "bin" / spec.executable
    if path.is_file():
        return path
    offered = sorted(
        entry.name
        for entry in (folder / "bin").glob("*")
        if not entry.name.startswith(_VIRTUALENV_SCRIPTS) and "." not in entry.name
    )
    raise PluginError(
        f"source {spec.name}: pip_url {_shown(spec.pip_url, spec)} installs no executable "
        f"{spec.executable!r} (it installs: {', '.join(offered) or 'none'}); set the source's "
        "`executable:` to the tap's command"
    )


def _write_fingerprint(folder: Path, value: str, installer: Installer) -> None:
    record = {
        "fingerprint": value,
        "python": platform.python_version(),
        "installer": installer,
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / FINGERPRINT_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _swap_in(building: Path, target: Path) -> None:
    """Two renames under the lock: the old environment steps aside, the new one takes its name."""
    if target.exists():
        retired = target.with_name(f".{target.name}.retired-{uuid.uuid4().hex[:12]}")
        os.replace(target, retired)
        os.replace(building, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(building, target)


def _remove_leftovers(root: Path, name: str) -> None:
    """Builds and retired environments of a process that died mid-way (we hold the lock: none is live)."""
    for pattern in (f".{name}.building-*", f".{name}.retired-*"):
        for leftover in root.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path, spec: PluginSpec, progress: Progress) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another process installing {spec.label} for source {spec.name}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _shown(pip_url: str, spec: PluginSpec) -> str:
    """A pip_url may hold a token (``git+https://${TOKEN}@...``): never print it."""
    return redact(pip_url, spec.secrets)
