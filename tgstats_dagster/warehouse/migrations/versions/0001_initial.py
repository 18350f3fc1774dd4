"""The first schema: peers, snapshots, raw graphs, raw days, the daily pivot.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMPTZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telegram_peers",
        sa.Column("peer_key", sa.Text, nullable=False),
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("access_hash", sa.BigInteger, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("username", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("can_view_stats", sa.Boolean, nullable=False),
        sa.Column("stats_dc", sa.Integer),
        sa.Column("participants_count", sa.Integer),
        sa.Column("updated_at", TIMESTAMPTZ, nullable=False),
        sa.PrimaryKeyConstraint("peer_key", name="pk_telegram_peers"),
        sa.UniqueConstraint("channel_id", name="uq_telegram_peers_channel_id"),
        sa.CheckConstraint("kind IN ('broadcast', 'megagroup')", name="ck_telegram_peers_kind"),
    )
    op.create_table(
        "stats_snapshots",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("peer_key", sa.Text, nullable=False),
        sa.Column("period_min", TIMESTAMPTZ, nullable=False),
        sa.Column("period_max", TIMESTAMPTZ, nullable=False),
        sa.Column("scalars", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "fetched_at", name="pk_stats_snapshots"),
    )
    op.create_index("ix_stats_snapshots_peer_key", "stats_snapshots", ["peer_key", "fetched_at"])
    op.create_table(
        "stats_raw",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("graph", sa.Text, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("data", JSONB),
        sa.Column("error", sa.Text),
        sa.Column("zoom_token", sa.Text),
        sa.PrimaryKeyConstraint("channel_id", "graph", "fetched_at", name="pk_stats_raw"),
        sa.CheckConstraint("kind IN ('inline', 'async', 'error')", name="ck_stats_raw_kind"),
    )
    op.create_table(
        "stats_raw_days",
        sa.Column("peer_key", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.PrimaryKeyConstraint("peer_key", "day", name="pk_stats_raw_days"),
    )
    op.create_table(
        "channel_daily",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("peer_key", sa.Text, nullable=False),
        sa.Column("value", sa.Numeric),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("channel_id", "day", "metric", name="pk_channel_daily"),
    )
    op.create_index("ix_channel_daily_day_peer", "channel_daily", ["day", "peer_key"])


def downgrade() -> None:
    for table in ("channel_daily", "stats_raw_days", "stats_raw", "stats_snapshots"):
        op.drop_table(table)
    op.drop_table("telegram_peers")
