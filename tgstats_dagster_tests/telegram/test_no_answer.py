"""A request Telegram never answers (the offline Telegram's ``NO_ANSWER`` fault).

Telethon waits for an answer as long as it takes; the retry policy bounds every attempt by
``request_timeout`` (MTPROTO_REQUEST_TIMEOUT) and sends it again like after a dropped
connection. A request that stays unanswered fails its peer, naming the request and the
timeout; the other peers load, and nothing waits forever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tgstats_dagster.settings import ConfigError, load_settings
from tgstats_dagster.telegram.connect import retry_policy
from tgstats_dagster.telegram.errors import TelegramRequestFailed
from tgstats_dagster.telegram.replay import NO_ANSWER, Fault
from tgstats_dagster.telegram.retry import NoAnswer
from tgstats_dagster_tests.telegram.scenarios import (
    entries,
    replay_session,
    resolve_and_fetch,
    standard_scenario,
)

TIMEOUT = 0.3
#: However the client behaves, a test ends within this (a wedged fetch fails it).
WEDGED = 60.0


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return standard_scenario(tmp_path / "scenario")


def _bounded(main):
    async def bounded():
        return await asyncio.wait_for(main(), WEDGED)

    return asyncio.run(bounded())


@pytest.mark.parametrize(
    ("request_name", "dc", "key"),
    [
        ("LoadAsyncGraphRequest", 4, "news"),  # exported sender
        ("GetBroadcastStatsRequest", 2, "local"),  # home DC, through Telethon's _call
    ],
)
def test_an_unanswered_request_is_sent_again(
    scenario: Path, request_name: str, dc: int, key: str
) -> None:
    async def main():
        async with replay_session(scenario, request_timeout=TIMEOUT) as (telegram, _, stats):
            telegram.add_fault(Fault(request_name, NO_ANSWER, dc=dc))
            return telegram, await stats.fetch(await stats.resolve(key))

    telegram, snapshot = _bounded(main)
    outcomes = [e["outcome"] for e in entries(telegram, peer=key, request=request_name)]
    assert outcomes[:2] == [NO_ANSWER, "ok"]
    assert snapshot.complete and snapshot.missing_graphs == ()


def test_a_request_that_stays_unanswered_fails_its_peer_only(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario, request_timeout=TIMEOUT, retries=2) as (
            telegram,
            _,
            stats,
        ):
            telegram.add_fault(Fault("GetBroadcastStatsRequest", NO_ANSWER, times=100, dc=4))
            return telegram, await resolve_and_fetch(stats, ["news", "local"])

    telegram, (news, local) = _bounded(main)
    assert (news.status, local.status) == ("failed", "loaded")
    assert isinstance(news.error, TelegramRequestFailed)
    assert isinstance(news.error.cause, NoAnswer)
    text = f"{news.reason} {news.error}"
    assert "GetBroadcastStatsRequest" in text and "news" in text, text
    assert f"no answer within {TIMEOUT:g} s" in text, text
    unanswered = entries(telegram, peer="news", request="GetBroadcastStatsRequest")
    assert [e["outcome"] for e in unanswered] == [NO_ANSWER] * 3  # once, then 2 retries
    assert local.snapshot is not None and local.snapshot.complete


def test_the_timeout_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTPROTO_REQUEST_TIMEOUT", "7")
    assert retry_policy(load_settings()).request_timeout == 7
    monkeypatch.delenv("MTPROTO_REQUEST_TIMEOUT")
    assert retry_policy(load_settings()).request_timeout == 60
    monkeypatch.setenv("MTPROTO_REQUEST_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="MTPROTO_REQUEST_TIMEOUT"):
        load_settings()
