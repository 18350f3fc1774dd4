"""The warehouse tables, defined once (SQLAlchemy Core).

The Alembic migrations create exactly these; a test compares the migrated database with
this metadata. Indexes serve the two questions asked most: a channel's days (the primary
key of ``channel_daily`` starts with ``channel_id, day``) and a day's channels
(``ix_channel_daily_day_peer``, which also serves the pipeline's reads by partition).

A peer is its channel: ``telegram_peers`` is keyed by ``channel_id``, and ``peer_key`` (the
configured entry that last named the channel) is a plain indexed column, so a renamed
username or an entry switched between ``@name`` and the numeric id reuses the row.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

TIMESTAMPTZ = sa.DateTime(timezone=True)

GRAPH_KINDS = ("inline", "async", "error", "missing")
"""How a graph of a snapshot came: loaded inline or async, a StatsGraphError, or not loaded."""

telegram_peers = sa.Table(
    "telegram_peers",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("peer_key", sa.Text, nullable=False, index=True),
    sa.Column("access_hash", sa.BigInteger, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("username", sa.Text),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("can_view_stats", sa.Boolean, nullable=False),
    sa.Column("stats_dc", sa.Integer),
    sa.Column("participants_count", sa.Integer),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False),
    sa.CheckConstraint("kind IN ('broadcast', 'megagroup')", name="kind"),
)

stats_snapshots = sa.Table(
    "stats_snapshots",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("peer_key", sa.Text, nullable=False),
    sa.Column("period_min", TIMESTAMPTZ, nullable=False),
    sa.Column("period_max", TIMESTAMPTZ, nullable=False),
    sa.Column("scalars", JSONB, nullable=False),
    # False when a graph could not be loaded; such a snapshot is never reused.
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("missing_graphs", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Index("ix_stats_snapshots_peer_key", "peer_key", "fetched_at"),
)

stats_raw = sa.Table(
    "stats_raw",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("graph", sa.Text, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("data", JSONB),
    # The payload's exact bytes, only when jsonb cannot hold it (``data`` is NULL then).
    sa.Column("data_raw", sa.LargeBinary),
    sa.Column("error", sa.Text),
    sa.Column("zoom_token", sa.Text),
    # 'missing': a graph whose load failed; its ``error`` says why.
    sa.CheckConstraint(f"kind IN ({', '.join(map(repr, GRAPH_KINDS))})", name="kind"),
)

channel_daily = sa.Table(
    "channel_daily",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("peer_key", sa.Text, nullable=False),
    sa.Column("value", sa.Numeric),
    sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
    sa.Index("ix_channel_daily_day_peer", "day", "peer_key"),
)

#: The headline figures of a stats response, by TL field name (``StatsAbsValueAndPrev`` fills
#: ``current`` and ``previous``; ``StatsPercentValue`` fills ``part`` and ``total``).
stats_figures = sa.Table(
    "stats_figures",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("figure", sa.Text, primary_key=True),
    sa.Column("current", sa.Numeric),
    sa.Column("previous", sa.Numeric),
    sa.Column("part", sa.Numeric),
    sa.Column("total", sa.Numeric),
    sa.Column("period_start", TIMESTAMPTZ, nullable=False),
    sa.Column("period_end", TIMESTAMPTZ, nullable=False),
)

POST_KINDS = ("message", "story")
"""What ``recent_posts_interactions`` counts: a channel post or a story."""

post_interactions = sa.Table(
    "post_interactions",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("post_id", sa.BigInteger, primary_key=True),
    sa.Column("views", sa.BigInteger, nullable=False),
    sa.Column("forwards", sa.BigInteger, nullable=False),
    sa.Column("reactions", sa.BigInteger, nullable=False),
    sa.CheckConstraint(f"kind IN ({', '.join(map(repr, POST_KINDS))})", name="kind"),
)

TOPS = ("posters", "admins", "inviters")
"""A supergroup's tops: ``top_posters``, ``top_admins``, ``top_inviters`` without ``top_``."""

megagroup_tops = sa.Table(
    "megagroup_tops",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("top", sa.Text, primary_key=True),
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    # The position in Telegram's list, from 1.
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("messages", sa.BigInteger),
    sa.Column("avg_chars", sa.BigInteger),
    sa.Column("deleted", sa.BigInteger),
    sa.Column("kicked", sa.BigInteger),
    sa.Column("banned", sa.BigInteger),
    sa.Column("invitations", sa.BigInteger),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("username", sa.Text),
    sa.CheckConstraint(f"top IN ({', '.join(map(repr, TOPS))})", name="top"),
)


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(map(repr, values))})", name=column)


