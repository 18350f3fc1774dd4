"""The commands of ``tgstats`` (demo, dev, refresh, backfill, peers, record, login, db)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from tgstats_dagster.cli.stopping import exit_code, leave, stop_on_signals
from tgstats_dagster.settings import ConfigError, load_settings, parse_peers

DEV_HELP = """usage: tgstats dev [dagster dev options]

The Dagster UI and daemon over the project's code location, on the embedded PostgreSQL (or
TGSTATS_DATABASE_URL) and the configured Telegram. Options go to `dagster dev`, for example:
  -p, --port PORT          the webserver's port (default 3000)
  -h, --host HOST          the webserver's host (default 127.0.0.1)
  --log-level LEVEL        the Dagster processes' log level
tgstats dev sets the code location (-m/-f/-w) itself. Ctrl-C stops the UI, the daemon and the
embedded PostgreSQL it started.
"""


def _peers_option(value: str) -> tuple[str, ...]:
    try:
        peers = parse_peers(value, source="--peers")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not peers:
        raise argparse.ArgumentTypeError("give at least one username or channel id")
    return peers


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {value!r}") from None


def _cmd_demo(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.checks import check_home
    from tgstats_dagster.cli.demo import run_demo

    settings = load_settings()
    check_home(settings)
    return run_demo(settings)


def _cmd_backfill(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.checks import check_database, check_days, check_telegram

    settings = load_settings()
    peers = args.peers or settings.peers
    check_days(settings, args.start, args.end)
    if not peers:
        raise ConfigError("no peers: pass --peers or set MTPROTO_STATS_PEERS")
    return _load(settings, peers, args.start, args.end, (check_telegram, check_database), False)


def _cmd_refresh(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.checks import check_database, check_telegram
    from tgstats_dagster.runs import refresh_window

    settings = load_settings()
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    window = refresh_window(settings.start_date, settings.period_days, yesterday)
    if window is None:
        raise ConfigError(f"no complete day since TGSTATS_START_DATE {settings.start_date}")
    return _load(settings, None, *window, (check_telegram, check_database), True)


def _load(settings, peers, first, last, checks, only_changed: bool) -> int:
    from tgstats_dagster.cli.instance import open_instance
    from tgstats_dagster.cli.load import load, print_summary
    from tgstats_dagster.cli.runner import stop_own_runs
    from tgstats_dagster.partitions import PEER

    if settings.disabled_reason:
        print(f"tgstats: nothing to do: {settings.disabled_reason}", file=sys.stderr)
        return 2
    for check in checks:
        check(settings)
    instance = open_instance(settings)
    if peers is None:
        existing = instance.get_dynamic_partitions(PEER)
        peers = tuple(dict.fromkeys([*settings.peers, *existing]))
        if not peers:
            raise ConfigError("no peers: set MTPROTO_STATS_PEERS")
    try:
        result = load(settings, instance, peers, first, last, only_changed=only_changed)
    except KeyboardInterrupt as stop:
        return stop_own_runs(instance, stop)
    print_summary(result)
    return 0 if all(r.acceptable for r in result.reports) else 1


def _cmd_peers_remove(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.instance import open_instance
    from tgstats_dagster.partitions import PEER, STATS_PEER

    instance = open_instance(load_settings())
    existing = set(instance.get_dynamic_partitions(PEER))
    status = 0
    for peer in args.peers:
        if peer not in existing:
            print(f"tgstats: {peer!r} is not a peer partition: nothing removed", file=sys.stderr)
            status = 1
            continue
        instance.delete_dynamic_partition(PEER, peer)
        if peer in instance.get_dynamic_partitions(STATS_PEER):
            instance.delete_dynamic_partition(STATS_PEER, peer)
        print(f"removed the peer partition {peer!r} (its rows in the warehouse are kept)")
    return status


def _cmd_record(args: argparse.Namespace) -> int:
    from tgstats_dagster.telegram.record import run_record

    return run_record(load_settings(), args.peers, Path(args.out), args.post_stats)


def _cmd_login(args: argparse.Namespace) -> int:
    from tgstats_dagster.telegram.login import run_login

    return run_login(load_settings())


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.checks import check_database
    from tgstats_dagster.warehouse.database import warehouse_url
    from tgstats_dagster.warehouse.migrations import upgrade

    settings = load_settings()
    check_database(settings)
    upgrade(warehouse_url(settings))
    print("the warehouse schema is up to date")
    return 0


def _cmd_db_sql(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.checks import check_database
    from tgstats_dagster.cli.sql import run_query
    from tgstats_dagster.warehouse.database import warehouse_url

    settings = load_settings()
    check_database(settings)
    query = args.query if args.query is not None else sys.stdin.read()
    return run_query(warehouse_url(settings), query)


def _cmd_report(args: argparse.Namespace) -> int:
    from tgstats_dagster.cli.checks import check_database
    from tgstats_dagster.cli.report import run_report

    settings = load_settings()
    check_database(settings)
    return run_report(settings, args.peers, Path(args.out) if args.out else None)


def _cmd_dev(args: argparse.Namespace) -> int:  # pragma: no cover - main() runs `dev` itself
    raise AssertionError("main() hands `dev` to run_dev")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tgstats",
        description="Official Telegram channel and supergroup statistics, loaded by Dagster.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description)

    command(
        "demo",
        "run the main job on embedded defaults over the bundled demo scenario",
        "Starts an embedded PostgreSQL under TGSTATS_HOME, serves the bundled demo scenario "
        "(synthetic data) through the offline Telegram, loads the demo peers through a real "
        "Dagster instance and prints what landed.",
    ).set_defaults(handler=_cmd_demo)
    command(
        "dev",
        "the Dagster UI and daemon (options pass to `dagster dev`: tgstats dev -p 3001)",
        DEV_HELP,
    ).set_defaults(handler=_cmd_dev)
    command(
        "refresh",
        "what the daily schedule does, now: the last MTPROTO_STATS_PERIOD_DAYS days of every peer",
        "Re-writes the last MTPROTO_STATS_PERIOD_DAYS complete days of every configured peer "
        "through the schedule's runs (one run, one stats fetch per peer) and prints a per-peer "
        "summary. For a cron job, or to see the schedule's work from the shell.",
    ).set_defaults(handler=_cmd_refresh)

    backfill = command(
        "backfill",
        "load peers x days through Dagster and print a per-peer summary",
        "What the UI's backfill does, from the shell: the peer entities of new peers, then the "
        "stats of every peer with stats rights over the days, in as few runs as the "
        "partitions allow. Exit 0 when every peer loaded or was skipped for lack of rights.",
    )
    backfill.add_argument(
        "--peers",
        type=_peers_option,
        metavar="A,B",
        help="usernames (with or without @) or numeric ids, comma-separated; "
        "default: MTPROTO_STATS_PEERS",
    )
    backfill.add_argument(
        "--start", required=True, type=_day, metavar="DAY", help="first day, YYYY-MM-DD"
    )
    backfill.add_argument(
        "--end", required=True, type=_day, metavar="DAY", help="last day, YYYY-MM-DD"
    )
    backfill.set_defaults(handler=_cmd_backfill)

    peers = command("peers", "the peer partitions", "Manage the peer partitions.")
    actions = peers.add_subparsers(dest="peers_command", required=True, metavar="ACTION")
    remove = actions.add_parser(
        "remove",
        help="remove peer partitions (their rows in the warehouse are kept)",
        description="Removes peer partitions; the warehouse keeps their rows.",
    )
    remove.add_argument("peers", type=_peers_option, metavar="A,B", help="peers to remove")
    remove.set_defaults(handler=_cmd_peers_remove)

    record = command(
        "record",
        "fetch stats through the real client and write a replay scenario folder",
        "Fetches the peers' statistics through the production client and writes them in the "
        "offline Telegram's scenario format (docs/scenario-format.md), for offline "
        "development and bug reports.",
    )
    record.add_argument(
        "--peers", required=True, type=_peers_option, metavar="A,B", help="peers to record"
    )
    record.add_argument("--out", required=True, metavar="DIR", help="the scenario folder to write")
    record.add_argument(
        "--post-stats",
        type=int,
        default=None,
        metavar="N",
        help="fetch the statistics of the N newest posts and of the N newest stories of the "
        "stats window (default 20)",
    )
    record.set_defaults(handler=_cmd_record)

    command(
        "login",
        "create a Telethon StringSession interactively",
        "Asks for your phone number, the login code and your 2FA password, and prints a "
        "StringSession to put into TG_SESSION. Needs TG_API_ID and TG_API_HASH.",
    ).set_defaults(handler=_cmd_login)

    db = command("db", "the warehouse schema", "Manage the warehouse schema.")
    db_actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_actions.add_parser(
        "upgrade",
        help="apply the migrations",
        description="Applies the warehouse migrations (Alembic) to TGSTATS_DATABASE_URL or the "
        "embedded PostgreSQL.",
    ).set_defaults(handler=_cmd_db_upgrade)
    sql = db_actions.add_parser(
        "sql",
        help="run a read-only query and print its rows",
        description="Runs a query on the warehouse (TGSTATS_DATABASE_URL or the embedded "
        "PostgreSQL) in a read-only transaction and prints its rows as a table: the README's "
        "example queries, with no psql needed.",
    )
    sql.add_argument("query", nargs="?", help="the SQL (default: read from standard input)")
    sql.set_defaults(handler=_cmd_db_sql)

    report = command(
        "report",
        "draw each channel's report page from the warehouse and say where it is",
        "Draws each channel's whole kept history (the pictures the channel_report asset shows "
        "in the UI) into one HTML page per channel, readable offline. A peer without stats "
        "rights is skipped with a note.",
    )
    report.add_argument(
        "--peers",
        type=_peers_option,
        metavar="A,B",
        help="default: MTPROTO_STATS_PEERS, else every peer in the warehouse",
    )
    report.add_argument("--out", metavar="DIR", help="default: TGSTATS_HOME/reports")
    report.set_defaults(handler=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return leave(_main(argv))


def _main(argv: Sequence[str] | None) -> int:
    # Ctrl-C, SIGTERM and a closed terminal stop a command: its runs canceled, not left started.
    stop_on_signals()
    try:
        # Notes for library authors, not for the user of a command.
        warnings.filterwarnings("ignore", message=".*is currently in beta")
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv[:1] == ["dev"]:
            return _dev(argv[1:])
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except ConfigError as exc:
        print(f"tgstats: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print("\ntgstats: stopped", file=sys.stderr)
        return exit_code(stop)


def _dev(args: list[str]) -> int:
    from tgstats_dagster.cli.dev import OWN_OPTIONS, run_dev

    if "--help" in args:
        print(DEV_HELP)
        return 0
    own = [arg for arg in args if arg.split("=")[0] in OWN_OPTIONS]
    if own:
        raise ConfigError(f"tgstats dev sets the code location itself: drop {' '.join(own)}")
    return run_dev(load_settings(), args)
