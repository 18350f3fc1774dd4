"""`tgstats backfill` of a channel with posts, stories, zooms and revenue, end to end: every
content table equals what the scenario's files say.

The expected values are read here from the scenario folder with ``json`` alone (not with the
project's scenario loader, graph parser or metric namer), by the rules users read in
docs/scenario-format.md and DESIGN's "Metric names". The scenario is the demo's peers
(scripts/synthetic.py at a fixed end day: a channel on stats DC 4 with 30 posts, 3 stories,
hourly zooms of followers_graph and Stars and TON revenue; a supergroup with zooms of
members_graph; a channel without stats rights), and one post of the asked days given more
than 100 public forwards (two pages of them).

A second identical backfill asks Telegram nothing of the content and rewrites no row (each
content table's rows and their ``xmin`` are the same before and after).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from scripts.synthetic import DEMO_PEERS, write_scenario
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP, NO_RIGHTS

pytestmark = pytest.mark.storage

FIRST_DAY = END_DAY - timedelta(days=26)  # 27 days: 2026-10-20 .. 2026-11-15
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(27)]
#: Forwards added to one post of the asked days: more than a page of 100.
EXTRA_FORWARDS = 140
CONTENT_TABLES = (
    "channel_hourly",
    "posts",
    "post_stats",
    "post_timeline",
    "post_forwards",
    "revenue_status",
    "content_raw",
)
#: Requests of the content (beyond a snapshot's own stats and graphs loads).
CONTENT_REQUESTS = {
    "GetHistoryRequest",
    "GetStoriesArchiveRequest",
    "GetMessageStatsRequest",
    "GetStoryStatsRequest",
    "GetMessagePublicForwardsRequest",
    "GetStoryPublicForwardsRequest",
    "GetStarsRevenueStatsRequest",
    "LoadAsyncGraphRequest",
}
STATS_REQUESTS = {"GetBroadcastStatsRequest", "GetMegagroupStatsRequest"}
UTC = timezone.utc
#: TGSTATS_POST_SETTLE_DAYS's default: a post's statistics fetched when it is this old are
#: settled.
SETTLE = timedelta(days=7)


# -- the scenario ----------------------------------------------------------------------------


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_content_scenario(tmp_path / "scenario")


def write_content_scenario(out: Path) -> Path:
    """The demo peers over 90 days to END_DAY, with add_bulk_forwards; in each run, the
    channel's first message statistics request and first forwards request meet a flood
    wait of a second (slept, asked again: nothing lost)."""
    faults = [
        {"request": "GetMessageStatsRequest", "peer": CHANNEL, "error": "FLOOD_WAIT_1"},
        {"request": "GetMessagePublicForwardsRequest", "peer": CHANNEL, "error": "FLOOD_WAIT_1"},
    ]
    write_scenario(out, peers=DEMO_PEERS, end_day=END_DAY, days=90, faults=faults)
    add_bulk_forwards(out)
    return out


def add_bulk_forwards(root: Path) -> None:
    """The channel's newest post with public forwards gets EXTRA_FORWARDS more (from
    channels of their own), newest first as Telegram lists them."""
    posts_dir = root / CHANNEL / "posts"
    with_forwards = [
        entry
        for entry in read_json(posts_dir / "posts.json")
        if (posts_dir / str(entry["id"]) / "public_forwards.json").exists()
    ]
    post = with_forwards[-1]
    path = posts_dir / str(post["id"]) / "public_forwards.json"
    published = moment(post["date"])
    extra = [
        {
            "kind": "message",
            "channel_id": 2_000_300_000 + i,
            "title": f"Bulk forwarder {i} ✓",
            "username": f"bulk_{i}" if i % 3 else None,
            "message_id": 700 + i,
            "date": (published + timedelta(minutes=10 + i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "views": None if i % 4 == 0 else 5 * i,
        }
        for i in range(EXTRA_FORWARDS)
    ]
    forwards = sorted([*read_json(path), *extra], key=lambda f: f["date"], reverse=True)
    path.write_text(json.dumps(forwards, ensure_ascii=False), encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def moment(value: str) -> datetime:
    """An ISO 8601 UTC time of the scenario files (``Z`` or an offset)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def from_ms(x: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=x)


def number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# -- the metric names (DESIGN.md, "Metric names") --------------------------------------------

_PUNCTUATION = re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_RUN = re.compile(rf"[\s\x00-\x1f\x7f-\x9f{_PUNCTUATION}]+")


def series_key(name: str) -> str:
    key = _RUN.sub("_", name.lower()).strip("_")
    if len(key) > 120:
        key = key[:111] + "~" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return key


