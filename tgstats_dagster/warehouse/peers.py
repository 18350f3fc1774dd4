"""The peer entities in the warehouse (``telegram_peers``), keyed by channel id.

A configured entry (a username, or a numeric id with or without ``-100``) names a channel;
the channel's row is found by any of them, so a renamed username or an entry switched
between username and id reuses the row and its history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tgstats_dagster.settings import channel_id_of_entry
from tgstats_dagster.warehouse.tables import TABLES

#: The columns of ``telegram_peers``, as the table defines them.
PEER_COLUMNS = [column.name for column in TABLES["telegram_peers"].columns]


def stats_rights(known: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    """Each entry of :meth:`PeerStore.known`'s answer -> its channel's ``can_view_stats``."""
    return {key: bool(row["can_view_stats"]) for key, row in known.items()}


class PeerStore:
    """Reads ``telegram_peers`` (its writer is the IO manager, by the table's write rule)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def known(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored row each key names (keys naming no stored channel are left out).

        A key names the row whose channel id is the key's id, else the row it last named
        (``peer_key``), else the row whose username it is; the newest row wins a tie.
        """
        query = (
            f"SELECT DISTINCT ON (k.key) k.key, {', '.join(f'p.{c}' for c in PEER_COLUMNS)}"
            " FROM unnest(%s::text[], %s::bigint[]) AS k(key, channel_id)"
            " JOIN telegram_peers p ON p.channel_id = k.channel_id OR p.peer_key = k.key"
            " OR lower(p.username) = lower(k.key)"
            " ORDER BY k.key, coalesce(p.channel_id = k.channel_id, false) DESC,"
            " p.peer_key = k.key DESC, p.updated_at DESC"
        )
        params = (list(keys), [channel_id_of_entry(key) for key in keys])
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(query, params).mappings().all()
        return {row["key"]: {c: row[c] for c in PEER_COLUMNS} for row in rows}
