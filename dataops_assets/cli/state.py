"""``dataops state show|set|clear SOURCE [STREAM]``: the Singer state the next incremental run starts from.

The state lives in the lake (``_dataops.singer_state``), committed with the rows it covers; these commands
change it in one transaction too, waiting for the lake's writer lock like any load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from dataops_assets.config import load_pipeline
from dataops_assets.lake.connection import open_lake
from dataops_assets.lake.state import ensure_bookkeeping, read_committed_state, write_state


def register(commands: Any) -> None:
    parser = commands.add_parser("state", help="show, set or clear a source's stored Singer state")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the state (or one stream's bookmark) as JSON")
    set_ = actions.add_parser("set", help="replace the state, or one stream's bookmark, with JSON")
    clear = actions.add_parser(
        "clear", help="forget the state (or one stream's bookmark): the next run starts over"
    )
    for action in (show, set_, clear):
        action.add_argument("source", help="declared source name")
        action.add_argument("stream", nargs="?", help="only this stream's bookmark")
    set_.add_argument(
        "value", help='JSON, e.g. \'{"replication_key": "updated_at", "replication_key_value": "..."}\''
    )
    show.set_defaults(handler=run_show)
    set_.set_defaults(handler=run_set)
    clear.set_defaults(handler=run_clear)


def run_show(arguments: argparse.Namespace) -> int:
    state = _read(arguments.source)
    if arguments.stream:
        state = _bookmarks(state).get(arguments.stream)
    print(json.dumps(state, indent=2, sort_keys=True))
    return 0


def run_set(arguments: argparse.Namespace) -> int:
    try:
        value = json.loads(arguments.value)
    except json.JSONDecodeError as error:
        raise ValueError(f"the value is not valid JSON: {error}") from None
    if arguments.stream:
        state = _read(arguments.source) or {}
        _bookmarks(state, create=True)[arguments.stream] = value
        value = state
    _write(arguments.source, value)
    print(json.dumps(value, indent=2, sort_keys=True))
    return 0


def run_clear(arguments: argparse.Namespace) -> int:
    state = None
    if arguments.stream:
        state = _read(arguments.source) or {}
        _bookmarks(state).pop(arguments.stream, None)
    _write(arguments.source, state)
    print(f"cleared the state of {arguments.source}{'/' + arguments.stream if arguments.stream else ''}")
    return 0


def _bookmarks(state: Any, *, create: bool = False) -> dict[str, Any]:
    if not isinstance(state, dict):
        return {}
    if create:
        bookmarks: dict[str, Any] = state.setdefault("bookmarks", {})
        return bookmarks
    return state.get("bookmarks") or {}


def _read(source: str) -> Any:
    pipeline = load_pipeline()
    pipeline.source(source)
    return read_committed_state(
        pipeline.lake.path, source, timeout_seconds=pipeline.lake.lock_timeout_seconds
    )


def _write(source: str, state: Any) -> None:
    pipeline = load_pipeline()
    pipeline.source(source)
    with open_lake(pipeline.lake.path, timeout_seconds=pipeline.lake.lock_timeout_seconds) as lake:
        lake.execute("BEGIN TRANSACTION")
        ensure_bookkeeping(lake)
        if state is None:
            lake.execute("DELETE FROM _dataops.singer_state WHERE source = ?", [source])
        else:
            write_state(
                lake, source, state, dt.datetime.now(dt.UTC).isoformat(), "dataops state", replace=True
            )
        lake.execute("COMMIT")
