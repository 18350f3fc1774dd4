"""``TgstatsComponent``: the whole project as a Dagster Component, configured in YAML.

Another Dagster project adds it under ``defs/`` with a ``defs.yaml``::

    type: tgstats_dagster.component.TgstatsComponent
    attributes:
      peers: ["@my_channel"]
      telegram:
        enabled: true
        api_id: "{{ env.TG_API_ID }}"
        api_hash: "{{ env.TG_API_HASH }}"
        session: "{{ env.TG_SESSION }}"

The attributes become a :class:`~tgstats_dagster.settings.Settings` and the component
returns :func:`~tgstats_dagster.definitions.build_definitions` of it: the same assets, checks,
jobs, schedule, sensors and resources as the project's own code location. The package's
``dagster_dg_cli.registry_modules`` entry point names this module, so ``dg list components``
shows the component. See docs/component.md.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import dagster as dg
from pydantic import Field, field_validator

from tgstats_dagster.settings import ConfigError, Settings, normalize_peer
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR

#: The variables the definitions read secrets from at run time, as Dagster EnvVars (the UI
#: shows the variable, never the value): an attribute that holds a secret must come from
#: the same variable, or the runs would use another value than the one configured.
SECRET_VARIABLES = {
    "telegram.api_id": "TG_API_ID",
    "telegram.api_hash": "TG_API_HASH",
    "telegram.session": "TG_SESSION",
    "database.url": "TGSTATS_DATABASE_URL",
}


def _described(description: str) -> dg.Resolver:
    """The default resolution (templates rendered), with the attribute's description: the
    component's schema (``dg utils inspect-component``, the UI) shows only these."""
    return dg.Resolver.default(description=description)


def _resolve_day(context: dg.ResolutionContext, value: date | str) -> date:
    """A YAML day: unquoted it is a date already, quoted or templated it is text."""
    resolved = context.resolve_value(value)
    if isinstance(resolved, date):
        return resolved
    try:
        return date.fromisoformat(str(resolved))
    except ValueError:
        raise ConfigError(f"start_date: expected a day as YYYY-MM-DD, got {resolved!r}") from None


class TgstatsSchedule(dg.Resolvable, dg.Model):
    """When the daily refresh runs, and how many recent days it re-writes."""

    cron: Annotated[
        str, _described("When the daily refresh schedule (daily_stats_refresh) ticks, in UTC.")
    ] = "30 3 * * *"
    period_days: Annotated[
        int,
        _described(
            "How many of the last complete days each refresh re-writes (Telegram revises "
            "recent days), 1..366."
        ),
    ] = Field(default=30, ge=1, le=366)


class TgstatsDatabase(dg.Resolvable, dg.Model):
    """The PostgreSQL warehouse."""

    url: Annotated[
        str | None,
        _described(
            'A PostgreSQL URL, given as "{{ env.TGSTATS_DATABASE_URL }}" (the runs read that '
            "variable). Unset: an embedded PostgreSQL under `home`."
        ),
    ] = None
    home: Annotated[
        str,
        _described("The folder of the embedded PostgreSQL, relative to the project root."),
    ] = ".tgstats"


class TgstatsTelegram(dg.Resolvable, dg.Model):
    """Telegram: off, live (credentials from the environment) or the offline Telegram."""

    enabled: Annotated[
        bool,
        _described(
            "Turns the loader on (MTPROTO_ENABLED and MTPROTO_STATS_ENABLED). Off, the peer "
            "sensor and the schedule skip with a reason."
        ),
    ] = False
    replay_dir: Annotated[
        str | None,
        _described(
            "A scenario folder served by the offline Telegram instead of live Telegram, "
            'relative to the project root; "{{ tgstats_demo_scenario }}" is the bundled demo.'
        ),
    ] = None
    api_id: Annotated[
        int | None,
        _described('Live Telegram: "{{ env.TG_API_ID }}", the api_id from my.telegram.org.'),
    ] = None
    api_hash: Annotated[
        str | None, _described('Live Telegram: "{{ env.TG_API_HASH }}" (secret).')
    ] = None
    session: Annotated[
        str | None,
        _described(
            'Live Telegram: "{{ env.TG_SESSION }}", the StringSession that `tgstats login` '
            "prints (secret)."
        ),
    ] = None