#: Every hourly point of every zoomed graph (``stats.loadAsyncGraph(zoom_token, x)``), named
#: like ``channel_daily``'s metrics. Zooms overlap (one spans the days around the day asked):
#: they agree, or the newest fetch wins.
channel_hourly = sa.Table(
    "channel_hourly",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    # On the hour, UTC.
    sa.Column("hour", TIMESTAMPTZ, primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("value", sa.Numeric),
    # When the zoom that wrote the value was fetched.
    sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
)

#: A channel's posts (``messages.getHistory``) and stories (``stories.getStoriesArchive``)
#: with their newest counters.
posts = sa.Table(
    "posts",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("post_id", sa.BigInteger, primary_key=True),
    sa.Column("published_at", TIMESTAMPTZ, nullable=False),
    sa.Column("views", sa.BigInteger),
    sa.Column("forwards", sa.BigInteger),
    sa.Column("replies", sa.BigInteger),
    # The total of all reactions; ``reactions_by_emoji`` holds each one's count.
    sa.Column("reactions", sa.BigInteger),
    sa.Column("reactions_by_emoji", JSONB),
    # The post's text or the story's caption, as Telegram sends it.
    sa.Column("text", sa.Text),
    # When the counters were fetched.
    sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
    _one_of("kind", POST_KINDS),
    sa.Index("ix_posts_channel_id", "channel_id", "published_at"),
)

#: Whether a post's statistics (its graphs and public forwards) are loaded for good. A row
#: exists once they were fetched; ``complete`` is false while a graph or a page of forwards
#: kept failing (``missing`` names them), and such a post is fetched again. ``settled``: they
#: were fetched complete when the post was old enough to stop changing; never fetched again.
post_stats = sa.Table(
    "post_stats",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("post_id", sa.BigInteger, primary_key=True),
    sa.Column("complete", sa.Boolean, nullable=False),
    sa.Column("settled", sa.Boolean, nullable=False),
    sa.Column("missing", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
    _one_of("kind", POST_KINDS),
    sa.CheckConstraint("NOT settled OR complete", name="settled_complete"),
)

#: Every point of a post's ``views_graph`` and ``reactions_by_emotion_graph``, whatever the step.
post_timeline = sa.Table(
    "post_timeline",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("post_id", sa.BigInteger, primary_key=True),
    sa.Column("ts", TIMESTAMPTZ, primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("value", sa.Numeric),
    sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
    _one_of("kind", POST_KINDS),
)

#: Each public forward of a post or story: a channel's message, or a story that reposts it
#: (``source_kind`` ``story``; ``source_message_id`` is then the story's id).
post_forwards = sa.Table(
    "post_forwards",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("post_id", sa.BigInteger, primary_key=True),
    sa.Column("source_channel_id", sa.BigInteger, primary_key=True),
    sa.Column("source_message_id", sa.BigInteger, primary_key=True),
    sa.Column("source_kind", sa.Text, nullable=False, server_default="message"),
    sa.Column("forwarded_at", TIMESTAMPTZ, nullable=False),
    sa.Column("views", sa.BigInteger),
    sa.Column("title", sa.Text),
    sa.Column("username", sa.Text),
    sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
    sa.Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=sa.func.now()),
    _one_of("kind", POST_KINDS),
    _one_of("source_kind", POST_KINDS),
    # Who forwards a channel's posts, across the channels kept.
    sa.Index("ix_post_forwards_source_channel_id", "source_channel_id", "forwarded_at"),
)

CURRENCIES = ("stars", "ton")
"""``payments.getStarsRevenueStats`` with ``ton`` false (Stars) and true (TON)."""

#: A monetized channel's balances, one row set per fetch. Amounts as Telegram gives them:
#: Stars in whole stars (their nanos as the fraction), TON in nanotons.
revenue_status = sa.Table(
    "revenue_status",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("current_balance", sa.Numeric, nullable=False),
    sa.Column("available_balance", sa.Numeric, nullable=False),
    sa.Column("overall_revenue", sa.Numeric, nullable=False),
    sa.Column("usd_rate", sa.Numeric),
    sa.Column("withdrawal_enabled", sa.Boolean, nullable=False),
    sa.Column("next_withdrawal_at", TIMESTAMPTZ),
    _one_of("currency", CURRENCIES),
)

#: The raw payload of every graph beyond a channel's stats snapshot, exactly as sent and
#: written once, like ``stats_raw``. ``source`` says where it comes from: ``zoom:<YYYY-MM-DD>``
#: (the zoom of that day), ``message:<id>``, ``story:<id>``, ``revenue:stars``, ``revenue:ton``.
content_raw = sa.Table(
    "content_raw",
    metadata,
    sa.Column("channel_id", sa.BigInteger, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("graph", sa.Text, primary_key=True),
    sa.Column("fetched_at", TIMESTAMPTZ, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("data", JSONB),
    # The payload's exact bytes, only when jsonb cannot hold it (``data`` is NULL then).
    sa.Column("data_raw", sa.LargeBinary),
    sa.Column("error", sa.Text),
    sa.Column("zoom_token", sa.Text),
    _one_of("kind", GRAPH_KINDS),
)

TABLES: dict[str, sa.Table] = {t.name: t for t in metadata.sorted_tables}
