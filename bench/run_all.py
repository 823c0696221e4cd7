"""`make bench`: run every benchmark in this folder with its default settings.

The Makefile calls this module, so a new benchmark only has to be added here to run with the others.
"""

from __future__ import annotations

from bench import singer_target


def main() -> None:
    """Run the benchmarks one after another (they share the machine, so never in parallel)."""
    singer_target.main([])


if __name__ == "__main__":
    main()
