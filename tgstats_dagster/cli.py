"""``tgstats``: the command line (demo, dev, backfill, record, login, db upgrade)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tgstats_dagster.settings import ConfigError, load_settings, parse_peers


def _cmd_record(args: argparse.Namespace) -> int:
    from tgstats_dagster.telegram.record import run_record

    return run_record(load_settings(), parse_peers(args.peers), Path(args.out))


def _cmd_login(args: argparse.Namespace) -> int:
    from tgstats_dagster.telegram.login import run_login

    return run_login(load_settings())


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from tgstats_dagster.warehouse.database import warehouse_url
    from tgstats_dagster.warehouse.migrations import upgrade

    upgrade(warehouse_url(load_settings()))
    print("the warehouse schema is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tgstats",
        description="Official Telegram channel and supergroup statistics, loaded by Dagster.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    record = commands.add_parser(
        "record", help="fetch stats through the real client and write a replay scenario folder"
    )
    record.add_argument("--peers", required=True, help="comma-separated usernames or ids")
    record.add_argument("--out", required=True, help="the scenario folder to write")
    record.set_defaults(handler=_cmd_record)

    login = commands.add_parser("login", help="create a Telethon StringSession interactively")
    login.set_defaults(handler=_cmd_login)

    db = commands.add_parser("db", help="the warehouse schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the migrations").set_defaults(
        handler=_cmd_db_upgrade
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"tgstats: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
