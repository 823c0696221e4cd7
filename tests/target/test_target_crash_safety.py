"""``target-dataops`` killed with SIGKILL mid-stream never printed a STATE its lake does not back.

An orchestrator stores the last STATE a target printed and resumes the tap from it. If the target printed a
STATE before the rows it covers were committed and then died, those rows would be lost for good. So after a
kill at any moment: every STATE printed covers rows that are all in the lake, the lake holds whole batches
only (a prefix of the input, each row once, logged in the same transaction), and replaying the whole input
ends with exactly N rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

TARGET = Path(sys.executable).parent / "target-dataops"
RECORDS = 120_000
STATE_EVERY = 1_000
BATCH_SIZE_ROWS = 5_000  # ~15 commits: plenty of moments to be killed between and during them
SCHEMA = {
    "type": "SCHEMA",
    "stream": "items",
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "key_properties": ["id"],
}


def write_input(path: Path) -> None:
    """The SCHEMA, then RECORDs with ids 1..N, and after every 1,000th a STATE naming the last id sent."""
    with path.open("w", encoding="ascii") as out:
        out.write(json.dumps(SCHEMA) + "\n")
        for first in range(1, RECORDS + 1, STATE_EVERY):
            last = min(first + STATE_EVERY - 1, RECORDS)
            out.writelines(
                f'{{"type": "RECORD", "stream": "items", "record": {{"id": {i}, "name": "n{i}", '
                f'"updated_at": "2024-01-01T00:00:00Z"}}}}\n'
                for i in range(first, last + 1)
            )
            out.write(json.dumps({"type": "STATE", "value": {"last_id": last}}) + "\n")


@dataclass
class TargetRun:
    """A running target; a thread collects the STATE lines it prints as they come."""

    process: subprocess.Popen[bytes]
    states: list[dict[str, Any]] = field(default_factory=list)
    printed: threading.Condition = field(default_factory=threading.Condition)
    reader: threading.Thread | None = None

    def collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.endswith(b"\n"):  # a line cut off by the kill was not printed
                with self.printed:
                    self.states.append(json.loads(line))
                    self.printed.notify_all()

    def wait_for_states(self, count: int, timeout: float = 60.0) -> bool:
        with self.printed:
            return self.printed.wait_for(
                lambda: len(self.states) >= count or self.process.poll() is not None, timeout
            )

    def finish(self) -> int:
        returncode = self.process.wait(timeout=120)
        assert self.reader is not None
        self.reader.join(timeout=30)
        return returncode


def start_target(lake: Path, stream: Path) -> TargetRun:
    if not TARGET.exists():
        pytest.fail(f"{TARGET} is not installed: run `make setup` (it is a console script of this package)")
    config = lake.with_name("config.json")
    settings = {"path": str(lake), "default_target_schema": "t", "batch_size_rows": BATCH_SIZE_ROWS}
    config.write_text(json.dumps(settings))
    with stream.open("rb") as stdin:
        process = subprocess.Popen(
            [str(TARGET), "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    run = TargetRun(process)
    run.reader = threading.Thread(target=run.collect, daemon=True)
    run.reader.start()
    return run


def committed(lake: Path) -> dict[str, int]:
    """What the lake holds after the process is gone (opening it replays whatever the WAL committed).

    A target killed before it opened the lake (a slow start on a busy machine) leaves no file: nothing.
    """
    if not lake.exists():
        return {"rows": 0, "distinct": 0, "max_id": 0, "logged": 0}
    with duckdb.connect(str(lake), read_only=True) as connection:
        exists = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 't' AND table_name = 'items'"
        ).fetchone()
        if not exists or not exists[0]:
            return {"rows": 0, "distinct": 0, "max_id": 0, "logged": 0}
        row = connection.execute(
            "SELECT count(*), count(DISTINCT id), coalesce(max(id), 0) FROM t.items"
        ).fetchone()
        logged = connection.execute(
            "SELECT coalesce(sum(rows_landed), 0) FROM _dataops.load_log WHERE stream = 'items'"
        ).fetchone()
    assert row is not None and logged is not None
    return {"rows": row[0], "distinct": row[1], "max_id": row[2], "logged": int(logged[0])}


def rows_up_to(lake: Path, last_id: int) -> int:
    with duckdb.connect(str(lake), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM t.items WHERE id <= ?", [last_id]).fetchone()
    return row[0] if row else 0


def wal_size(lake: Path) -> int:
    try:
        return lake.with_name(lake.name + ".wal").stat().st_size
    except FileNotFoundError:
        return -1


@dataclass
class Kill:
    """When to send SIGKILL: after ``states`` STATE lines, then optionally on the next WAL write, or after
    ``seconds`` from the start."""

    name: str
    states: int = 0
    on_wal_write: bool = False
    seconds: float = 0.0


def run_to_end(lake: Path, stream: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run the target over the whole input; return its exit status and the states it printed."""
    run = start_target(lake, stream)
    returncode = run.finish()
    return returncode, list(run.states)


