"""An independent reading of a scenario's graph files: what `channel_daily` must hold.

Written from the documented rules directly (not with the production parser), so that a bug in
the parser cannot agree with itself.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import string
import unicodedata
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

DAY_MS = 86_400_000


def _separates(char: str) -> bool:
    """Whitespace, ASCII punctuation, a control character, or a lone surrogate."""
    return (
        char.isspace() or char in string.punctuation or unicodedata.category(char) in ("Cc", "Cs")
    )


def _key(name: str) -> str:
    """The metric key of a series name, one character at a time."""
    out: list[str] = []
    for char in name.lower():
        if not _separates(char):
            out.append(char)
        elif out and out[-1] != "_":
            out.append("_")
    key = "".join(out).strip("_")
    if len(key) > 120:
        key = key[:111] + "~" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return key


def _keys(names: dict[str, str], columns: list[str]) -> dict[str, str]:
    keys = {c: _key(names.get(c, "")) for c in columns}
    counts: dict[str, int] = {}
    for key in keys.values():
        counts[key] = counts.get(key, 0) + 1
    return {c: c if not k or counts[k] > 1 else k for c, k in keys.items()}


def expected_daily(scenario: Path, peer: str, days: list[date]) -> dict[tuple[date, str], Decimal]:
    """(day, metric) -> value for every daily graph of ``peer``'s scenario folder, and its
    daily revenue of each currency (``revenue_stars.*``, ``revenue_ton.*``)."""
    wanted = set(days)
    out: dict[tuple[date, str], Decimal] = {}
    graphs = [
        (p, p.stem.removesuffix("_graph")) for p in (scenario / peer / "graphs").glob("*.json")
    ]
    for currency in ("stars", "ton"):
        revenue = scenario / peer / "revenue" / currency / "revenue_graph.json"
        if revenue.exists():
            graphs.append((revenue, f"revenue_{currency}"))
    for path, field in sorted(graphs):
        graph = json.loads(path.read_text(encoding="utf-8"))
        columns = {col[0]: col[1:] for col in graph["columns"]}
        x_id = next(c for c, t in graph["types"].items() if t == "x")
        xs = columns[x_id]
        if len(xs) < 2 or any(b - a != DAY_MS for a, b in itertools.pairwise(xs)):
            continue
        series = [c for c in columns if c != x_id]
        keys = _keys(graph.get("names", {}), series)
        for i, x in enumerate(xs):
            day = datetime.fromtimestamp(x / 1000, timezone.utc).date()
            if day in wanted:
                for c in series:
                    out[(day, f"{field}.{keys[c]}")] = Decimal(str(columns[c][i]))
    return out
