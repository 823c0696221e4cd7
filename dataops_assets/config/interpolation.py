"""``${VAR}`` / ``${VAR:-default}`` interpolation for declaration values.

Secrets live in the environment (or a git-ignored ``.env``), never in ``dataops.yaml``. Every value that was
filled in from the environment is remembered so logs, metadata and errors can redact it later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataops_assets.config.errors import ConfigError

_PLACEHOLDER = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Variables the project defines itself: they locate files, they are not secrets.
DEMO_DATA_DIR = ".dataops/demo"
NON_SECRET_VARIABLES = frozenset({"DATAOPS_PROJECT_DIR", "DATAOPS_LAKE_PATH", "DATAOPS_DEMO_DIR"})


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal ``.env`` (KEY=VALUE lines, ``#`` comments, optional quotes)."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class Interpolator:
    """Resolves placeholders against the environment and records which values were secrets."""

    def __init__(self, environment: Mapping[str, str], file_label: str) -> None:
        self._environment = environment
        self._file_label = file_label
        self.secret_values: set[str] = set()

    def resolve(self, value: Any, key_path: str) -> Any:
        """Return ``value`` with every placeholder filled in, recursing into lists and mappings."""
        if isinstance(value, str):
            return self._resolve_string(value, key_path)
        if isinstance(value, list):
            return [self.resolve(item, f"{key_path}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, dict):
            return {
                key: self.resolve(item, f"{key_path}.{key}" if key_path else str(key))
                for key, item in value.items()
            }
        return value

    def _resolve_string(self, text: str, key_path: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self._environment:
                resolved = self._environment[name]
            elif default is not None:
                return default
            else:
                raise ConfigError(
                    f"{self._file_label}: {key_path}: environment variable {name} is not set "
                    f"(set it, add it to .env, or write ${{{name}:-default}})"
                )
            if name not in NON_SECRET_VARIABLES and resolved:
                self.secret_values.add(resolved)
            return resolved

        return _PLACEHOLDER.sub(replace, text)


def build_environment(project_dir: Path) -> dict[str, str]:
    """The variables placeholders may use: ``.env`` first, the real environment wins over it."""
    environment = read_dotenv(project_dir / ".env")
    environment.update(os.environ)
    environment.setdefault("DATAOPS_PROJECT_DIR", str(project_dir))
    environment.setdefault("DATAOPS_DEMO_DIR", str(project_dir / DEMO_DATA_DIR))
    return environment
