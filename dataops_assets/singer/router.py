"""Route each line of a Singer stream to its stream's writer, fast.

Almost every line is a RECORD, and taps built on singer-python or singer-sdk print them with the same
prefix (``{"type": "RECORD", "stream": "...``). Those lines are routed by that prefix and spilled as they
are, without parsing them in Python; DuckDB parses and validates them in bulk. A block in which every line
is a RECORD of the stream last seen (most blocks: streams come in runs) is checked with one ``startswith``
per line in C and handed on whole. Every other line is parsed and checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

from dataops_assets.landing.writer import StreamWriter
from dataops_assets.singer.errors import SingerProtocolError
from dataops_assets.singer.messages import (
    ActivateVersionMessage,
    BatchMessage,
    RecordMessage,
    SchemaMessage,
    StateMessage,
    parse_message,
)
from dataops_assets.singer.pipe_lines import lines_of

_RECORD_PREFIXES = (b'{"type": "RECORD", "stream": "', b'{"type":"RECORD","stream":"')

WriterFactory = Callable[[SchemaMessage], StreamWriter | None]


def record_stream(line: bytes) -> tuple[str, int] | None:
    """The stream of a RECORD line in the common key order and where its name ends, or None."""
    for prefix in _RECORD_PREFIXES:
        if line.startswith(prefix):
            end = line.find(b'"', len(prefix))
            name = line[len(prefix) : end]
            if end < 0 or b"\\" in name:
                return None
            return name.decode("utf-8"), end + 1
    return None


class SingerRouter:
    """Feeds one Singer stream to per-stream writers and remembers the latest STATE.

    ``writer_for`` is asked once per stream, at its first SCHEMA; returning None ignores the stream
    (a tap may send streams that were not selected). A RECORD for a stream that never had a SCHEMA is an
    error, as the Singer spec requires.
    """

    def __init__(
        self, writer_for: WriterFactory, before_schema_change: Callable[[StreamWriter], None] | None = None
    ) -> None:
        self._writer_for = writer_for
        self._before_schema_change = before_schema_change
        self.writers: dict[str, StreamWriter] = {}
        self._ignored: set[str] = set()
        self.state: Any = None
        self.state_line: int | None = None
        self.lines_read = 0
        self._hot_prefix = b""
        self._hot_writer: StreamWriter | None = None

    def feed_block(self, block: bytes) -> None:
        """Feed the next block of whole lines (see :func:`pipe_blocks`), numbered on from the last."""
        lines = lines_of(block)
        first_line_number = self.lines_read + 1
        self.lines_read += len(lines)
        prefix, writer = self._hot_prefix, self._hot_writer
        if writer is not None and all(map(bytes.startswith, lines, repeat(prefix))):
            writer.write_record_lines(lines, first_line_number)  # the usual block: one stream's RECORDs
            return
        run_start: int | None = None  # lines[run_start:index] are RECORDs of the last stream, not yet written
        for index, line in enumerate(lines):
            if writer is not None and line.startswith(prefix):
                run_start = index if run_start is None else run_start
                continue
            if writer is not None and run_start is not None:
                writer.write_record_lines(lines[run_start:index], first_line_number + run_start)
                run_start = None
            if line.strip():
                self.feed(first_line_number + index, line)
                prefix, writer = self._hot_prefix, self._hot_writer
        if writer is not None and run_start is not None:
            writer.write_record_lines(lines[run_start:], first_line_number + run_start)

    def feed(self, line_number: int, line: bytes) -> None:
        if self._hot_prefix and line.startswith(self._hot_prefix):  # another RECORD of the last stream
            self._hot_writer.write_record_line(line, line_number)  # type: ignore[union-attr]
            return
        routed = record_stream(line)
        if routed is not None:
            stream, name_end = routed
            self._record(stream, line, line_number)
            if writer := self.writers.get(stream):  # streams come in runs: remember this line's prefix
                self._hot_prefix, self._hot_writer = line[:name_end], writer
            return
        message = parse_message(line, line_number)
        if isinstance(message, RecordMessage):
            self._record(message.stream, line, line_number)
        elif isinstance(message, SchemaMessage):
            self._schema(message)
        elif isinstance(message, StateMessage):
            self.state, self.state_line = message.value, line_number
        elif isinstance(message, ActivateVersionMessage):
            if writer := self.writers.get(message.stream):
                writer.activate_version(message.version)
        elif isinstance(message, BatchMessage):
            if writer := self.writers.get(message.stream):
                writer.write_batch_files(message, line_number)
            elif message.stream not in self._ignored:
                raise SingerProtocolError(
                    "BATCH before any SCHEMA for its stream", stream=message.stream, line=line_number
                )

    def abandon(self) -> None:
        for writer in self.writers.values():
            writer.abandon()

    def _record(self, stream: str, line: bytes, line_number: int) -> None:
        writer = self.writers.get(stream)
        if writer is not None:
            writer.write_record_line(line, line_number)
        elif stream not in self._ignored:
            raise SingerProtocolError(
                "RECORD before any SCHEMA for its stream", stream=stream, line=line_number
            )

    def _schema(self, message: SchemaMessage) -> None:
        writer = self.writers.get(message.stream)
        if writer is None and message.stream not in self._ignored:
            writer = self._writer_for(message)
            if writer is None:
                self._ignored.add(message.stream)
                return
            self.writers[message.stream] = writer
        if writer is None:
            return
        if writer.schema is not None and writer.schema != message and self._before_schema_change is not None:
            self._before_schema_change(writer)
        writer.set_schema(message)
