"""Type a tap's closed batches on one worker thread, so the tap never waits while DuckDB types one.

A tap that prints RECORD messages blocks as soon as the pipe between us is full, and a pipe holds a
fraction of a second of its output; typing a batch of 200,000 rows takes DuckDB about that long again.
Typed on the reading thread, every batch would stall the tap for that time. Here the worker types the
batches closed so far while the reading thread goes on; at most one set is in the worker's hands while
the next fills, which bounds disk and memory as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from dataops_assets.landing.writer import ClosedBatch, StreamWriter


class BackgroundTyping:
    """Types what ``writers`` (created with ``defer_loading``) close, in order, off the reading thread."""

    def __init__(self, writers: Iterable[StreamWriter]) -> None:
        self._writers = list(writers)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-typing")
        self._typing: Future[None] | None = None

    def __enter__(self) -> BackgroundTyping:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None:
            with contextlib.suppress(Exception):  # the reading side's error is the one to report
                self.wait()
        self._worker.shutdown(wait=True)

    def hand_over(self) -> None:
        """Queue every batch closed so far; waits only if the worker still types the previous ones."""
        ready = [(writer, batch) for writer in self._writers for batch in writer.take_closed_batches()]
        if ready:
            self.wait()
            self._typing = self._worker.submit(_type_all, ready)

    def wait(self) -> None:
        """Wait for the worker; a batch that failed to type raises here, naming the tap's line."""
        typing, self._typing = self._typing, None
        if typing is not None:
            typing.result()


def _type_all(ready: list[tuple[StreamWriter, ClosedBatch]]) -> None:
    for writer, batch in ready:
        batch.load_into(writer.sink)
