"""Real Dagster runs over the offline Telegram, with PostgreSQL instance storage."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from scripts.synthetic import DEMO_PEERS, write_scenario
from tgstats_dagster.cli.instance import open_instance
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.server import with_driver

END_DAY = date(2026, 11, 15)
CHANNEL, GROUP, NO_RIGHTS = (p.key for p in DEMO_PEERS)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    """The demo peers: a channel on stats DC 4 (home DC 2), a supergroup, one without rights."""
    out = tmp_path / "scenario"
    write_scenario(out, end_day=END_DAY, days=90)
    return out


@pytest.fixture
def loadable_scenario(tmp_path: Path) -> Path:
    """Three peers that all have stats rights."""
    out = tmp_path / "scenario-loadable"
    peers = [
        dataclasses.replace(p, can_view_stats=True, stats_dc=p.stats_dc or 2) for p in DEMO_PEERS
    ]
    write_scenario(out, peers=peers, end_day=END_DAY, days=90)
    return out


@pytest.fixture
def pipeline_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> dict[str, str]:
    """The environment of a user running the pipeline over a scenario (set by ``use_scenario``)."""
    env = {
        "MTPROTO_ENABLED": "true",
        "MTPROTO_STATS_ENABLED": "true",
        "MTPROTO_STATS_PEERS": ",".join(p.key for p in DEMO_PEERS),
        "TGSTATS_DATABASE_URL": database_url,
        "TGSTATS_REPLAY_LOG": str(tmp_path / "replay.jsonl"),
        "TGSTATS_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "TGSTATS_DAGSTER_PG_URL": with_driver(database_url, "psycopg2"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def use_scenario(pipeline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, scenario: Path):
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(scenario))
    pipeline_env["TGSTATS_TELEGRAM_REPLAY"] = str(scenario)
    return scenario


@pytest.fixture
def instance(use_scenario: Path) -> Iterator[dg.DagsterInstance]:
    with open_instance(load_settings()) as instance:
        yield instance


def replay_requests(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def stats_requests(log: Path) -> list[dict]:
    """The stats requests Telegram answered (getBroadcastStats / getMegagroupStats)."""
    return [
        r
        for r in replay_requests(log)
        if r["request"] in ("GetBroadcastStatsRequest", "GetMegagroupStatsRequest")
    ]
