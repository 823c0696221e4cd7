"""Errors about a tap's environment, worded so the person reading them knows what to change."""

from __future__ import annotations

from collections.abc import Sequence


class PluginError(RuntimeError):
    """A tap's environment cannot be used: no project folder to hold it, or no such executable in it."""


class PluginInstallError(PluginError):
    """Building a tap's environment failed.

    ``reason`` is one line (what the CLI prints); ``output_tail`` is the installer's last lines, kept in the
    message too so a Dagster run log shows why without a trip to the terminal.
    """

    def __init__(self, reason: str, output_tail: Sequence[str] = ()) -> None:
        self.reason = reason
        self.output_tail = list(output_tail)
        tail = "\n".join(f"  {line}" for line in self.output_tail)
        super().__init__(f"{reason}\ninstaller output (last lines):\n{tail}" if tail else reason)
