"""``tgstats record`` over the offline Telegram: a recording replays as it was recorded.

The command's work is called as the CLI calls it (settings from the environment, the
``--peers`` value parsed as the CLI parses it), without going through the CLI itself.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tgstats_dagster.cli import main
from tgstats_dagster.telegram.figures import figures, megagroup_tops, post_interactions
from tgstats_dagster_tests.telegram.scenarios import standard_scenario

API_HASH = "0123456789abcdef0123456789abcdef"


def a_session_string() -> str:
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(bytes(range(256)))
    return session.save()


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "scenario.json"
    }


def record(monkeypatch, scenario: Path, out: Path, log: Path, peers: str) -> int:
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(scenario))
    monkeypatch.setenv("TGSTATS_REPLAY_LOG", str(log))
    return main(["record", "--peers", peers, "--out", str(out)])


def test_record_reproduces_every_graph_byte_for_byte(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    session_string = a_session_string()
    monkeypatch.setenv("TG_SESSION", session_string)
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    scenario = standard_scenario(tmp_path / "scenario")
    out, log = tmp_path / "recorded", tmp_path / "replay.jsonl"

    assert record(monkeypatch, scenario, out, log, "@news,norights,chat") == 0

    for key in ("news", "chat"):
        original = {p.name: p.read_bytes() for p in (scenario / key / "graphs").glob("*.json")}
        recorded = {p.name: p.read_bytes() for p in (out / key / "graphs").glob("*.json")}
        assert recorded == original
        # The figures beyond the graphs: headline figures, posts and stories, tops and users.
        original_stats = json.loads((scenario / key / "stats.json").read_text())
        recorded_stats = json.loads((out / key / "stats.json").read_text())
        for read in (post_interactions, megagroup_tops):
            assert read(recorded_stats) == read(original_stats)
        assert (post_interactions if key == "news" else megagroup_tops)(recorded_stats)
        # A figure the scenario leaves out is served, and so recorded, as zero.
        served = {f.figure: f for f in figures(recorded_stats)}
        written = {f.figure: f for f in figures(original_stats)}
        assert {name: served[name] for name in written} == written
        assert {(f.current, f.previous) for n, f in served.items() if n not in written} == {(0, 0)}
    assert (out / "news" / "graphs" / "mute_graph.error").read_text() == "NOT_ENOUGH_DATA"
    norights = json.loads((out / "norights" / "peer.json").read_text())
    assert norights["can_view_stats"] is False
    assert not (out / "norights" / "stats.json").exists()
    assert json.loads((out / "scenario.json").read_text())["home_dc"] == 2
    assert json.loads((out / "news" / "peer.json").read_text())["stats_dc"] == 4

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    stats_requests = Counter(e["peer"] for e in entries if e["request"].endswith("StatsRequest"))
    assert stats_requests == {"news": 1, "chat": 1}
    loads = [e for e in entries if e["request"] == "LoadAsyncGraphRequest"]
    assert {e["dc"] for e in loads} == {4}
    assert Counter(e["peer"] for e in loads) == {"news": 4, "chat": 2}  # each async graph once
    assert len(entries) == len(log.read_text().splitlines())

    printed = capsys.readouterr()
    assert "news" in printed.out and "skipped" in printed.out and "requests:" in printed.out

    # The recording replays as recorded: recording it again gives the same files.
    again = tmp_path / "again"
    assert record(monkeypatch, out, again, tmp_path / "again.jsonl", "news,norights,chat") == 0
    assert files(again) == files(out)

    everything = [printed.out, printed.err, caplog.text, log.read_text()]
    everything += [p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()]
    for text in everything:
        assert session_string not in text
        assert API_HASH not in text


def test_record_exits_non_zero_when_a_peer_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = standard_scenario(tmp_path / "scenario")
    out = tmp_path / "recorded"
    assert record(monkeypatch, scenario, out, tmp_path / "log", "news,nosuchpeer") == 1
    printed = capsys.readouterr()
    assert "nosuchpeer" in printed.err
    assert "USERNAME_NOT_OCCUPIED" in printed.out
    assert (out / "news" / "peer.json").is_file()
    assert not (out / "nosuchpeer").exists()


def test_record_of_an_incomplete_snapshot_names_it_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = [{"request": "LoadAsyncGraphRequest", "error": "GRAPH_INVALID_RELOAD", "times": 100}]
    scenario = standard_scenario(tmp_path / "scenario", faults=faults)
    out = tmp_path / "recorded"
    assert record(monkeypatch, scenario, out, tmp_path / "log", "news") == 1
    printed = capsys.readouterr()
    assert "news" in printed.err and "incomplete" in printed.out
    written = {p.name for p in (out / "news" / "graphs").iterdir()}
    assert "growth_graph.json" in written
    assert "languages_graph.json" not in written and "languages_graph.error" not in written
