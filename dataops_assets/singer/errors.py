"""Errors on the Singer path. Each names the source, the stream and the line of the tap's output."""

from __future__ import annotations

from collections.abc import Callable


class SingerError(RuntimeError):
    """Something a tap sent, or did, that we refuse to load. Nothing of the run is committed."""

    def __init__(
        self, reason: str, *, source: str | None = None, stream: str | None = None, line: int | None = None
    ) -> None:
        self.reason = reason
        self.source = source
        self.stream = stream
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(f"source {self.source!r}")
        if self.stream:
            where.append(f"stream {self.stream!r}")
        if self.line is not None:
            where.append(f"line {self.line}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(self, *, source: str, redact: Callable[[str], str] = lambda text: text) -> SingerError:
        """The same error, now naming the source (the parser does not know it), with secrets masked."""
        return type(self)(redact(self.reason), source=source, stream=self.stream, line=self.line)


class SingerProtocolError(SingerError):
    """A line that is not a valid Singer message, or a message out of protocol order."""


class RecordValidationError(SingerError):
    """A RECORD that does not fit the stream's SCHEMA."""


class TapProcessError(SingerError):
    """The tap process failed: non-zero exit, killed by a signal, or silent past its timeout."""


class NoDiscoveryError(TapProcessError):
    """The tap has no discovery mode: ``--discover`` printed no catalog (it synced, or printed nothing)."""