def graph_points(field: str, doc: dict[str, Any], prefix: str | None = None) -> dict:
    """(datetime of x, metric) -> value of every point of a chart JSON document."""
    columns = {column[0]: column[1:] for column in doc["columns"]}
    xs = columns.pop("x")
    names = doc.get("names", {})
    keys = {cid: series_key(str(names.get(cid, ""))) for cid in columns}
    counts = Counter(keys.values())
    base = prefix or field.removesuffix("_graph")
    out = {}
    for cid, values in columns.items():
        key = keys[cid] if keys[cid] and counts[keys[cid]] == 1 else cid
        for x, value in zip(xs, values, strict=True):
            out[from_ms(x), f"{base}.{key}"] = number(value)
    return out


# -- what the files say ---------------------------------------------------------------------


class Expected:
    """The content tables' rows as a scenario's files give them, for the days asked."""

    def __init__(self, root: Path, days: list[date]) -> None:
        self.root = root
        self.days = set(days)
        self.peers = {
            p.name: read_json(p / "peer.json") for p in root.iterdir() if (p / "peer.json").exists()
        }

    def channel_id(self, key: str) -> int:
        return int(self.peers[key]["id"])

    def published(self, key: str) -> list[tuple[str, dict, Path]]:
        """(kind, entry, folder) of every post and story published on the asked days."""
        out = []
        for kind, folder, listing in (
            ("message", "posts", "posts.json"),
            ("story", "stories", "stories.json"),
        ):
            path = self.root / key / folder / listing
            if not path.exists():
                continue
            for entry in read_json(path):
                if moment(entry["date"]).date() in self.days:
                    out.append((kind, entry, self.root / key / folder / str(entry["id"])))
        return out

    def posts(self, key: str) -> dict:
        out = {}
        for kind, entry, _ in self.published(key):
            reactions = entry.get("reactions") or {}
            out[kind, int(entry["id"])] = (
                moment(entry["date"]),
                entry.get("views"),
                entry.get("forwards"),
                entry.get("replies") if kind == "message" else None,
                sum(reactions.values()) if reactions else None,
                entry.get("message", "") if kind == "message" else entry.get("caption"),
            )
        return out

    def timeline(self, key: str) -> dict:
        out = {}
        for kind, entry, folder in self.published(key):
            for field in ("views_graph", "reactions_by_emotion_graph"):
                path = folder / f"{field}.json"
                if path.exists():
                    for (ts, metric), value in graph_points(field, read_json(path)).items():
                        out[kind, int(entry["id"]), ts, metric] = value
        return out

    def forwards(self, key: str) -> dict:
        out = {}
        for kind, entry, folder in self.published(key):
            path = folder / "public_forwards.json"
            for forward in read_json(path) if path.exists() else ():
                source = (int(forward["channel_id"]), int(forward["message_id"]))
                out[(kind, int(entry["id"]), *source)] = (
                    forward.get("kind", "message"),
                    moment(forward["date"]),
                    forward.get("views"),
                    forward.get("title"),
                    forward.get("username"),
                )
        return out

    def zoom_files(self, key: str) -> dict[str, dict[date, dict]]:
        """graph field -> day -> zoom document."""
        out: dict[str, dict[date, dict]] = {}
        graphs = self.root / key / "graphs"
        for folder in sorted(graphs.glob("*.zoom")) if graphs.exists() else ():
            field = folder.name.removesuffix(".zoom")
            out[field] = {
                date.fromisoformat(p.stem): read_json(p) for p in sorted(folder.glob("*.json"))
            }
        return out

    def hourly(self, key: str) -> tuple[dict, dict]:
        """(the hours of the asked days, every hour any zoom file shows): (hour, metric) ->
        value. A day's hours are read from that day's own zoom."""
        asked, shown = {}, {}
        for field, by_day in self.zoom_files(key).items():
            for day, doc in by_day.items():
                for (hour, metric), value in graph_points(field, doc).items():
                    shown.setdefault((hour, metric), set()).add(value)
                    if day in self.days and hour.date() == day:
                        asked[hour, metric] = value
        return asked, shown

    def revenue_status(self, key: str) -> dict:
        out = {}
        for currency in ("stars", "ton"):
            path = self.root / key / "revenue" / f"{currency}.json"
            if not path.exists():
                continue
            doc = read_json(path)
            status = doc["status"]
            withdrawal = status.get("next_withdrawal_at")
            out[currency] = (
                number(status["current_balance"]),
                number(status["available_balance"]),
                number(status["overall_revenue"]),
                number(doc.get("usd_rate")),
                bool(status.get("withdrawal_enabled", False)),
                None if withdrawal is None else datetime.fromtimestamp(withdrawal, tz=UTC),
            )
        return out

    def revenue_daily(self, key: str) -> dict:
        out = {}
        for currency in ("stars", "ton"):
            path = self.root / key / "revenue" / currency / "revenue_graph.json"
            if not path.exists():
                continue
            points = graph_points("revenue_graph", read_json(path), f"revenue_{currency}")
            for (x, metric), value in points.items():
                if x.date() in self.days:
                    out[x.date(), metric] = value
        return out

    def raw(self, key: str) -> dict[tuple[str, str], Any]:
        """(content_raw source, graph) -> payload, for the post, story and revenue graphs."""
        out = {}
        for kind, entry, folder in self.published(key):
            for path in sorted(folder.glob("*_graph.json")):
                out[f"{kind}:{entry['id']}", path.stem] = read_json(path)
        for currency in ("stars", "ton"):
            for path in sorted((self.root / key / "revenue" / currency).glob("*.json")):
                out[f"revenue:{currency}", path.stem] = read_json(path)
        return out


