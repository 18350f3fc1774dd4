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
    graphs/<field>.zoom/<YYYY-MM-DD>.json   the zoomed graph of that day
    posts/posts.json     the channel's posts; posts/<id>/<field>.json|.error, public_forwards.json
    stories/stories.json the channel's stories; stories/<id>/... as for posts
    revenue/<stars|ton>.json, revenue/<stars|ton>/<field>.json
```
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_HOME_DC = 2
#: The error that makes the offline Telegram drop the connection instead of answering.
CONNECTION_DROPPED = "CONNECTION_DROPPED"
#: The error that makes the offline Telegram never answer the request (it stays in flight
#: until the client gives up on it or disconnects).
NO_ANSWER = "NO_ANSWER"
#: scenario.json ``end``: serve the daily dates moved so that the window ends yesterday.
END_YESTERDAY = "yesterday"
#: revenue/<currency>.json: ``payments.getStarsRevenueStats`` with ``ton`` false / true.
CURRENCIES = ("stars", "ton")
#: posts/<id>/public_forwards.json (and stories/<id>/...): not a graph.
FORWARDS_FILE = "public_forwards.json"


class ScenarioError(ValueError):
    """A scenario folder is not in the expected format; the message names the file."""


def derived_access_hash(channel_id: int) -> int:
    """A stable, signed 64-bit access hash for a channel id without one in peer.json."""
    digest = hashlib.sha256(f"tgstats-replay:{channel_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little", signed=True) or 1


@dataclass(frozen=True)
class Fault:
    """The next ``times`` requests matching (request, peer, dc) fail with ``error``, once
    ``after`` of them were answered."""

    request: str
    error: str
    times: int = 1
    peer: str | None = None
    dc: int | None = None
    code: int | None = None
    after: int = 0

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
                after=int(raw.get("after", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"scenario.json: bad fault {raw!r}: {exc}") from None


@dataclass(frozen=True)
class ScenarioForward:
    """One public forward (public_forwards.json): a channel's message, or a story reposting."""

    kind: str  # "message" or "story"
    channel_id: int
    title: str
    username: str | None
    message_id: int  # the forwarding message's id (or the reposting story's)
    date: datetime
    views: int | None


@dataclass(frozen=True)
class ScenarioPost:
    """A post (posts.json) or story (stories.json) with its own graphs and public forwards."""

    id: int
    date: datetime
    text: str | None  # the message's text, or the story's caption
    views: int | None
    forwards: int | None
    replies: int | None
    reactions: dict[str, int]
    graphs: dict[str, str] = field(repr=False)
    graph_errors: dict[str, str] = field(repr=False)
    public_forwards: tuple[ScenarioForward, ...] = field(repr=False)


@dataclass(frozen=True)
class ScenarioRevenue:
    """revenue/<currency>.json and its graphs; amounts as written (Stars may be fractional,
    TON in nanotons)."""

    status: dict[str, Any]
    usd_rate: float
    graphs: dict[str, str] = field(repr=False)
    graph_errors: dict[str, str] = field(repr=False)


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
    #: field -> day -> the zoomed graph's DataJSON text (graphs/<field>.zoom/<day>.json)
    zooms: dict[str, dict[date, str]] = field(default_factory=dict, repr=False)
    posts: tuple[ScenarioPost, ...] = field(default=(), repr=False)  # newest last
    stories: tuple[ScenarioPost, ...] = field(default=(), repr=False)
    revenue: dict[str, ScenarioRevenue] = field(default_factory=dict, repr=False)

    def post(self, post_id: int) -> ScenarioPost | None:
        return next((p for p in self.posts if p.id == post_id), None)

    def story(self, story_id: int) -> ScenarioPost | None:
        return next((p for p in self.stories if p.id == story_id), None)


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


def _graph_files(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``<field>.json`` payloads (byte for byte) and ``<field>.error`` texts of a folder."""
    graphs: dict[str, str] = {}
    errors: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            # Bytes, decoded without newline translation: the payload stays byte for byte.
            if path.suffix == ".json":
                graphs[path.stem] = path.read_bytes().decode("utf-8")
            elif path.suffix == ".error":
                errors[path.stem] = path.read_bytes().decode("utf-8").strip()
    return graphs, errors


def _zooms(graph_dir: Path) -> dict[str, dict[date, str]]:
    """graphs/<field>.zoom/<YYYY-MM-DD>.json, by field and day."""
    out: dict[str, dict[date, str]] = {}
    if not graph_dir.is_dir():
        return out
    for folder in sorted(graph_dir.glob("*.zoom")):
        if not folder.is_dir():
            continue
        days: dict[date, str] = {}
        for path in sorted(folder.glob("*.json")):
            try:
                day = date.fromisoformat(path.stem)
            except ValueError:
                raise ScenarioError(f"{path}: the file name must be a day, YYYY-MM-DD") from None
            days[day] = path.read_bytes().decode("utf-8")
        out[folder.name.removesuffix(".zoom")] = days
    return out


def _moment(value: Any, where: Path) -> datetime:
    """An ISO 8601 date-time (UTC when it names no zone) or unix seconds."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        raise ScenarioError(f"{where}: bad date {value!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _optional_int(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    return None if value is None else int(value)


def _forwards(path: Path) -> tuple[ScenarioForward, ...]:
    if not path.is_file():
        return ()
    raw = _json(path)
    if not isinstance(raw, list):
        raise ScenarioError(f"{path}: expected a list of forwards")
    try:
        return tuple(
            ScenarioForward(
                kind=str(item.get("kind", "message")),
                channel_id=int(item["channel_id"]),
                title=str(item.get("title") or item["channel_id"]),
                username=item.get("username") or None,
                message_id=int(item.get("message_id", item.get("story_id", 0))),
                date=_moment(item["date"], path),
                views=_optional_int(item, "views"),
            )
            for item in raw
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScenarioError(f"{path}: bad forward: {exc}") from None


def _posts(folder: Path, listing: str, text_key: str) -> tuple[ScenarioPost, ...]:
    """posts/posts.json (or stories/stories.json) with each post's folder of graphs."""
    path = folder / listing
    if not path.is_file():
        return ()
    raw = _json(path)
    if not isinstance(raw, list):
        raise ScenarioError(f"{path}: expected a list")
    out = []
    for item in raw:
        try:
            post_id = int(item["id"])
            reactions = {str(k): int(v) for k, v in (item.get("reactions") or {}).items()}
            graphs, graph_errors = _graph_files(folder / str(post_id))
            graphs.pop(FORWARDS_FILE.removesuffix(".json"), None)
            out.append(
                ScenarioPost(
                    id=post_id,
                    date=_moment(item["date"], path),
                    text=item.get(text_key),
                    views=_optional_int(item, "views"),
                    forwards=_optional_int(item, "forwards"),
                    replies=_optional_int(item, "replies"),
                    reactions=reactions,
                    graphs=graphs,
                    graph_errors=graph_errors,
                    public_forwards=_forwards(folder / str(post_id) / FORWARDS_FILE),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ScenarioError(f"{path}: bad entry {item!r}: {exc}") from None
    return tuple(out)


def _revenue(folder: Path) -> dict[str, ScenarioRevenue]:
    out: dict[str, ScenarioRevenue] = {}
    for currency in CURRENCIES:
        path = folder / f"{currency}.json"
        if not path.is_file():
            continue
        raw = _json(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("status"), dict):
            raise ScenarioError(f"{path}: expected an object with a status")
        graphs, graph_errors = _graph_files(folder / currency)
        try:
            usd_rate = float(raw.get("usd_rate", 0))
        except (TypeError, ValueError):
            raise ScenarioError(f"{path}: bad usd_rate {raw.get('usd_rate')!r}") from None
        out[currency] = ScenarioRevenue(raw["status"], usd_rate, graphs, graph_errors)
    return out


def _load_peer(folder: Path) -> ScenarioPeer:
    raw = _json(folder / "peer.json")
    if not isinstance(raw, dict) or "id" not in raw:
        raise ScenarioError(f"{folder / 'peer.json'}: expected an object with an id")
    stats_path = folder / "stats.json"
    stats = _json(stats_path) if stats_path.is_file() else {}
    graphs, graph_errors = _graph_files(folder / "graphs")
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
        zooms=_zooms(folder / "graphs"),
        posts=_posts(folder / "posts", "posts.json", "message"),
        stories=_posts(folder / "stories", "stories.json", "caption"),
        revenue=_revenue(folder / "revenue"),
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
