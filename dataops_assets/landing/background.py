"""Work that runs beside the reading of a tap's output, one job at a time.

A tap that prints RECORD messages blocks as soon as the pipe between us is full, and a pipe holds a
fraction of a second of its output; typing a batch of 200,000 rows takes DuckDB about that long again.
Done on the reading thread, every batch would stall the tap for that time. A :class:`SerialWorker` runs
it on one worker thread instead, at most one job at a time while the next batch fills, which bounds disk
and memory as before. The extract types batches with it (:class:`BackgroundTyping`); ``target-dataops``
commits its hand-overs with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from dataops_assets.landing.writer import ClosedBatch, StreamWriter


class SerialWorker:
    """One worker thread; a job's error is raised by the next :meth:`submit` or :meth:`wait`."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._job: Future[None] | None = None

    @property
    def idle(self) -> bool:
        return self._job is None or self._job.done()

    def submit(self, job: Callable[[], None]) -> None:
        """Start ``job`` once the one before it is done (waiting for it if need be)."""
        self.wait()
        self._job = self._executor.submit(job)

    def wait(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.result()

    def wait_quietly(self) -> None:
        """Wait, keeping a job's error to itself: on the way out of a failure, that failure is the one to report."""
        with contextlib.suppress(Exception):
            self.wait()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class BackgroundTyping:
    """Types what ``writers`` (created with ``defer_loading``) close, in order, off the reading thread."""

    def __init__(self, writers: Iterable[StreamWriter]) -> None:
        self._writers = list(writers)
        self._worker = SerialWorker("batch-typing")

    def __enter__(self) -> BackgroundTyping:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None:
            self._worker.wait_quietly()
        self._worker.shutdown()

    def hand_over(self) -> None:
        """Queue every batch closed so far; waits only if the worker still types the previous ones."""
        ready = [(writer, batch) for writer in self._writers for batch in writer.take_closed_batches()]
        if ready:
            self._worker.submit(lambda: _type_all(ready))

    def wait(self) -> None:
        """Wait for the worker; a batch that failed to type raises here, naming the tap's line."""
        self._worker.wait()


def _type_all(ready: list[tuple[StreamWriter, ClosedBatch]]) -> None:
    for writer, batch in ready:
        batch.load_into(writer.sink)
