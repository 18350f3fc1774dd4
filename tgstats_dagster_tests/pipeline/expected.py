"""An independent reading of a scenario's graph files: what `channel_daily` must hold.

Written from DESIGN.md's rules directly (not with the production parser), so that a bug in
the parser cannot agree with itself.
"""

from __future__ import annotations

import itertools
import json
import re
import string
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

DAY_MS = 86_400_000
_SEPARATORS = re.compile("[" + re.escape(string.punctuation) + r"\s]+")


def _keys(names: dict[str, str], columns: list[str]) -> dict[str, str]:
    keys = {c: _SEPARATORS.sub("_", names.get(c, "").lower()).strip("_") for c in columns}
    counts: dict[str, int] = {}
    for key in keys.values():
        counts[key] = counts.get(key, 0) + 1
    return {c: c if not k or counts[k] > 1 else k for c, k in keys.items()}


def expected_daily(scenario: Path, peer: str, days: list[date]) -> dict[tuple[date, str], Decimal]:
    """(day, metric) -> value for every daily graph of ``peer``'s scenario folder."""
    wanted = set(days)
    out: dict[tuple[date, str], Decimal] = {}
    for path in sorted((scenario / peer / "graphs").glob("*.json")):
        graph = json.loads(path.read_text(encoding="utf-8"))
        columns = {col[0]: col[1:] for col in graph["columns"]}
        x_id = next(c for c, t in graph["types"].items() if t == "x")
        xs = columns[x_id]
        if len(xs) < 2 or any(b - a != DAY_MS for a, b in itertools.pairwise(xs)):
            continue
        series = [c for c in columns if c != x_id]
        keys = _keys(graph.get("names", {}), series)
        field = path.stem.removesuffix("_graph")
        for i, x in enumerate(xs):
            day = datetime.fromtimestamp(x / 1000, timezone.utc).date()
            if day in wanted:
                for c in series:
                    out[(day, f"{field}.{keys[c]}")] = Decimal(str(columns[c][i]))
    return out
