"""Run a tap as a subprocess: stdout is the Singer stream, stderr goes to the run log as it happens.

The tap is killed if it writes nothing for ``idle_timeout_seconds`` (a hung tap), and any non-zero exit,
signal or timeout becomes a :class:`TapProcessError` naming the tap's last words on stderr.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from dataops_assets.singer.errors import TapProcessError
from dataops_assets.singer.pipe_lines import pipe_blocks

StderrSink = Callable[[str], None]
_STDERR_TAIL_LINES = 20


def resolve_executable(tap: str) -> str:
    """A tap named by path, by console script of this environment, or on PATH."""
    if os.sep in tap:
        path = Path(tap).expanduser()
        if not path.exists():
            raise TapProcessError(f"tap executable {tap} does not exist")
        return str(path)
    beside_python = Path(sys.executable).parent / tap
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(tap)
    if found is None:
        raise TapProcessError(
            f"tap executable {tap!r} is not installed (not next to {sys.executable}, not on PATH)"
        )
    return found


class TapProcess:
    """A running tap. Use as a context manager; iterate :meth:`lines`; leaving the block checks the exit."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        on_stderr: StderrSink,
        idle_timeout_seconds: float,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._argv = list(argv)
        self._on_stderr = on_stderr
        self._redact = redact
        self._idle_timeout = idle_timeout_seconds
        self._env = env
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._last_activity = time.monotonic()
        self._timed_out = False
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> TapProcess:
        self._process = subprocess.Popen(
            self._argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
            cwd=self._cwd,
            bufsize=1024 * 1024,
            start_new_session=True,
        )
        self._threads = [
            threading.Thread(target=self._pump_stderr, name="tap-stderr", daemon=True),
            threading.Thread(target=self._watch_idle, name="tap-watchdog", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def blocks(self) -> Iterator[bytes]:
        """The tap's stdout in blocks of whole lines (see :func:`pipe_blocks`)."""
        assert self._process is not None and self._process.stdout is not None
        for block in pipe_blocks(self._process.stdout):
            self._last_activity = time.monotonic()
            yield block

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._process is not None
        if error_type is not None:
            self._kill()
        try:
            returncode = self._process.wait()
        finally:
            self._done.set()
            for thread in self._threads:
                thread.join(timeout=5)
        if error_type is None:
            self._check_exit(returncode)

    def _check_exit(self, returncode: int) -> None:
        tail = "\n".join(self._stderr_tail)
        detail = f"; its last stderr lines:\n{tail}" if tail else ""
        if self._timed_out:
            raise TapProcessError(f"tap wrote nothing for {self._idle_timeout:.0f}s and was stopped{detail}")
        if returncode < 0:
            name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else -returncode
            raise TapProcessError(f"tap was killed by signal {name}{detail}")
        if returncode != 0:
            raise TapProcessError(f"tap exited with code {returncode}{detail}")

    def _pump_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for raw in self._process.stderr:
            self._last_activity = time.monotonic()
            text = self._redact(raw.decode("utf-8", "replace").rstrip())
            if text:
                self._stderr_tail.append(text)
                self._on_stderr(text)

    def _watch_idle(self) -> None:
        while not self._done.wait(timeout=min(1.0, self._idle_timeout / 4)):
            if time.monotonic() - self._last_activity > self._idle_timeout:
                self._timed_out = True
                self._kill()
                return

    def _kill(self) -> None:
        assert self._process is not None
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
