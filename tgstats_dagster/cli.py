"""``tgstats``: the command line (demo, dev, backfill, record, login, db upgrade)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from tgstats_dagster.settings import ConfigError, load_settings, parse_peers


def _cmd_demo(args: argparse.Namespace) -> int:
    from tgstats_dagster.demo import run_demo

    return run_demo(load_settings())


def run_dev(dagster_args: Sequence[str]) -> int:
    """The Dagster UI and daemon; this process holds the embedded server while they run."""
    from tgstats_dagster.instance import prepare_environment

    prepare_environment(load_settings())
    command = [sys.executable, "-m", "dagster", "dev", "-m", "tgstats_dagster.definitions"]
    command += dagster_args
    try:
        return subprocess.run(command, env=os.environ.copy()).returncode
    except KeyboardInterrupt:
        return 130


def _cmd_backfill(args: argparse.Namespace) -> int:
    from tgstats_dagster.backfill import print_summary, run_backfill
    from tgstats_dagster.instance import open_instance
    from tgstats_dagster.warehouse.database import warehouse_url

    settings = load_settings()
    peers = parse_peers(args.peers) if args.peers else settings.peers
    if settings.disabled_reason:
        print(f"tgstats backfill: nothing to do: {settings.disabled_reason}")
        return 0
    if not peers:
        raise ConfigError("no peers: pass --peers or set MTPROTO_STATS_PEERS")
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}")
    instance = open_instance(settings)
    reports = run_backfill(settings, instance, warehouse_url(settings), peers, args.start, args.end)
    print_summary(reports)
    return 0 if all(r.acceptable for r in reports) else 1


def _cmd_peers_remove(args: argparse.Namespace) -> int:
    from tgstats_dagster.instance import open_instance
    from tgstats_dagster.partitions import PEER

    instance = open_instance(load_settings())
    for peer in parse_peers(args.peers):
        instance.delete_dynamic_partition(PEER, peer)
        print(f"removed the peer partition {peer!r} (its rows in the warehouse are kept)")
    return 0


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {value!r}") from None


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

    commands.add_parser(
        "demo", help="run the main job on embedded defaults over the bundled demo scenario"
    ).set_defaults(handler=_cmd_demo)

    # Listed for the help only: main() hands everything after `dev` to `dagster dev`.
    commands.add_parser(
        "dev",
        help="the Dagster UI and daemon (`tgstats dev -p 3001`: options pass to `dagster dev`)",
    )

    backfill = commands.add_parser(
        "backfill", help="load peers x days through Dagster and print a per-peer summary"
    )
    backfill.add_argument("--peers", help="comma-separated; default: MTPROTO_STATS_PEERS")
    backfill.add_argument("--start", required=True, type=_day, help="first day, YYYY-MM-DD")
    backfill.add_argument("--end", required=True, type=_day, help="last day, YYYY-MM-DD")
    backfill.set_defaults(handler=_cmd_backfill)

    peers = commands.add_parser("peers", help="the peer partitions")
    peers_commands = peers.add_subparsers(dest="peers_command", required=True, metavar="ACTION")
    remove = peers_commands.add_parser("remove", help="remove peer partitions (rows are kept)")
    remove.add_argument("peers", help="comma-separated usernames or ids")
    remove.set_defaults(handler=_cmd_peers_remove)

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
    # Notes for library authors, not for the user of a command.
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["dev"]:
            return run_dev(argv[1:])
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except ConfigError as exc:
        print(f"tgstats: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
