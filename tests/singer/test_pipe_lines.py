"""Lines from a tap's pipe: every byte once, in order, however the writer trickles them."""

from __future__ import annotations

import subprocess
import sys
import time

from dataops_assets.singer.pipe_lines import pipe_lines

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
    lines = list(pipe_lines(writer.stdout))
    assert writer.wait() == 0
    assert lines[:2] == [b'{"type": "RECORD", "n": 0}\n', b'{"type": "RECORD", "n": 1}\n']
    assert len(lines) == 3001 and lines[2999] == b'{"type": "RECORD", "n": 2999}\n'
    assert lines[-1] == b"last line without a newline"
    assert time.monotonic() - started < 30
