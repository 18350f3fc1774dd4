"""The attributes as Settings and definitions, without a database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from tgstats_dagster.component import TgstatsComponent
from tgstats_dagster.settings import ConfigError
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR


def test_attributes_become_settings(tmp_path: Path) -> None:
    component = TgstatsComponent.from_attributes_dict(
        attributes={
            "peers": ["@Some_Channel", "t.me/other_group", -1001234567890, "some_channel"],
            "schedule": {"period_days": 7},
            "database": {"home": "data/pg"},
            "telegram": {"enabled": True, "replay_dir": str(DEMO_SCENARIO_DIR)},
            "start_date": "2026-03-01",
            "concurrency": 5,
        }
    )
    settings = component.settings(tmp_path)
    assert settings.peers == ("some_channel", "other_group", "-1001234567890")
    assert settings.mtproto_enabled and settings.stats_enabled
    assert (settings.period_days, settings.concurrency) == (7, 5)
    assert settings.start_date == date(2026, 3, 1)
    assert settings.home == tmp_path / "data" / "pg"
    assert settings.replay_dir == DEMO_SCENARIO_DIR
    assert settings.database_url is None


def test_the_schedule_ticks_on_the_configured_cron() -> None:
    component = TgstatsComponent.from_attributes_dict(
        attributes={"schedule": {"cron": "0 5 * * *"}}
    )
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    schedule = defs.resolve_schedule_def("daily_stats_refresh")
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.execution_timezone == "UTC"
    # Its evaluation is the project's: off, it skips and says why.
    with dg.build_schedule_context() as context:
        tick = schedule.evaluate_tick(context)
    assert "MTPROTO_ENABLED" in (tick.skip_message or "")


def test_a_secret_must_come_from_the_variable_the_runs_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TG_API_HASH", raising=False)
    component = TgstatsComponent.from_attributes_dict(
        attributes={"telegram": {"enabled": True, "api_hash": "0123456789abcdef"}}
    )
    with pytest.raises(ConfigError, match=r"telegram\.api_hash: .* TG_API_HASH") as raised:
        component.settings(tmp_path)
    assert "0123456789abcdef" not in str(raised.value)
    monkeypatch.setenv("TG_API_HASH", "0123456789abcdef")
    assert component.settings(tmp_path).api_hash == "0123456789abcdef"


def test_a_missing_scenario_folder_is_named(tmp_path: Path) -> None:
    component = TgstatsComponent.from_attributes_dict(
        attributes={"telegram": {"replay_dir": "no_such_folder"}}
    )
    with pytest.raises(ConfigError, match=r"telegram\.replay_dir: .*no_such_folder"):
        component.settings(tmp_path)
