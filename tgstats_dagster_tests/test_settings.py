from datetime import date

import pytest

from tgstats_dagster.settings import ConfigError, channel_id_of_entry, load_settings, parse_peers


def test_defaults_are_off_and_explained() -> None:
    settings = load_settings({})
    assert not settings.enabled
    assert "MTPROTO_ENABLED and MTPROTO_STATS_ENABLED are off" in settings.disabled_reason
    assert settings.peers == ()
    assert settings.period_days == 30
    assert settings.concurrency == 3
    assert settings.start_date == date(2026, 1, 1)


def test_one_flag_off_names_that_flag() -> None:
    settings = load_settings({"MTPROTO_ENABLED": "true"})
    assert settings.disabled_reason.startswith("MTPROTO_STATS_ENABLED is off")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('["@MyChannel", "@mygroup"]', ("mychannel", "mygroup")),
        ("@MyChannel, mygroup ,https://t.me/other_one", ("mychannel", "mygroup", "other_one")),
        ("-1001234567890,42", ("-1001234567890", "42")),
        ("chan_a,@Chan_A", ("chan_a",)),
    ],
)
def test_peers_are_normalized(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_peers(raw) == expected


@pytest.mark.parametrize("entry", ["a|b", "my channel", "", "[x]", "ab", "1abc"])
def test_bad_peer_names_the_entry(entry: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_peers(f"goodname,{entry}" if entry else "goodname,,other")
    assert "MTPROTO_STATS_PEERS" in str(info.value)
    assert repr(entry) in str(info.value)


def test_a_numeric_entry_names_one_channel_for_both_sides() -> None:
    assert channel_id_of_entry("-1001234") == channel_id_of_entry("1234") == 1234
    assert channel_id_of_entry("mychannel") is None
    assert channel_id_of_entry("-1234") is None


def test_a_basic_group_id_is_refused_and_says_why() -> None:
    with pytest.raises(ConfigError) as info:
        parse_peers("goodname,-1234")
    message = str(info.value)
    assert "'-1234'" in message and "basic group" in message and "-100<id>" in message


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="MTPROTO_STATS_PERIOD_DAYS"):
        load_settings({"MTPROTO_STATS_PERIOD_DAYS": "soon"})
    with pytest.raises(ConfigError, match="MTPROTO_ENABLED"):
        load_settings({"MTPROTO_ENABLED": "maybe"})
    with pytest.raises(ConfigError, match="TGSTATS_START_DATE"):
        load_settings({"TGSTATS_START_DATE": "01/01/2026"})


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings({"TG_API_HASH": "hash-value-123", "TG_SESSION": "1Aabc-session"})
    assert "hash-value-123" not in repr(settings)
    assert "1Aabc-session" not in repr(settings)


def test_missing_credentials_are_listed_unless_replay(tmp_path) -> None:
    assert load_settings({}).missing_credentials() == ["TG_API_ID", "TG_API_HASH", "TG_SESSION"]
    replay = load_settings({"TGSTATS_TELEGRAM_REPLAY": str(tmp_path)})
    assert replay.missing_credentials() == []
