"""Opening a client: live settings checked without the network, replay wired and connected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.telegram.connect import build_client, open_client, retry_policy
from tgstats_dagster.telegram.errors import FloodWaitTooLong
from tgstats_dagster.telegram.login import run_login
from tgstats_dagster.telegram.replay import ReplaySender
from tgstats_dagster.telegram.retry import RetryPolicy
from tgstats_dagster_tests.telegram.scenarios import (
    RecordingSleep,
    standard_scenario,
    write_scenario,
)

API_HASH = "fedcba9876543210fedcba9876543210"


def test_missing_credentials_are_named_never_their_values() -> None:
    settings = Settings(api_id=123, api_hash=API_HASH, session=None)
    with pytest.raises(ConfigError) as caught:
        build_client(settings)
    assert "TG_SESSION" in str(caught.value)
    assert "TG_API_ID" not in str(caught.value)
    assert API_HASH not in str(caught.value)


def test_a_bad_session_string_is_reported_without_it() -> None:
    secret = "1NotAValidSessionStringButSecretAnyway=="
    with pytest.raises(ConfigError) as caught:
        build_client(Settings(api_id=123, api_hash=API_HASH, session=secret))
    assert "TG_SESSION" in str(caught.value)
    assert secret not in str(caught.value) and API_HASH not in str(caught.value)


def test_live_client_is_pinned_to_english_and_leaves_retries_to_the_policy() -> None:
    session = StringSession()
    session.set_dc(4, "149.154.167.91", 443)
    session.auth_key = AuthKey(bytes(256))
    settings = Settings(
        api_id=123, api_hash=API_HASH, session=session.save(), flood_sleep_threshold=17
    )
    client = build_client(settings)
    assert client._init_request.lang_code == "en"
    assert client._init_request.system_lang_code == "en"
    # Telethon neither sleeps flood waits nor retries: the RetryPolicy does, on every DC.
    assert client.flood_sleep_threshold == 0
    assert client._request_retries == 0
    assert retry_policy(settings).flood_sleep_threshold == 17
    assert client.session.dc_id == 4
    assert API_HASH not in repr(settings)


def test_open_client_on_a_replay_scenario(tmp_path: Path) -> None:
    scenario = standard_scenario(tmp_path / "s")
    write_scenario(scenario, home_dc=4)
    log = tmp_path / "replay.jsonl"

    async def main():
        async with open_client(Settings(replay_dir=scenario, replay_log=log)) as client:
            assert client.is_connected()
            return client.session.dc_id, type(client._sender), await client.get_me()

    home, sender_type, me = asyncio.run(main())
    assert home == 4
    assert sender_type is ReplaySender
    assert me.is_self
    assert '"request": "GetConfigRequest"' in log.read_text()


def test_login_needs_the_api_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        run_login(Settings(api_id=None, api_hash=API_HASH))
    assert "TG_API_ID" in str(caught.value)
    assert API_HASH not in str(caught.value)


@pytest.mark.parametrize("request_name", ["GetConfigRequest", "GetUsersRequest"])
def test_a_short_flood_wait_while_connecting_is_waited_out(
    tmp_path: Path, request_name: str
) -> None:
    faults = [{"request": request_name, "error": "FLOOD_WAIT_3", "times": 1}]
    scenario = standard_scenario(tmp_path / "s", faults=faults)
    log = tmp_path / "replay.jsonl"
    sleep = RecordingSleep()

    async def main():
        settings = Settings(replay_dir=scenario, replay_log=log)
        async with open_client(settings, RetryPolicy(sleep=sleep)) as client:
            return (await client.get_me()).is_self

    assert asyncio.run(main())
    assert sleep.calls == [3]
    assert '"outcome": "FLOOD_WAIT_3"' in log.read_text()


def test_a_long_flood_wait_while_connecting_raises_with_its_length(tmp_path: Path) -> None:
    faults = [{"request": "GetConfigRequest", "error": "FLOOD_WAIT_3600", "times": 1}]
    scenario = standard_scenario(tmp_path / "s", faults=faults)
    sleep = RecordingSleep()

    async def main():
        settings = Settings(replay_dir=scenario, flood_sleep_threshold=60)
        async with open_client(settings, RetryPolicy(sleep=sleep)):
            pass

    with pytest.raises(FloodWaitTooLong) as caught:
        asyncio.run(main())
    assert caught.value.seconds == 3600
    assert "3600 s" in str(caught.value) and "over the flood sleep threshold" in str(caught.value)
    assert sleep.calls == []
