"""Opening a client: live settings checked without the network, replay wired and connected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.telegram.connect import build_client, open_client
from tgstats_dagster.telegram.login import run_login
from tgstats_dagster.telegram.replay import ReplaySender
from tgstats_dagster_tests.telegram.scenarios import standard_scenario, write_scenario

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


def test_live_client_is_pinned_to_english_with_the_flood_threshold() -> None:
    session = StringSession()
    session.set_dc(4, "149.154.167.91", 443)
    session.auth_key = AuthKey(bytes(256))
    settings = Settings(
        api_id=123, api_hash=API_HASH, session=session.save(), flood_sleep_threshold=17
    )
    client = build_client(settings)
    assert client._init_request.lang_code == "en"
    assert client._init_request.system_lang_code == "en"
    assert client.flood_sleep_threshold == 17
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
