"""``dataops``: the command line for operators. Every command has ``--help`` and fails with one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dataops_assets.cli import demo, discover, install, prepare, state


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dataops", description="Dagster-native ELT: Singer taps -> DuckDB -> dbt."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.register(commands)
    prepare.register(commands)
    discover.register(commands)
    state.register(commands)
    install.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return int(arguments.handler(arguments) or 0)
    except KeyboardInterrupt:
        print("dataops: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the one place errors become a one-line reason and an exit code
        message = str(error).strip() or type(error).__name__
        print(f"dataops {arguments.command}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
