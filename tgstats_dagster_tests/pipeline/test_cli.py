"""`tgstats backfill` and `tgstats demo` as a user runs them: subprocesses, real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import (
    CHANNEL,
    END_DAY,
    GROUP,
    NO_RIGHTS,
    replay_requests,
    stats_requests,
)
from tgstats_dagster_tests.pipeline.expected import expected_daily

pytestmark = pytest.mark.storage


def tgstats(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _table(database_url: str) -> list[tuple]:
    with make_engine(database_url).connect() as conn:
        return sorted(
            conn.execute(text("SELECT peer_key, day, metric, value FROM channel_daily")).all()
        )


def test_backfill_command(pipeline_env, use_scenario: Path, database_url: str) -> None:
    first, last = END_DAY - timedelta(days=52), END_DAY
    args = [
        "backfill",
        "--peers",
        f"@{CHANNEL},{GROUP},{NO_RIGHTS}",
        "--start",
        str(first),
        "--end",
        str(last),
    ]
    done = tgstats(*args, env=pipeline_env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.stdout
    assert f"{CHANNEL}" in summary and "loaded" in summary
    assert "skipped" in summary and "no stats rights" in summary

    table = _table(database_url)
    days = [first + timedelta(days=i) for i in range(53)]
    for peer in (CHANNEL, GROUP):
        expected = expected_daily(use_scenario, peer, days)
        stored = {(d, m): v for p, d, m, v in table if p == peer}
        assert stored == expected
    assert not [row for row in table if row[0] == NO_RIGHTS]
    # one stats fetch per peer with rights (the content's requests: test_content_backfill.py)
    assert len(stats_requests(Path(pipeline_env["TGSTATS_REPLAY_LOG"]))) == 2

    again = tgstats(*args, env=pipeline_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _table(database_url) == table
    assert "unchanged" in again.stdout and "Telegram requests: 0" in again.stdout


def test_backfill_with_flags_off_checks_its_arguments_then_says_why(
    pipeline_env, use_scenario, database_url
) -> None:
    env = {**pipeline_env, "MTPROTO_ENABLED": "false"}
    bad = tgstats("backfill", "--start", "2026-11-02", "--end", "2026-11-01", env=env)
    assert bad.returncode == 2 and "--end 2026-11-01 is before --start 2026-11-02" in bad.stderr
    done = tgstats("backfill", "--start", "2026-11-01", "--end", "2026-11-02", env=env)
    assert done.returncode == 2
    assert "nothing to do: MTPROTO_ENABLED is off" in done.stderr
    assert "Traceback" not in done.stderr
    with make_engine(database_url).connect() as conn:
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        ).scalar_one()
    assert tables == 0


def test_bad_peer_is_a_clear_error_naming_the_option(pipeline_env, use_scenario) -> None:
    done = tgstats(
        "backfill",
        "--peers",
        "good_name,bad|name",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-02",
        env=pipeline_env,
    )
    assert done.returncode == 2
    assert "--peers: 'bad|name' is not a Telegram username" in done.stderr
    assert "MTPROTO_STATS_PEERS" not in done.stderr


@pytest.mark.parametrize(
    ("change", "culprit"),
    [
        ({"args": ["--start", "2025-12-31"]}, "--start 2025-12-31 is before TGSTATS_START_DATE"),
        ({"args": ["--end", "9999-12-31"]}, "--end 9999-12-31 is in the future"),
        ({"TGSTATS_DATABASE_URL": "mysql://u:pw@127.0.0.1/db"}, "names a 'mysql' database"),
        ({"TGSTATS_DATABASE_URL": "postgresql://u:sekret@127.0.0.1:9/db"}, "cannot reach"),
        ({"TGSTATS_DATABASE_URL": "", "TGSTATS_HOME": "/proc/forbidden"}, "TGSTATS_HOME"),
        (
            {
                "TGSTATS_TELEGRAM_REPLAY": "",
                "TG_API_ID": "1",
                "TG_API_HASH": "x",
                "TG_SESSION": "!",
            },
            "TG_SESSION is not a Telethon StringSession",
        ),
        ({"TGSTATS_TELEGRAM_REPLAY": ""}, "TG_API_ID, TG_API_HASH, TG_SESSION are not set"),
        ({"TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "99999999"}, "TGSTATS_SNAPSHOT_MAX_AGE_HOURS"),
    ],
)
def test_bad_input_is_refused_at_the_door(
    pipeline_env, use_scenario, change: dict, culprit: str
) -> None:
    env = {**pipeline_env, **{k: v for k, v in change.items() if k != "args"}}
    days = {"--start": "2026-11-01", "--end": "2026-11-02"}
    extra = change.get("args", [])
    days.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    args = ["backfill", "--peers", GROUP] + [x for kv in days.items() for x in kv]
    done = tgstats(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert culprit in done.stderr
    assert "Traceback" not in done.stderr and "sekret" not in done.stderr
    assert replay_requests(Path(pipeline_env["TGSTATS_REPLAY_LOG"])) == []


def test_every_command_and_option_has_a_description(pipeline_env) -> None:
    done = tgstats("--help", env=pipeline_env)
    for command in ("demo", "dev", "refresh", "backfill", "peers", "record", "login", "db"):
        assert command in done.stdout
        sub = tgstats(command, "--help", env=pipeline_env)
        assert sub.returncode == 0 and "usage: tgstats" in sub.stdout.lower(), command
    backfill = tgstats("backfill", "--help", env=pipeline_env).stdout
    assert "first day, YYYY-MM-DD" in backfill and "default: MTPROTO_STATS_PEERS" in backfill
    dev = tgstats("dev", "--help", env=pipeline_env).stdout
    assert "--port" in dev and "--module-name" not in dev


def test_peers_remove_says_when_there_is_nothing_to_remove(pipeline_env, use_scenario) -> None:
    done = tgstats("peers", "remove", "no_such_peer", env=pipeline_env)
    assert done.returncode == 1
    assert "'no_such_peer' is not a peer partition: nothing removed" in done.stderr


def test_demo_command(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TGSTATS_", "MTPROTO_", "DAGSTER_", "TG_"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", "demo"],
        env={**env, "TGSTATS_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "tgstats_demo_channel" in out and "loaded" in out
    assert "tgstats_demo_norights" in out and "skipped" in out
    assert "channel_daily:" in out and "growth.total_followers" in out