def run_and_kill(lake: Path, stream: Path, kill: Kill) -> tuple[int, list[dict[str, Any]]]:
    """Run the target and SIGKILL it as ``kill`` says; return its exit status and the states it printed."""
    started = time.monotonic()
    run = start_target(lake, stream)
    if kill.states:
        run.wait_for_states(kill.states)
    if kill.on_wal_write:  # a commit is being written: the most delicate moment
        size = wal_size(lake)
        while run.process.poll() is None and wal_size(lake) == size and time.monotonic() - started < 60:
            time.sleep(0.0005)
    if kill.seconds:
        time.sleep(max(0.0, kill.seconds - (time.monotonic() - started)))
    if run.process.poll() is None:
        os.kill(run.process.pid, signal.SIGKILL)
    returncode = run.finish()
    return returncode, list(run.states)


@pytest.mark.slow
@pytest.mark.xdist_group("sigkill")
def test_sigkill_mid_stream_never_leaves_a_printed_state_ahead_of_the_lake(tmp_path: Path) -> None:
    """Killed after its first STATE, during a commit's WAL write, later, and at a calibrated moment: each
    time the printed states are backed by committed rows, and a full re-run lands exactly N rows."""
    stream = tmp_path / "input.singer"
    write_input(stream)
    final_state = {"last_id": RECORDS}

    # An uninterrupted run: the reference for how long a run takes, and proof the input loads exactly.
    (tmp_path / "complete").mkdir()
    began = time.monotonic()
    returncode, states = run_to_end(tmp_path / "complete" / "lake.duckdb", stream)
    full_run_s = time.monotonic() - began
    assert returncode == 0
    assert committed(tmp_path / "complete" / "lake.duckdb")["rows"] == RECORDS and states[-1] == final_state

    kills = [
        Kill("after the first STATE", states=1),
        Kill("on the WAL write after the 3rd STATE", states=3, on_wal_write=True),
        Kill("after 8 STATEs", states=8),
        Kill("at half a full run", seconds=0.5 * full_run_s),
    ]
    outcomes = []
    for number, kill in enumerate(kills):
        lake = tmp_path / f"attempt-{number}" / "lake.duckdb"
        lake.parent.mkdir()
        returncode, states = run_and_kill(lake, stream, kill)
        lake_now = committed(lake)
        outcomes.append((kill.name, returncode, len(states), lake_now))

        # Whole batches only: the rows are ids 1..m, each once, and the load log counts exactly them.
        assert lake_now["rows"] == lake_now["distinct"] == lake_now["max_id"] == lake_now["logged"], outcomes
        # Every STATE printed is backed: all rows sent before it are committed.
        for state in states:
            assert rows_up_to(lake, state["last_id"]) == state["last_id"], (kill.name, state, lake_now)
        if states:
            assert lake_now["rows"] >= states[-1]["last_id"]

        # The whole input again, into the killed lake: exactly N rows, the final state printed last.
        returncode, states = run_to_end(lake, stream)
        assert returncode == 0, kill.name
        again = committed(lake)
        assert (again["rows"], again["distinct"], again["max_id"]) == (RECORDS, RECORDS, RECORDS), kill.name
        assert states[-1] == final_state

    killed = [o for o in outcomes if o[1] == -signal.SIGKILL]
    assert len(killed) >= len(kills) - 1, f"most attempts should end in SIGKILL mid-stream: {outcomes}"
    assert any(o[2] > 0 and o[3]["rows"] > 0 for o in killed), f"no kill after a committed batch: {outcomes}"
