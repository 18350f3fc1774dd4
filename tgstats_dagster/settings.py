"""The environment, read and validated once into typed settings.

Every variable of the project is read here and nowhere else, so that a bad value is
reported at start, naming the variable, and not deep inside a run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

# Telegram usernames: 4..32 characters, a letter first, then letters, digits and underscores.
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
# Numeric ids: a bare channel id, or the Bot API form -100<id>.
_NUMERIC_ID = re.compile(r"-?[0-9]{1,20}")
#: A channel's id as a peer entry: Bot API style (-100 and the id) or bare.
_CHANNEL_ENTRY = re.compile(r"(?:-100)?([0-9]{1,20})")
_LINK_PREFIXES = ("https://t.me/", "http://t.me/", "t.me/")


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


#: Default of TGSTATS_POST_SETTLE_DAYS. A channel post gets most of its views, forwards and
#: reactions in its first days (it leaves the top of its readers' feeds); after a week its
#: statistics change little, so a week of daily re-fetches keeps the figures Telegram's
#: apps show while a post is read, and a post older than that costs no request again.
POST_SETTLE_DAYS = 7


@dataclass(frozen=True)
class Settings:
    """What the environment says, typed. Secrets are kept out of ``repr``."""

    mtproto_enabled: bool = False
    stats_enabled: bool = False
    peers: tuple[str, ...] = ()
    period_days: int = 30
    concurrency: int = 3
    api_id: int | None = None
    api_hash: str | None = field(default=None, repr=False)
    session: str | None = field(default=None, repr=False)
    replay_dir: Path | None = None
    replay_log: Path | None = None
    database_url: str | None = field(default=None, repr=False)
    home: Path = Path(".tgstats")
    start_date: date = date(2026, 1, 1)
    snapshot_max_age: timedelta = timedelta(hours=6)
    flood_sleep_threshold: int = 60
    #: A post's statistics are fetched again while it is younger than this (its views and
    #: forwards still grow), then once more and never after (see POST_SETTLE_DAYS).
    post_settle_after: timedelta = timedelta(days=7)

    @property
    def disabled_reason(self) -> str | None:
        """Why MTProto stats work is off, or None when it is on."""
        off = [
            name
            for name, on in (
                ("MTPROTO_ENABLED", self.mtproto_enabled),
                ("MTPROTO_STATS_ENABLED", self.stats_enabled),
            )
            if not on
        ]
        if not off:
            return None
        return (
            f"{' and '.join(off)} {'is' if len(off) == 1 else 'are'} off: "
            "the Telegram stats loader does nothing until both MTPROTO_ENABLED and "
            "MTPROTO_STATS_ENABLED are true"
        )

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    @property
    def uses_replay(self) -> bool:
        return self.replay_dir is not None

    @property
    def reports_dir(self) -> Path:
        """Where the channel reports go by default: ``TGSTATS_HOME/reports``."""
        return self.home.expanduser() / "reports"

    def missing_credentials(self) -> list[str]:
        """The live-Telegram variables that are not set (empty when replay is used)."""
        if self.uses_replay:
            return []
        wanted = {
            "TG_API_ID": self.api_id,
            "TG_API_HASH": self.api_hash,
            "TG_SESSION": self.session,
        }
        return [name for name, value in wanted.items() if not value]


def normalize_peer(entry: str, source: str = "MTPROTO_STATS_PEERS") -> str:
    """One configured peer -> its partition key: ``@Name`` and ``t.me/Name`` give ``name``.

    Raises ConfigError naming the entry when it is neither a username nor a numeric id,
    so that a key Dagster would accept but later choke on (``|``, ``,``, ``[``, ``]``,
    spaces, empty) never becomes a partition.
    """
    text = entry.strip()
    for prefix in _LINK_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.removeprefix("@")
    if _NUMERIC_ID.fullmatch(text):
        if channel_id_of_entry(text) is None:
            raise ConfigError(
                f"{source}: {entry!r} is the id of a basic group (negative, without -100): "
                "only channels and supergroups have statistics; give a channel's id as "
                "-100<id> or <id>, or its username"
            )
        return text
    if _USERNAME.fullmatch(text):
        return text.lower()
    raise ConfigError(
        f"{source}: {entry!r} is not a Telegram username (5-32 letters, digits or _, "
        "starting with a letter, with or without @) nor a numeric id"
    )


def channel_id_of_entry(entry: str) -> int | None:
    """The channel id a numeric peer entry names (``-100123`` and ``123`` give 123), or None
    (a username, or a basic group's ``-123``). The one reading of numeric entries, for the
    Telegram side and the warehouse alike."""
    match = _CHANNEL_ENTRY.fullmatch(entry.strip())
    return int(match.group(1)) if match else None


def parse_peers(raw: str, source: str = "MTPROTO_STATS_PEERS") -> tuple[str, ...]:
    """``["@a", "b"]`` or ``@a, b`` -> ``("a", "b")``, in order, without repeats.

    ``source`` (the variable or option the text came from) is named in errors.
    """
    text = raw.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not a valid JSON list: {exc}") from None
        if not isinstance(entries, list) or not all(isinstance(e, str | int) for e in entries):
            raise ConfigError(f"{source}: a JSON value must be a list of strings")
        entries = [str(e) for e in entries]
    else:
        entries = text.split(",")
    return tuple(dict.fromkeys(normalize_peer(e, source) for e in entries))


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int = 10**6
) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigError(f"{name}: must be between {minimum} and {maximum}, got {number}")
    return number


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value).expanduser() if value else None


def _date(env: Mapping[str, str], name: str, default: date) -> date:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a day as YYYY-MM-DD, got {value!r}") from None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the environment (``os.environ`` by default) into Settings, or raise ConfigError."""
    env = os.environ if env is None else env
    api_id_text = env.get("TG_API_ID", "").strip()
    if api_id_text and not api_id_text.isdigit():
        raise ConfigError("TG_API_ID: expected the numeric api_id from my.telegram.org")
    replay_dir = _path(env, "TGSTATS_TELEGRAM_REPLAY")
    if replay_dir is not None and not replay_dir.is_dir():
        raise ConfigError(f"TGSTATS_TELEGRAM_REPLAY: {replay_dir} is not a scenario folder")
    return Settings(
        mtproto_enabled=_flag(env, "MTPROTO_ENABLED"),
        stats_enabled=_flag(env, "MTPROTO_STATS_ENABLED"),
        peers=parse_peers(env.get("MTPROTO_STATS_PEERS", "")),
        period_days=_int(env, "MTPROTO_STATS_PERIOD_DAYS", 30, maximum=366),
        concurrency=_int(env, "MTPROTO_STATS_CONCURRENCY", 3, maximum=64),
        api_id=int(api_id_text) if api_id_text else None,
        api_hash=env.get("TG_API_HASH", "").strip() or None,
        session=env.get("TG_SESSION", "").strip() or None,
        replay_dir=replay_dir,
        replay_log=_path(env, "TGSTATS_REPLAY_LOG"),
        database_url=env.get("TGSTATS_DATABASE_URL", "").strip() or None,
        home=_path(env, "TGSTATS_HOME") or Path(".tgstats"),
        start_date=_date(env, "TGSTATS_START_DATE", date(2026, 1, 1)),
        snapshot_max_age=timedelta(
            hours=_int(env, "TGSTATS_SNAPSHOT_MAX_AGE_HOURS", 6, minimum=0, maximum=24 * 366)
        ),
        flood_sleep_threshold=_int(
            env, "MTPROTO_FLOOD_SLEEP_THRESHOLD", 60, minimum=0, maximum=24 * 3600
        ),
        post_settle_after=timedelta(
            days=_int(env, "TGSTATS_POST_SETTLE_DAYS", POST_SETTLE_DAYS, minimum=0, maximum=366)
        ),
    )
