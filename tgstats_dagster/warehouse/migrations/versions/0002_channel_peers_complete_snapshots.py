"""Peers keyed by channel id; snapshots say whether they are complete; raw bytes of graphs.

- ``telegram_peers``: the primary key moves from ``peer_key`` to ``channel_id`` (already
  unique, so every stored row keeps its place); ``peer_key`` gets a non-unique index.
- ``stats_snapshots``: ``complete`` and ``missing_graphs``; every stored snapshot was
  complete (no graph could be missing before this revision).
- ``stats_raw``: kind ``missing``, and ``data_raw`` for payloads jsonb cannot hold.
- The check constraints get the names tables.py gives them: 0001 named them twice over
  (``ck_stats_raw_ck_stats_raw_kind``), the naming convention applied to a full name.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("pk_telegram_peers"), "telegram_peers", type_="primary")
    op.drop_constraint(op.f("uq_telegram_peers_channel_id"), "telegram_peers", type_="unique")
    op.create_primary_key(op.f("pk_telegram_peers"), "telegram_peers", ["channel_id"])
    op.create_index(op.f("ix_telegram_peers_peer_key"), "telegram_peers", ["peer_key"])

    op.add_column(
        "stats_snapshots",
        sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "stats_snapshots",
        sa.Column("missing_graphs", ARRAY(sa.Text), nullable=False, server_default="{}"),
    )

    op.execute(
        "ALTER TABLE telegram_peers RENAME CONSTRAINT ck_telegram_peers_ck_telegram_peers_kind"
        " TO ck_telegram_peers_kind"
    )
    op.drop_constraint(op.f("ck_stats_raw_ck_stats_raw_kind"), "stats_raw", type_="check")
    op.create_check_constraint(
        op.f("ck_stats_raw_kind"), "stats_raw", "kind IN ('inline', 'async', 'error', 'missing')"
    )
    op.add_column("stats_raw", sa.Column("data_raw", sa.LargeBinary))


def downgrade() -> None:
    op.drop_column("stats_raw", "data_raw")
    op.drop_constraint(op.f("ck_stats_raw_kind"), "stats_raw", type_="check")
    op.create_check_constraint(
        op.f("ck_stats_raw_ck_stats_raw_kind"), "stats_raw", "kind IN ('inline', 'async', 'error')"
    )
    op.execute(
        "ALTER TABLE telegram_peers RENAME CONSTRAINT ck_telegram_peers_kind"
        " TO ck_telegram_peers_ck_telegram_peers_kind"
    )
    op.drop_column("stats_snapshots", "missing_graphs")
    op.drop_column("stats_snapshots", "complete")
    op.drop_index(op.f("ix_telegram_peers_peer_key"), "telegram_peers")
    op.drop_constraint(op.f("pk_telegram_peers"), "telegram_peers", type_="primary")
    op.create_primary_key(op.f("pk_telegram_peers"), "telegram_peers", ["peer_key"])
    op.create_unique_constraint(
        op.f("uq_telegram_peers_channel_id"), "telegram_peers", ["channel_id"]
    )
