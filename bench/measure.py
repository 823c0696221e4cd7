"""Wall time and peak memory of a child process and everything it starts.

psutil is not a project dependency, so the process tree is read straight from /proc. Peak RSS is the larger
of two views, because each alone can miss the peak: a poller sums the resident memory of the whole tree
every few milliseconds (catches several processes alive at once), and the kernel's own high-water marks
(VmHWM while polling, and wait4's ru_maxrss at exit) catch a short spike in one process between polls.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Measurement:
    """What one measured run of a command produced."""

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    timed_out: bool


def read_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status, or 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        return 0
    return 0


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid`, from every thread's /proc/<pid>/task/<tid>/children (any thread may fork)."""
    children: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return children
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as listing:
                children.extend(int(child) for child in listing.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return children


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants."""
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(child_pids(pid))
    return tree


class TreePoller(threading.Thread):
    """Samples the tree's summed RSS and each member's VmHWM until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kb = 0
        self.stopped = threading.Event()

    def sample(self) -> None:
        """One sample: the tree's summed RSS now, and the highest single-process high-water mark."""
        tree = process_tree(self.root)
        total = sum(read_status_kb(pid, "VmRSS") for pid in tree)
        highest = max((read_status_kb(pid, "VmHWM") for pid in tree), default=0)
        self.peak_kb = max(self.peak_kb, total, highest)

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(POLL_SECONDS)


def wait_with_timeout(
    proc: subprocess.Popen[bytes], timeout_s: float
) -> tuple[int, resource.struct_rusage, bool]:
    """Reap the child with wait4 (for its CPU time and ru_maxrss); kill its process group if it overruns."""
    timed_out = threading.Event()

    def kill_group() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill_group)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage, timed_out.is_set()


def run_measured(
    argv: list[str],
    stdin_path: Path | None,
    stdout_path: Path,
    stderr_path: Path,
    timeout_s: float,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> Measurement:
    """Run `argv` in `cwd` (stdin from a file, stdout and stderr to files; `env`, else ours) and measure it."""
    with contextlib.ExitStack() as files:
        stdin = files.enter_context(stdin_path.open("rb")) if stdin_path else subprocess.DEVNULL
        out = files.enter_context(stdout_path.open("wb"))
        err = files.enter_context(stderr_path.open("wb"))
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True
        )
        poller = TreePoller(proc.pid)
        poller.start()
        returncode, usage, timed_out = wait_with_timeout(proc, timeout_s)
        wall = time.perf_counter() - started
        poller.stopped.set()
        poller.join()
    peak_kb = max(poller.peak_kb, usage.ru_maxrss)
    return Measurement(wall, usage.ru_utime + usage.ru_stime, peak_kb * 1024, returncode, timed_out)


def cpu_times() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs since boot, from the first line of /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_fraction(window_s: float) -> float:
    """How busy the whole machine was over the next `window_s` seconds (0.0 idle .. 1.0 all cores busy)."""
    busy_start, total_start = cpu_times()
    time.sleep(window_s)
    busy_end, total_end = cpu_times()
    return (busy_end - busy_start) / max(total_end - total_start, 1)


def add_quiet_wait_option(parser: argparse.ArgumentParser, default_s: float) -> None:
    """``--quiet-wait``: the most a run waits for the machine to be idle first (:func:`wait_for_quiet`)."""
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=default_s,
        help="seconds to wait before each run for the machine to be idle (0: do not wait)",
    )


def wait_for_quiet(threshold: float, max_wait_s: float, window_s: float = 1.0) -> float:
    """Wait until other work leaves the machine idle enough to measure on; return the last busy fraction.

    The machine is small and shared (tests may run beside the benchmark), and a run that competes for the
    CPU measures the competition. After `max_wait_s` the run goes ahead and the busy fraction is recorded.
    """
    deadline = time.monotonic() + max_wait_s
    busy = busy_fraction(window_s)
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_fraction(window_s)
    return busy


def read_first(path: str, prefix: str) -> str:
    """The value of the first `prefix: value` line of a /proc file."""
    with open(path, encoding="utf-8") as source:
        for line in source:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    import duckdb

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(read_first("/proc/meminfo", "MemTotal").split()[0]) / 2**20, 1),
        "cpu_model": read_first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }
