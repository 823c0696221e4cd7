"""Singer test helpers shared by test modules in any folder (importable: ``tests`` is on pytest's path).

They live here rather than in ``conftest.py`` because several folders have a ``conftest.py`` of their own,
and ``from conftest import ...`` would pick whichever was imported first.
"""

from __future__ import annotations

from typing import Any

FAKE_TAP_TEMPLATE = """#!{python}
# A stand-in Singer tap for tests: prints canned output, optionally fails or hangs part-way.
import json, os, signal, sys, time
spec = json.load(open({spec_path!r}))
if "--discover" in sys.argv:
    print(json.dumps(spec["catalog"]))
    sys.exit(0)
if "--config" in sys.argv:
    config = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
    json.dump(config, open({spec_path!r} + ".config-seen", "w"))
for index, line in enumerate(spec["lines"]):
    if spec.get("fail_at") == index:
        sys.stderr.write("fake tap: simulated failure\\n")
        sys.stderr.flush()
        sys.exit(spec.get("exit_code", 3))
    if spec.get("hang_at") == index:
        sys.stdout.flush()
        time.sleep(3600)
    if spec.get("sleep_at") == index:
        time.sleep(spec["sleep_seconds"])
    if spec.get("kill_at") == index:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdout.write(line + "\\n")
sys.stderr.write("fake tap: done\\n")
"""


def singer_catalog(streams: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A catalog with one entry per stream: ``{name: {"schema": ..., "key_properties": [...]}}``."""
    return {
        "streams": [
            {
                "tap_stream_id": name,
                "stream": name,
                "schema": spec["schema"],
                "key_properties": spec.get("key_properties", []),
                "metadata": [
                    {"breadcrumb": [], "metadata": {"table-key-properties": spec.get("key_properties", [])}}
                ],
            }
            for name, spec in streams.items()
        ]
    }