# -- what the warehouse holds ---------------------------------------------------------------


def rows(conn, sql: str, **params: Any) -> list[tuple]:
    return [tuple(r) for r in conn.execute(text(sql), params).all()]


def stored_tables(database_url: str) -> dict[str, list[tuple]]:
    """Every content table's rows with their xmin (rewritten rows get a new one), and the
    revenue rows of channel_daily."""
    out = {}
    with make_engine(database_url).connect() as conn:
        for table in CONTENT_TABLES:
            out[table] = sorted(
                rows(conn, f"SELECT xmin::text, to_jsonb(t)::text FROM {table} t"),
                key=lambda r: r[1],
            )
        out["channel_daily"] = sorted(
            rows(conn, "SELECT xmin::text, to_jsonb(t)::text FROM channel_daily t"),
            key=lambda r: r[1],
        )
    return out


def tgstats(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def log_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def short(value: Any, width: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class Problems(list):
    """Mismatches, collected so that one run names all of them (table, row, expected, got)."""

    def compare(self, what: str, expected: dict, got: dict, *, limit: int = 8) -> None:
        if expected == got:
            return
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        wrong = [k for k in expected if k in got and expected[k] != got[k]]
        lines = [
            f"{what}: {len(expected)} rows expected, {len(got)} stored; "
            f"{len(missing)} missing, {len(extra)} extra, {len(wrong)} wrong"
        ]
        lines += [f"  missing {k}: expected {short(expected[k])}" for k in missing[:limit]]
        lines += [f"  extra {k}: got {short(got[k])}" for k in extra[:limit]]
        lines += [
            f"  wrong {k}: expected {short(expected[k])}, got {short(got[k])}"
            for k in wrong[:limit]
        ]
        self.append("\n".join(lines))

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.append(message)


# -- the test ---------------------------------------------------------------------------------


def check_hourly(problems: Problems, expected: Expected, conn) -> None:
    """channel_hourly: each hour of the asked days, from the zooms; any other hour kept
    equals what the zooms show of it."""
    for key in (CHANNEL, GROUP):
        stored = {
            (hour, metric): value
            for hour, metric, value in rows(
                conn,
                "SELECT hour, metric, value FROM channel_hourly WHERE channel_id = :c",
                c=expected.channel_id(key),
            )
        }
        asked, shown = expected.hourly(key)
        problems.check(len(asked) >= 27 * 24, f"{key}: zoom files give {len(asked)} hours")
        in_days = {k: v for k, v in stored.items() if k[0].date() in expected.days}
        problems.compare(f"channel_hourly {key} (asked days)", asked, in_days)
        others = {k: v for k, v in stored.items() if k[0].date() not in expected.days}
        wrong = {k: v for k, v in others.items() if v not in shown.get(k, set())}
        problems.check(not wrong, f"channel_hourly {key}: hours no zoom shows: {wrong}")


def check_tables(
    problems: Problems, expected: Expected, database_url: str, *, fetches: int = 1
) -> None:
    """Every content table against ``expected``; ``fetches``: the revenue fetches so far
    (each a row set of revenue_status, the newest checked)."""
    channel, group, norights = (expected.channel_id(k) for k in (CHANNEL, GROUP, NO_RIGHTS))
    with make_engine(database_url).connect() as conn:
        # posts: the posts and stories published on the asked days, with their counters.
        got = {
            (kind, int(post_id)): (published, views, forwards, replies, reactions, body)
            for kind, post_id, published, views, forwards, replies, reactions, body in rows(
                conn,
                "SELECT kind, post_id, published_at, views, forwards, replies, reactions, text"
                " FROM posts WHERE channel_id = :c",
                c=channel,
            )
        }
        want = expected.posts(CHANNEL)
        problems.check({k for k, _ in want} == {"message", "story"}, f"posts: kinds {want.keys()}")
        problems.compare("posts", want, got)

        # post_stats: every such post's statistics fetched, complete, settled (they are all
        # older than TGSTATS_POST_SETTLE_DAYS).
        got = {
            (kind, int(post_id)): (complete, settled)
            for kind, post_id, complete, settled in rows(
                conn,
                "SELECT kind, post_id, complete, settled FROM post_stats WHERE channel_id = :c",
                c=channel,
            )
        }
        now = datetime.now(UTC)
        settled = {k: (True, now - v[0] >= SETTLE) for k, v in want.items()}
        problems.compare("post_stats", settled, got)

        # post_timeline: every point of every such post's graphs.
        got = {
            (kind, int(post_id), ts, metric): value
            for kind, post_id, ts, metric, value in rows(
                conn,
                "SELECT kind, post_id, ts, metric, value FROM post_timeline WHERE channel_id = :c",
                c=channel,
            )
        }
        timeline = expected.timeline(CHANNEL)
        problems.check(
            {k[0] for k in timeline} == {"message", "story"}, "the scenario's graphs: no story's"
        )
        problems.compare("post_timeline", timeline, got)

        # post_forwards: public_forwards.json, more than 100 for one post.
        got = {
            (kind, int(post_id), int(source), int(message)): tuple(rest)
            for kind, post_id, source, message, *rest in rows(
                conn,
                "SELECT kind, post_id, source_channel_id, source_message_id, source_kind,"
                " forwarded_at, views, title, username FROM post_forwards WHERE channel_id = :c",
                c=channel,
            )
        }
        forwards = expected.forwards(CHANNEL)
        per_post = Counter((k[0], k[1]) for k in forwards)
        problems.check(max(per_post.values()) > 100, f"the scenario's forwards: {per_post}")
        problems.check(
            any(v[0] == "story" for v in forwards.values()), "no story reposting a story"
        )
        problems.compare("post_forwards", forwards, got)

        check_hourly(problems, expected, conn)

        # revenue_status: one row set (one fetch) per currency, as revenue/<currency>.json.
        got_status = rows(
            conn,
            "SELECT currency, fetched_at, current_balance, available_balance, overall_revenue,"
            " usd_rate, withdrawal_enabled, next_withdrawal_at FROM revenue_status"
            " WHERE channel_id = :c",
            c=channel,
        )
        problems.check(
            len({r[1] for r in got_status}) == fetches, f"revenue_status fetches: {got_status}"
        )
        problems.compare(
            "revenue_status",
            expected.revenue_status(CHANNEL),
            {r[0]: tuple(r[2:]) for r in got_status if r[1] == max(x[1] for x in got_status)},
        )

        # channel_daily: revenue_stars.* / revenue_ton.* of the asked days only.
        got = {
            (day, metric): value
            for day, metric, value in rows(
                conn,
                "SELECT day, metric, value FROM channel_daily WHERE channel_id = :c"
                " AND (metric LIKE 'revenue\\_stars.%' OR metric LIKE 'revenue\\_ton.%')",
                c=channel,
            )
        }
        revenue = expected.revenue_daily(CHANNEL)
        problems.check(
            {m.split(".")[0] for _, m in revenue} == {"revenue_stars", "revenue_ton"},
            "the scenario's revenue graphs",
        )
        problems.compare("channel_daily revenue", revenue, got)

        # content_raw: the post, story and revenue graphs exactly as sent (as JSON values),
        # and each zoom as the file of the day it was asked for.
        stored_raw = rows(
            conn,
            "SELECT source, graph, kind, data, error FROM content_raw WHERE channel_id = :c",
            c=channel,
        )
        posts_raw = [r for r in stored_raw if not r[0].startswith("zoom:")]
        want_raw = expected.raw(CHANNEL)
        problems.compare(
            "content_raw (posts, revenue)",
            want_raw,
            {(s, g): d for s, g, kind, d, _ in posts_raw if kind != "error"},
        )
        refused = {(s, g): e for s, g, kind, _, e in posts_raw if kind == "error"}
        problems.check(
            all(k not in want_raw and e == "NOT_ENOUGH_DATA" for k, e in refused.items()),
            f"content_raw: graphs kept as errors: {sorted(refused.items())[:5]}",
        )
        zoom_files = expected.zoom_files(CHANNEL)
        for source, graph, kind, data, error in stored_raw:
            if source.startswith("zoom:"):
                day = date.fromisoformat(source.removeprefix("zoom:"))
                file = zoom_files.get(graph, {}).get(day)
                problems.check(
                    (kind, data, error) == ("inline", file, None),
                    f"content_raw {source} {graph}: {kind} {error} differs from its zoom file",
                )

        # The supergroup: zooms only. The peer without rights: nothing at all.
        for table in ("posts", "post_stats", "post_timeline", "post_forwards", "revenue_status"):
            count = rows(conn, f"SELECT count(*) FROM {table} WHERE channel_id = :g", g=group)[0][0]
            problems.check(count == 0, f"{table}: {count} rows of the supergroup {GROUP}")
        for table in (*CONTENT_TABLES, "channel_daily"):
            count = rows(conn, f"SELECT count(*) FROM {table} WHERE channel_id = :n", n=norights)[
                0
            ][0]
            problems.check(count == 0, f"{table}: {count} rows of {NO_RIGHTS} (no stats rights)")


def check_first_requests(problems: Problems, expected: Expected, requests: list[dict]) -> None:
    """The first backfill's content requests: each post and story once, the forwards by
    pages of 100, the history in one page (30 posts over the window), revenue twice."""
    by = Counter((r["peer"], r["request"]) for r in requests if r["outcome"] == "ok")
    published = expected.published(CHANNEL)
    forwards = Counter((k[0], k[1]) for k in expected.forwards(CHANNEL))
    pages = {
        "message": sum(
            max(1, math.ceil(forwards[kind, int(e["id"])] / 100))
            for kind, e, _ in published
            if kind == "message"
        ),
        "story": sum(
            max(1, math.ceil(forwards[kind, int(e["id"])] / 100))
            for kind, e, _ in published
            if kind == "story"
        ),
    }
    want = {
        "GetHistoryRequest": 1,
        "GetStoriesArchiveRequest": 1,
        "GetMessageStatsRequest": sum(1 for kind, _, _ in published if kind == "message"),
        "GetStoryStatsRequest": sum(1 for kind, _, _ in published if kind == "story"),
        "GetMessagePublicForwardsRequest": pages["message"],
        "GetStoryPublicForwardsRequest": pages["story"],
        "GetStarsRevenueStatsRequest": 2,
    }
    got = {name: by[CHANNEL, name] for name in want}
    problems.compare(f"requests of {CHANNEL} (first backfill)", want, got)
    for key in (GROUP, NO_RIGHTS):
        beyond_zooms = CONTENT_REQUESTS - {"LoadAsyncGraphRequest"}
        asked = {n for (p, n) in by if p == key and n in beyond_zooms}
        problems.check(not asked, f"content requests for {key}: {sorted(asked)}")
    norights = [r["request"] for r in requests if r["peer"] == NO_RIGHTS]
    problems.check(
        not set(norights) & (CONTENT_REQUESTS | STATS_REQUESTS),
        f"{NO_RIGHTS} asked for: {sorted(set(norights))}",
    )
    failed = [r for r in requests if r["outcome"] != "ok" and r["request"] in CONTENT_REQUESTS]
    faults = read_json(expected.root / "scenario.json").get("faults", [])
    injected = [f"{f['request']} {f['error']}" for f in faults for _ in range(f.get("times", 1))]
    problems.check(
        sorted(f"{r['request']} {r['outcome']}" for r in failed) == sorted(injected),
        f"content requests refused beyond the scenario's faults: {failed[:5]}",
    )


def test_a_backfill_fills_every_content_table_as_the_files_say(
    pipeline_env: dict[str, str], use_scenario: Path, database_url: str
) -> None:
    backfill_twice(pipeline_env, database_url, Expected(use_scenario, DAYS))


def backfill_twice(env: dict[str, str], database_url: str, expected: Expected) -> None:
    """A backfill of ``expected.days``, every table checked; the same backfill again: no
    content or stats request, no row rewritten."""
    log = Path(env["TGSTATS_REPLAY_LOG"])
    days = sorted(expected.days)
    args = ["backfill", "--peers", f"{CHANNEL},{GROUP},{NO_RIGHTS}"]
    args += ["--start", str(days[0]), "--end", str(days[-1])]
    first = tgstats(*args, env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    problems = Problems()
    check_tables(problems, expected, database_url)
    first_requests = log_lines(log)
    check_first_requests(problems, expected, first_requests)

    before = stored_tables(database_url)
    again = tgstats(*args, env=env)
    problems.check(again.returncode == 0, f"second backfill: exit {again.returncode}")
    second = log_lines(log)[len(first_requests) :]
    asked = Counter(
        r["request"] for r in second if r["request"] in CONTENT_REQUESTS | STATS_REQUESTS
    )
    problems.check(not asked, f"second backfill asked Telegram again: {dict(asked)}")
    problems.check(len(second) <= 5, f"second backfill: {len(second)} requests: {second[:8]}")
    after = stored_tables(database_url)
    for table, rows_before in before.items():
        rewritten = sorted(set(after[table]) - set(rows_before))
        problems.check(
            not rewritten,
            f"{table}: {len(rewritten)} rows new or rewritten by the second backfill, e.g. "
            f"{rewritten[:2]}",
        )
    assert not problems, "\n".join(problems) + "\n--- stderr ---\n" + again.stderr[-2000:]


# -- the bundled demo, served to end yesterday -----------------------------------------------

DEMO = Path(__file__).resolve().parents[2] / "tgstats_dagster" / "telegram" / "demo_scenario"
DAY_MS = 86_400_000


def _shift_x(doc: dict[str, Any], shift_ms: int, *, daily_only: bool) -> None:
    x_column = next(c for c in doc["columns"] if c[0] == "x")
    xs = x_column[1:]
    steps = {b - a for a, b in pairwise(xs)}
    if daily_only and (len(xs) < 2 or steps != {DAY_MS}):
        return
    x_column[1:] = [x + shift_ms for x in xs]


def _shift_date(value: str, shift: timedelta) -> str:
    return (moment(value) + shift).strftime("%Y-%m-%dT%H:%M:%SZ")


def shifted_copy(source: Path, out: Path, shift: timedelta) -> Path:
    """The content files of ``source`` as the offline Telegram serves them with ``"end":
    "yesterday"`` (docs/scenario-format.md, "Moving the window"), written into ``out``:
    post, story and forward dates, post and story graphs (any axis), the zooms (their day
    and x), the revenue graphs that step by days; moved by ``shift``."""
    shutil.copytree(source, out)
    shift_ms = int(shift.total_seconds() * 1000)
    for listing in [*out.glob("*/posts/posts.json"), *out.glob("*/stories/stories.json")]:
        entries = read_json(listing)
        for entry in entries:
            entry["date"] = _shift_date(entry["date"], shift)
        listing.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
        for folder in (p for p in listing.parent.iterdir() if p.is_dir()):
            forwards = folder / "public_forwards.json"
            if forwards.exists():
                items = read_json(forwards)
                for item in items:
                    item["date"] = _shift_date(item["date"], shift)
                forwards.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
            for graph in folder.glob("*_graph.json"):
                doc = read_json(graph)
                _shift_x(doc, shift_ms, daily_only=False)
                graph.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    for zoom_dir in out.glob("*/graphs/*.zoom"):
        for path in sorted(zoom_dir.glob("*.json")):
            doc = read_json(path)
            _shift_x(doc, shift_ms, daily_only=False)
            day = date.fromisoformat(path.stem) + shift
            path.unlink()
            (zoom_dir / f"{day.isoformat()}.moved").write_text(json.dumps(doc), encoding="utf-8")
        for path in zoom_dir.glob("*.moved"):
            path.rename(path.with_suffix(".json"))
    for graph in out.glob("*/revenue/*/*.json"):
        doc = read_json(graph)
        _shift_x(doc, shift_ms, daily_only=True)
        graph.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return out


def test_a_backfill_of_the_bundled_demo_served_to_end_yesterday(
    pipeline_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    """What ``make demo`` loads beyond the snapshots: the bundled demo scenario (``"end":
    "yesterday"``, plus a post with more than 100 forwards), its last 27 days up to
    yesterday; the expected rows read from the files moved by the documented rule (the
    latest period.max_date falls on yesterday). The newest posts are younger than the
    settle days: their statistics are fetched, not settled."""
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo)
    assert read_json(demo / "scenario.json").get("end") == "yesterday"
    add_bulk_forwards(demo)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    ends = [
        datetime.fromtimestamp(read_json(p)["period"]["max_date"], tz=UTC).date()
        for p in demo.glob("*/stats.json")
    ]
    shift = yesterday - max(ends)
    expected_root = shifted_copy(demo, tmp_path / "demo-moved", shift)
    days = [yesterday - timedelta(days=26 - i) for i in range(27)]
    env = {**pipeline_env, "TGSTATS_TELEGRAM_REPLAY": str(demo)}
    backfill_twice(env, database_url, Expected(expected_root, days))


#: Graphs the offline Telegram serves inline (docs/scenario-format.md); the others of
#: graphs/*.json come as async tokens, one LoadAsyncGraphRequest each per snapshot.
INLINE = {"growth_graph", "followers_graph", "mute_graph", "top_hours_graph", "members_graph"}


def content_loads(requests: list[dict], root: Path, key: str) -> int:
    """LoadAsyncGraphRequest of zooms and post graphs: all of the peer's, less its
    snapshots' own (snapshots fetched x graphs served as async tokens)."""
    graphs = [p.stem for p in (root / key / "graphs").glob("*.json")]
    per_snapshot = sum(1 for g in graphs if g not in INLINE)
    snapshots = sum(1 for r in requests if r["peer"] == key and r["request"] in STATS_REQUESTS)
    loads = sum(1 for r in requests if r["peer"] == key and r["request"] == "LoadAsyncGraphRequest")
    return loads - snapshots * per_snapshot


def test_a_wider_backfill_asks_only_what_is_not_kept(
    pipeline_env: dict[str, str], use_scenario: Path, database_url: str
) -> None:
    """A backfill of DAYS, then of 10 more days before them with a fresh snapshot: zooms only
    for the new days (2 a graph: a zoom spans 7 days), stats only for the posts of the new
    days (those of DAYS are settled), revenue again; the rows of DAYS not rewritten; every
    table equal to the files for all the days."""
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    wide = FIRST_DAY - timedelta(days=10)
    peers = ["--peers", f"{CHANNEL},{GROUP},{NO_RIGHTS}"]
    first = tgstats(
        "backfill", *peers, "--start", str(FIRST_DAY), "--end", str(END_DAY), env=pipeline_env
    )
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    before = stored_tables(database_url)
    first_count = len(log_lines(log))
    fresh = {**pipeline_env, "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0"}
    second = tgstats("backfill", *peers, "--start", str(wide), "--end", str(END_DAY), env=fresh)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    requests = log_lines(log)[first_count:]

    problems = Problems()
    all_days = [wide + timedelta(days=i) for i in range((END_DAY - wide).days + 1)]
    expected = Expected(use_scenario, all_days)
    check_tables(problems, expected, database_url, fetches=2)

    new_days = Expected(use_scenario, all_days[:10])
    new_posts = new_days.published(CHANNEL)
    problems.check(new_posts, "the scenario has no post in the new days")
    by = Counter((r["peer"], r["request"]) for r in requests if r["outcome"] == "ok")
    want = {
        "GetHistoryRequest": 1,
        "GetStoriesArchiveRequest": 1,
        "GetMessageStatsRequest": sum(1 for kind, _, _ in new_posts if kind == "message"),
        "GetStoryStatsRequest": sum(1 for kind, _, _ in new_posts if kind == "story"),
        "GetMessagePublicForwardsRequest": sum(1 for kind, _, _ in new_posts if kind == "message"),
        "GetStoryPublicForwardsRequest": sum(1 for kind, _, _ in new_posts if kind == "story"),
        "GetStarsRevenueStatsRequest": 2,
    }
    problems.compare(
        f"requests of {CHANNEL} (wider backfill)", want, {n: by[CHANNEL, n] for n in want}
    )
    graph_loads = sum(
        1
        for _, _, folder in new_posts
        for name in ("views_graph", "reactions_by_emotion_graph")
        if (folder / f"{name}.json").exists()
    )
    problems.compare(
        "zoom and post graph loads (wider backfill)",
        {CHANNEL: 2 + graph_loads, GROUP: 2},
        {key: content_loads(requests, use_scenario, key) for key in (CHANNEL, GROUP)},
    )

    # The rows of DAYS (their posts' timelines and forwards, their hours) are not rewritten.
    after = stored_tables(database_url)
    for table in ("post_timeline", "post_forwards", "channel_hourly", "post_stats"):
        gone = sorted(set(before[table]) - set(after[table]))
        problems.check(
            not gone, f"{table}: {len(gone)} rows of the first backfill rewritten: {gone[:2]}"
        )
    assert not problems, "\n".join(problems)


def test_a_post_whose_forwards_kept_failing_is_named_and_fetched_again(
    pipeline_env: dict[str, str], use_scenario: Path, database_url: str
) -> None:
    """The first page of one post's forwards fails for good (5 flood waits of a second: the
    retries used up): that post is kept incomplete, the others are whole. The next backfill
    with a fresh snapshot (the fault gone) fetches that post's statistics again, and only
    those; then every table equals the files."""
    settings_path = use_scenario / "scenario.json"
    settings = read_json(settings_path)
    fault = {
        "request": "GetMessagePublicForwardsRequest",
        "peer": CHANNEL,
        "error": "FLOOD_WAIT_1",
        "times": 5,
    }
    settings_path.write_text(json.dumps({**settings, "faults": [fault]}), encoding="utf-8")
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    args = ["backfill", "--peers", f"{CHANNEL},{GROUP}"]
    args += ["--start", str(FIRST_DAY), "--end", str(END_DAY)]
    first = tgstats(*args, env=pipeline_env)
    output = first.stdout + first.stderr
    expected = Expected(use_scenario, DAYS)
    channel = expected.channel_id(CHANNEL)
    problems = Problems()
    with make_engine(database_url).connect() as conn:
        incomplete = rows(
            conn,
            "SELECT kind, post_id, missing, settled FROM post_stats"
            " WHERE channel_id = :c AND NOT complete",
            c=channel,
        )
        whole = rows(
            conn, "SELECT count(*) FROM post_stats WHERE channel_id = :c AND complete", c=channel
        )[0][0]
    problems.check(len(incomplete) == 1, f"incomplete post statistics: {incomplete}")
    if len(incomplete) == 1:
        kind, post_id, missing, settled = incomplete[0]
        problems.check(
            kind == "message" and "public_forwards" in missing and not settled,
            f"the incomplete post: {incomplete[0]}",
        )
        problems.check(str(post_id) in output, f"post {post_id} is not named:\n{output[-3000:]}")
    problems.check(
        whole == len(expected.published(CHANNEL)) - 1, f"{whole} posts complete after the first"
    )
    first_count = len(log_lines(log))

    settings_path.write_text(json.dumps(settings), encoding="utf-8")  # the fault is gone
    fresh = {**pipeline_env, "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0"}
    second = tgstats(*args, env=fresh)
    problems.check(second.returncode == 0, f"second backfill: exit {second.returncode}")
    requests = log_lines(log)[first_count:]
    by = Counter((r["peer"], r["request"]) for r in requests if r["outcome"] == "ok")
    if len(incomplete) == 1:
        post_dir = use_scenario / CHANNEL / "posts" / str(incomplete[0][1])
        forwards = post_dir / "public_forwards.json"
        count = len(read_json(forwards)) if forwards.exists() else 0
        want = {
            "GetMessageStatsRequest": 1,
            "GetMessagePublicForwardsRequest": max(1, math.ceil(count / 100)),
            "GetStoryStatsRequest": 0,
        }
        problems.compare(
            "requests for the incomplete post", want, {n: by[CHANNEL, n] for n in want}
        )
    check_tables(problems, expected, database_url, fetches=2)
    assert not problems, "\n".join(problems)


def test_a_wider_backfill_on_a_reused_snapshot_zooms_into_the_new_days(
    pipeline_env: dict[str, str], use_scenario: Path, database_url: str
) -> None:
    """The snapshot of the first backfill is reused: no stats request, no post, story or
    revenue request; the zooms of the 10 new days are fetched all the same (2 a graph, with
    the kept zoom tokens), and channel_hourly holds every hour of all the days."""
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    wide = FIRST_DAY - timedelta(days=10)
    peers = ["--peers", f"{CHANNEL},{GROUP}"]
    first = tgstats(
        "backfill", *peers, "--start", str(FIRST_DAY), "--end", str(END_DAY), env=pipeline_env
    )
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    first_count = len(log_lines(log))
    second = tgstats(
        "backfill", *peers, "--start", str(wide), "--end", str(END_DAY), env=pipeline_env
    )
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    requests = log_lines(log)[first_count:]
    problems = Problems()
    asked = Counter(r["request"] for r in requests if r["request"] in CONTENT_REQUESTS)
    problems.compare(
        "requests of the second backfill",
        {"LoadAsyncGraphRequest": 4},
        dict(asked),
    )
    problems.check(
        not [r for r in requests if r["request"] in STATS_REQUESTS], "a snapshot fetched"
    )
    all_days = [wide + timedelta(days=i) for i in range((END_DAY - wide).days + 1)]
    with make_engine(database_url).connect() as conn:
        check_hourly(problems, Expected(use_scenario, all_days), conn)
    assert not problems, "\n".join(problems)
