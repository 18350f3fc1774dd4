"""The report page: one self-contained HTML file, readable offline.

Everything is inline (styles, SVG pictures); the page names no other host and needs no script.
Every text from Telegram (titles, usernames, post texts, series names) is escaped here or by
the SVG writer.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from tgstats_dagster.report.data import Chart, History

STYLE = """
body{font-family:sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}
h1{margin-bottom:.2em}.meta,.source{color:#666;font-size:.9em}
section{margin:2em 0}svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.9em;margin-top:.5em}
td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
.note{background:#f6f6f0;border-left:3px solid #c9b458;padding:.4em .8em}
"""


def render_page(history: History, overview: str, pictures: dict[str, str]) -> str:
    """The page of ``history``; ``pictures`` maps a chart's key to its inline SVG."""
    channel = history.channel
    kind = "supergroup" if channel.is_supergroup else "channel"
    who = f" (@{channel.username})" if channel.username else ""
    span = f"{history.first_day} to {history.last_day}" if history.first_day else "no days kept"
    drawn = [c for c in history.charts if c.drawn]
    left_out = [c for c in history.charts if not c.drawn]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(channel.title)}: statistics report</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(channel.title)}</h1>",
        f'<p class="meta">{kind}{escape(who)}, channel id {channel.channel_id}; '
        f"days kept: {escape(span)}; drawn {_now()} by tgstats report</p>",
        f"<section>{overview}</section>",
    ]
    parts += [_section(chart, pictures.get(chart.key)) for chart in drawn]
    if left_out:
        parts.append("<section><h2>Left out</h2><ul>")
        parts += [
            f"<li><b>{escape(c.title)}</b>: {escape(c.note or '')}"
            f' <span class="source">({escape(c.source)})</span></li>'
            for c in left_out
        ]
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _section(chart: Chart, picture: str | None) -> str:
    out = [
        f'<section id="{escape(chart.key)}"><h2>{escape(chart.title)}</h2>',
        f'<p class="source">from {escape(chart.source)}</p>',
    ]
    if picture:
        out.append(picture)
    if chart.table:
        header, *rows = chart.table
        out.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows]
        out.append("</table>")
    out.append("</section>")
    return "\n".join(out)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
