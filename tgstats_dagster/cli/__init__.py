"""``tgstats``: the command line (demo, dev, refresh, backfill, peers, record, login, db).

The commands live in :mod:`tgstats_dagster.cli.commands`; the ``tgstats`` script starts in
:mod:`tgstats_dagster.cli.entry`, which installs the stop signals' handlers first.
"""

from __future__ import annotations


def main(argv: list[str] | tuple[str, ...] | None = None) -> int:
    """Run ``tgstats`` with ``argv`` (default: the process's arguments); the exit code."""
    from tgstats_dagster.cli.commands import main as run

    return run(argv)
