"""Reads of ``channel_daily``: what a day's stored figures are, to tell what a snapshot changes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa


def stored_values(
    engine: sa.Engine, channel_id: int, first: date, last: date
) -> dict[tuple[date, str], Decimal]:
    """The channel's stored figures from ``first`` to ``last``: ``(day, metric) -> value``."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT day, metric, value FROM channel_daily"
            " WHERE channel_id = %s AND day BETWEEN %s AND %s",
            (channel_id, first, last),
        ).all()
    return {(day, metric): value for day, metric, value in rows}


def changed_days(
    stored: dict[tuple[date, str], Decimal], rows: list[tuple[date, str, object]]
) -> list[date]:
    """The days whose figures ``rows`` (day, metric, value) would add or change."""
    changed = {
        day for day, metric, value in rows if stored.get((day, metric)) != Decimal(str(value))
    }
    return sorted(changed)
