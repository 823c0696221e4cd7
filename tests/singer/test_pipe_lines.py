"""Blocks from a tap's pipe: every byte once, in order, in whole lines, however the writer trickles them."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

from dataops_assets.singer import pipe_lines
from dataops_assets.singer.pipe_lines import lines_of, pipe_blocks

TRICKLE = """
import sys, time
for number in range(3000):
    sys.stdout.write(f'{{"type": "RECORD", "n": {number}}}\\n')
    sys.stdout.flush()
    if number % 500 == 0:
        time.sleep(0.01)
sys.stdout.write("last line without a newline")
"""


def test_a_trickling_writer_arrives_whole_and_in_order() -> None:
    writer = subprocess.Popen([sys.executable, "-c", TRICKLE], stdout=subprocess.PIPE)
    assert writer.stdout is not None
    started = time.monotonic()
    blocks = list(pipe_blocks(writer.stdout))
    assert writer.wait() == 0
    assert all(block.endswith(b"\n") for block in blocks)
    lines = [line for block in blocks for line in lines_of(block)]
    assert lines[:2] == [b'{"type": "RECORD", "n": 0}', b'{"type": "RECORD", "n": 1}']
    assert len(lines) == 3001 and lines[2999] == b'{"type": "RECORD", "n": 2999}'
    assert lines[-1] == b"last line without a newline"
    assert time.monotonic() - started < 30


def test_a_line_longer_than_a_read_arrives_in_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipe_lines, "CHUNK_BYTES", 1000)
    long_line = b"x" * 4500
    blocks = list(pipe_blocks(io.BytesIO(b"a\n" + long_line + b"\nb\nc")))
    assert [line for block in blocks for line in lines_of(block)] == [b"a", long_line, b"b", b"c"]


def test_a_block_cut_inside_a_line_is_refused_not_shortened() -> None:
    with pytest.raises(ValueError, match="must end with a newline"):
        lines_of(b'{"type": "STATE", "value": 1}\n{"type": "REC')
