"""A scenario folder read into plain values (the format: docs/scenario-format.md).

```
<scenario>/
  scenario.json          optional: {"home_dc": 2, "faults": [...], "latency": 0.0,
                                    "end": "yesterday"}
  <peer key>/
    peer.json            {"id", "title", "username", "broadcast", "megagroup",
                          "can_view_stats", "stats_dc", "participants_count"} (+ "access_hash")
    stats.json           scalar fields by their TL names
    graphs/<field>.json  the DataJSON payload, byte for byte
    graphs/<field>.error the text of a StatsGraphError
```
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_HOME_DC = 2
#: The error that makes the offline Telegram drop the connection instead of answering.
CONNECTION_DROPPED = "CONNECTION_DROPPED"
#: scenario.json ``end``: serve the daily dates moved so that the window ends yesterday.
END_YESTERDAY = "yesterday"


class ScenarioError(ValueError):
    """A scenario folder is not in the expected format; the message names the file."""


def derived_access_hash(channel_id: int) -> int:
    """A stable, signed 64-bit access hash for a channel id without one in peer.json."""
    digest = hashlib.sha256(f"tgstats-replay:{channel_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little", signed=True) or 1


@dataclass(frozen=True)
class Fault:
    """The next ``times`` requests matching (request, peer, dc) fail with ``error``."""

    request: str
    error: str
    times: int = 1
    peer: str | None = None
    dc: int | None = None
    code: int | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Fault:
        try:
            return cls(
                request=str(raw["request"]),
                error=str(raw["error"]),
                times=int(raw.get("times", 1)),
                peer=None if raw.get("peer") is None else str(raw["peer"]).lower(),
                dc=None if raw.get("dc") is None else int(raw["dc"]),
                code=None if raw.get("code") is None else int(raw["code"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"scenario.json: bad fault {raw!r}: {exc}") from None


@dataclass(frozen=True)
class ScenarioPeer:
    key: str
    channel_id: int
    access_hash: int
    title: str
    username: str | None
    broadcast: bool
    megagroup: bool
    can_view_stats: bool
    stats_dc: int | None
    participants_count: int | None
    stats: dict[str, Any] = field(repr=False)
    graphs: dict[str, str] = field(repr=False)  # field -> DataJSON text, exactly
    graph_errors: dict[str, str] = field(repr=False)  # field -> StatsGraphError text


@dataclass(frozen=True)
class Scenario:
    root: Path
    home_dc: int
    peers: tuple[ScenarioPeer, ...]
    faults: tuple[Fault, ...]
    latency: float = 0.0
    end: str | None = None  # "yesterday": dates served move (replay/window.py)

    def by_username(self, username: str) -> ScenarioPeer | None:
        wanted = username.lower()
        return next(
            (p for p in self.peers if (p.username or p.key).lower() == wanted or p.key == wanted),
            None,
        )

    def by_id(self, channel_id: int) -> ScenarioPeer | None:
        return next((p for p in self.peers if p.channel_id == channel_id), None)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _load_peer(folder: Path) -> ScenarioPeer:
    raw = _json(folder / "peer.json")
    if not isinstance(raw, dict) or "id" not in raw:
        raise ScenarioError(f"{folder / 'peer.json'}: expected an object with an id")
    stats_path = folder / "stats.json"
    stats = _json(stats_path) if stats_path.is_file() else {}
    graphs: dict[str, str] = {}
    graph_errors: dict[str, str] = {}
    graph_dir = folder / "graphs"
    if graph_dir.is_dir():
        for path in sorted(graph_dir.iterdir()):
            # Bytes, decoded without newline translation: the payload stays byte for byte.
            if path.suffix == ".json":
                graphs[path.stem] = path.read_bytes().decode("utf-8")
            elif path.suffix == ".error":
                graph_errors[path.stem] = path.read_bytes().decode("utf-8").strip()
    channel_id = int(raw["id"])
    stats_dc = raw.get("stats_dc")
    count = raw.get("participants_count")
    return ScenarioPeer(
        key=folder.name.lower(),
        channel_id=channel_id,
        access_hash=int(raw.get("access_hash") or derived_access_hash(channel_id)),
        title=str(raw.get("title") or folder.name),
        username=raw.get("username") or None,
        broadcast=bool(raw.get("broadcast", False)),
        megagroup=bool(raw.get("megagroup", False)),
        can_view_stats=bool(raw.get("can_view_stats", False)),
        stats_dc=None if stats_dc is None else int(stats_dc),
        participants_count=None if count is None else int(count),
        stats=stats,
        graphs=graphs,
        graph_errors=graph_errors,
    )


def load_scenario(root: Path) -> Scenario:
    """Read a scenario folder; every subfolder with a peer.json is a peer."""
    root = Path(root)
    if not root.is_dir():
        raise ScenarioError(f"{root} is not a scenario folder")
    settings_path = root / "scenario.json"
    settings = _json(settings_path) if settings_path.is_file() else {}
    end = settings.get("end")
    if end not in (None, END_YESTERDAY):
        raise ScenarioError(f"{settings_path}: 'end' must be {END_YESTERDAY!r}, not {end!r}")
    peers = tuple(
        _load_peer(folder)
        for folder in sorted(root.iterdir())
        if folder.is_dir() and (folder / "peer.json").is_file()
    )
    return Scenario(
        root=root,
        home_dc=int(settings.get("home_dc", DEFAULT_HOME_DC)),
        peers=peers,
        faults=tuple(Fault.from_json(f) for f in settings.get("faults", [])),
        latency=float(settings.get("latency", 0.0)),
        end=end,
    )