class TgstatsComponent(dg.Component, dg.Resolvable, dg.Model):
    """Telegram channel and supergroup statistics (MTProto, through Telethon) loaded into
    PostgreSQL: peer entities, raw stats snapshots and the daily series by peer x day, with
    their checks, jobs, the daily refresh schedule and the peer sensors."""

    peers: Annotated[
        list[str | int],
        _described(
            "The channels and supergroups to load: usernames (with or without @, or t.me/ "
            "links) or numeric ids. The peer sensor adds them as partitions."
        ),
    ] = Field(default_factory=list)
    schedule: Annotated[
        TgstatsSchedule, _described("The daily refresh: `cron` and `period_days`.")
    ] = Field(default_factory=TgstatsSchedule)
    database: Annotated[
        TgstatsDatabase, _described("The PostgreSQL warehouse: `url` or `home`.")
    ] = Field(default_factory=TgstatsDatabase)
    telegram: Annotated[
        TgstatsTelegram,
        _described("Telegram: `enabled`, then `replay_dir` or the live credentials."),
    ] = Field(default_factory=TgstatsTelegram)
    start_date: Annotated[
        date,
        dg.Resolver(
            _resolve_day,
            model_field_type=date,
            description="The first day of the stats partitions (YYYY-MM-DD). Keep it fixed: a "
            "later start drops partitions.",
        ),
    ] = date(2026, 1, 1)
    concurrency: Annotated[
        int, _described("How many peers a run fetches from Telegram at once, 1..64.")
    ] = Field(default=3, ge=1, le=64)

    @field_validator("peers")
    @classmethod
    def _valid_peers(cls, entries: list[str | int]) -> list[str]:
        """Each entry as its partition key (``@Name`` -> ``name``), in order, without repeats;
        a bad entry is a ConfigError naming it."""
        return list(dict.fromkeys(normalize_peer(str(entry), "peers") for entry in entries))

    @staticmethod
    @dg.template_var
    def tgstats_demo_scenario() -> str:
        """The bundled demo scenario of the offline Telegram, wherever the package is."""
        return str(DEMO_SCENARIO_DIR)

    def settings(self, project_root: Path) -> Settings:
        """The attributes as Settings; relative paths are taken from ``project_root``."""
        check_secret_sources(
            {
                "telegram.api_id": self.telegram.api_id,
                "telegram.api_hash": self.telegram.api_hash,
                "telegram.session": self.telegram.session,
                "database.url": self.database.url,
            }
        )
        replay_dir = None
        if self.telegram.replay_dir:
            replay_dir = project_root / Path(self.telegram.replay_dir).expanduser()
            if not replay_dir.is_dir():
                raise ConfigError(f"telegram.replay_dir: {replay_dir} is not a scenario folder")
        return Settings(
            mtproto_enabled=self.telegram.enabled,
            stats_enabled=self.telegram.enabled,
            peers=tuple(str(peer) for peer in self.peers),
            period_days=self.schedule.period_days,
            concurrency=self.concurrency,
            api_id=self.telegram.api_id,
            api_hash=self.telegram.api_hash,
            session=self.telegram.session,
            replay_dir=replay_dir,
            database_url=self.database.url,
            home=project_root / Path(self.database.home).expanduser(),
            start_date=self.start_date,
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from tgstats_dagster.definitions import build_definitions

        try:
            return build_definitions(
                self.settings(context.project_root), refresh_cron=self.schedule.cron
            )
        except dg.DagsterInvalidDefinitionError as exc:
            raise ConfigError(f"schedule.cron: {self.schedule.cron!r}: {exc}") from None


def check_secret_sources(values: dict[str, str | int | None]) -> None:
    """Raise ConfigError for a secret attribute that does not come from its variable.

    The definitions hand secrets to the resources as EnvVars of the project's variables
    (:data:`SECRET_VARIABLES`), read again by every run; a value from elsewhere would be
    ignored at run time. The message names the attribute and the variable, never the value.
    """
    for attribute, value in values.items():
        variable = SECRET_VARIABLES[attribute]
        if value is not None and str(value) != os.environ.get(variable, "").strip():
            raise ConfigError(
                f"{attribute}: the runs read it from the environment variable {variable} (a "
                "Dagster EnvVar: the UI shows the variable, never its value); write "
                f'"{{{{ env.{variable} }}}}" and set {variable}'
            )
