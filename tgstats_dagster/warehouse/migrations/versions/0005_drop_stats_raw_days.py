"""Drop ``stats_raw_days``: which snapshot each (peer, day) partition held.

The raw snapshot is now partitioned by stats peer and materialized once per snapshot, and
each ``channel_daily`` row names the snapshot that wrote it, so nothing reads this table any
more. Its rows were bookkeeping only (derivable from ``channel_daily`` and
``stats_snapshots``); no data is lost.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("stats_raw_days")


def downgrade() -> None:
    """Recreate the table, empty: no code since revision 0002 reads it."""
    op.create_table(
        "stats_raw_days",
        sa.Column("peer_key", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("peer_key", "day", name="pk_stats_raw_days"),
    )
