"""Helpers for the plugin tests: the shared cache of real taps' environments, and a tiny tap as a wheel.

Real taps come from PyPI once and are reused between runs: a test project's ``.dataops/plugins`` is a
symlink to ``$DATAOPS_PLUGIN_CACHE`` (default ``<repo>/.dataops/plugins-test-cache``), and the
fingerprint in each environment decides, as in production, whether it is rebuilt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import textwrap
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def plugin_cache_dir() -> Path:
    configured = os.environ.get("DATAOPS_PLUGIN_CACHE")
    folder = Path(configured) if configured else REPOSITORY / ".dataops" / "plugins-test-cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def use_plugin_cache(project_dir: Path) -> Path:
    """Point ``<project_dir>/.dataops/plugins`` at the shared cache; return the cache folder."""
    cache = plugin_cache_dir()
    (project_dir / ".dataops").mkdir(parents=True, exist_ok=True)
    link = project_dir / ".dataops" / "plugins"
    if not link.exists():
        link.symlink_to(cache, target_is_directory=True)
    return cache


# A Singer tap the way tap-gitlab 0.5 behaves: no discovery (it syncs whatever the flags say), streams
# chosen by itself. It records its argv so tests see how it was called.
TINY_TAP = textwrap.dedent(
    """
    import json, sys, time

    VERSION = "{version}"
    SCHEMA = {{"type": "object", "properties": {{"id": {{"type": "integer"}}, "name": {{"type": ["string", "null"]}}}}}}


    def main():
        if "--version" in sys.argv:
            print(VERSION)
            return
        config = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
        if config.get("argv_log"):
            with open(config["argv_log"], "a") as log:
                log.write(json.dumps(sys.argv[1:]) + "\\n")
        for stream in ("widgets", "gadgets"):
            print(json.dumps({{"type": "SCHEMA", "stream": stream, "schema": SCHEMA, "key_properties": ["id"]}}))
            sys.stdout.flush()
        time.sleep(config.get("pause_after_schema", 0))
        for number in range(1, config.get("rows", 3) + 1):
            for stream in ("widgets", "gadgets"):
                record = {{"id": number, "name": stream[:-1] + " " + str(number)}}
                print(json.dumps({{"type": "RECORD", "stream": stream, "record": record}}))
        print(json.dumps({{"type": "STATE", "value": {{"rows": config.get("rows", 3)}}}}))
    """
)


def build_tiny_tap_wheel(folder: Path, version: str = "0.1.0", script: str = "tap-tiny") -> Path:
    """A pure-Python wheel installing ``script``: installs offline in well under a second with uv."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"tap_tiny-{version}.dist-info"
    files = {
        "tap_tiny/__init__.py": TINY_TAP.format(version=version),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tap-tiny\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: dataops-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[console_scripts]\n{script} = tap_tiny:main\n",
    }
    records = [f"{name},sha256={_digest(text)},{len(text.encode())}" for name, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*records, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"tap_tiny-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
