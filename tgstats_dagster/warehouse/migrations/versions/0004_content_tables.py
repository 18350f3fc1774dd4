"""All of Telegram's statistics beyond the channel's snapshot: hourly history, posts and
stories with their statistics and public forwards, revenue, and their raw graphs.

- ``channel_hourly``: the hourly points of the zoomed graphs.
- ``posts``: a channel's posts and stories with their newest counters; ``post_stats``: whether
  a post's statistics are loaded complete, and settled (never fetched again).
- ``post_timeline``: the points of a post's graphs; ``post_forwards``: its public forwards.
- ``revenue_status``: a monetized channel's balances per fetch (the daily revenue goes into
  ``channel_daily``).
- ``content_raw``: every such graph's payload exactly as sent, written once.

New tables only: nothing stored before is touched.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMPTZ = sa.DateTime(timezone=True)
_KINDS = "kind IN ('message', 'story')"


def _updated_at() -> sa.Column:
    return sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "channel_hourly",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("hour", TIMESTAMPTZ, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("value", sa.Numeric),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("channel_id", "hour", "metric", name="pk_channel_hourly"),
    )
    op.create_table(
        "posts",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("published_at", TIMESTAMPTZ, nullable=False),
        sa.Column("views", sa.BigInteger),
        sa.Column("forwards", sa.BigInteger),
        sa.Column("replies", sa.BigInteger),
        sa.Column("reactions", sa.BigInteger),
        sa.Column("reactions_by_emoji", JSONB),
        sa.Column("text", sa.Text),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("channel_id", "kind", "post_id", name="pk_posts"),
        sa.CheckConstraint(_KINDS, name=op.f("ck_posts_kind")),
    )
    op.create_index("ix_posts_channel_id", "posts", ["channel_id", "published_at"])
    op.create_table(
        "post_stats",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("settled", sa.Boolean, nullable=False),
        sa.Column("missing", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("channel_id", "kind", "post_id", name="pk_post_stats"),
        sa.CheckConstraint(_KINDS, name=op.f("ck_post_stats_kind")),
        sa.CheckConstraint("NOT settled OR complete", name=op.f("ck_post_stats_settled_complete")),
    )
    op.create_table(
        "post_timeline",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("ts", TIMESTAMPTZ, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("value", sa.Numeric),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint(
            "channel_id", "kind", "post_id", "ts", "metric", name="pk_post_timeline"
        ),
        sa.CheckConstraint(_KINDS, name=op.f("ck_post_timeline_kind")),
    )
    op.create_table(
        "post_forwards",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("source_channel_id", sa.BigInteger, nullable=False),
        sa.Column("source_message_id", sa.BigInteger, nullable=False),
        sa.Column("source_kind", sa.Text, nullable=False, server_default="message"),
        sa.Column("forwarded_at", TIMESTAMPTZ, nullable=False),
        sa.Column("views", sa.BigInteger),
        sa.Column("title", sa.Text),
        sa.Column("username", sa.Text),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint(
            "channel_id",
            "kind",
            "post_id",
            "source_channel_id",
            "source_message_id",
            name="pk_post_forwards",
        ),
        sa.CheckConstraint(_KINDS, name=op.f("ck_post_forwards_kind")),
        sa.CheckConstraint(
            "source_kind IN ('message', 'story')", name=op.f("ck_post_forwards_source_kind")
        ),
    )
    op.create_index(
        "ix_post_forwards_source_channel_id",
        "post_forwards",
        ["source_channel_id", "forwarded_at"],
    )
    op.create_table(
        "revenue_status",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("current_balance", sa.Numeric, nullable=False),
        sa.Column("available_balance", sa.Numeric, nullable=False),
        sa.Column("overall_revenue", sa.Numeric, nullable=False),
        sa.Column("usd_rate", sa.Numeric),
        sa.Column("withdrawal_enabled", sa.Boolean, nullable=False),
        sa.Column("next_withdrawal_at", TIMESTAMPTZ),
        sa.PrimaryKeyConstraint("channel_id", "fetched_at", "currency", name="pk_revenue_status"),
        sa.CheckConstraint("currency IN ('stars', 'ton')", name=op.f("ck_revenue_status_currency")),
    )
    op.create_table(
        "content_raw",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("graph", sa.Text, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("data", JSONB),
        sa.Column("data_raw", sa.LargeBinary),
        sa.Column("error", sa.Text),
        sa.Column("zoom_token", sa.Text),
        sa.PrimaryKeyConstraint(
            "channel_id", "source", "graph", "fetched_at", name="pk_content_raw"
        ),
        sa.CheckConstraint(
            "kind IN ('inline', 'async', 'error', 'missing')", name=op.f("ck_content_raw_kind")
        ),
    )


def downgrade() -> None:
    for table in (
        "content_raw",
        "revenue_status",
        "post_forwards",
        "post_timeline",
        "post_stats",
        "posts",
        "channel_hourly",
    ):
        op.drop_table(table)
