"""Each snapshot's figures beyond its graphs, one table each, filled from the stored snapshots.

- ``stats_figures``: one row per headline figure (``StatsAbsValueAndPrev`` or
  ``StatsPercentValue``) of a snapshot's ``scalars``.
- ``post_interactions``: one row per item of ``recent_posts_interactions`` (a post or a story).
- ``megagroup_tops``: one row per member of ``top_posters``, ``top_admins``, ``top_inviters``,
  with the name and username the response's ``users`` gives.

The snapshots stored before this revision fill the tables here, so an upgrade keeps the
history a user already has. The rules are the ones of ``tgstats_dagster.telegram.figures``,
written in SQL so that the upgrade is one statement per table and does not depend on code
that may change after it; a test checks that the two agree.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMPTZ = sa.DateTime(timezone=True)

_FILL_FIGURES = """
INSERT INTO stats_figures
    (channel_id, fetched_at, figure, current, previous, part, total, period_start, period_end)
SELECT s.channel_id, s.fetched_at, f.key,
       CASE WHEN jsonb_typeof(f.value -> 'current') = 'number'
            THEN (f.value ->> 'current')::numeric END,
       CASE WHEN jsonb_typeof(f.value -> 'previous') = 'number'
            THEN (f.value ->> 'previous')::numeric END,
       CASE WHEN jsonb_typeof(f.value -> 'part') = 'number'
            THEN (f.value ->> 'part')::numeric END,
       CASE WHEN jsonb_typeof(f.value -> 'total') = 'number'
            THEN (f.value ->> 'total')::numeric END,
       s.period_min, s.period_max
FROM stats_snapshots AS s, jsonb_each(s.scalars) AS f
WHERE jsonb_typeof(f.value) = 'object' AND f.value ?| array['current', 'previous', 'part', 'total']
ON CONFLICT DO NOTHING
"""

_FILL_POSTS = """
INSERT INTO post_interactions
    (channel_id, fetched_at, kind, post_id, views, forwards, reactions)
SELECT s.channel_id, s.fetched_at,
       CASE WHEN p.item ->> '_' = 'PostInteractionCountersStory' THEN 'story' ELSE 'message' END,
       CASE WHEN p.item ->> '_' = 'PostInteractionCountersStory'
            THEN (p.item ->> 'story_id')::bigint ELSE (p.item ->> 'msg_id')::bigint END,
       (p.item ->> 'views')::bigint, (p.item ->> 'forwards')::bigint,
       (p.item ->> 'reactions')::bigint
FROM stats_snapshots AS s,
     jsonb_array_elements(
         CASE WHEN jsonb_typeof(s.scalars -> 'recent_posts_interactions') = 'array'
              THEN s.scalars -> 'recent_posts_interactions' ELSE '[]' END
     ) WITH ORDINALITY AS p(item, position)
ORDER BY s.channel_id, s.fetched_at, p.position
ON CONFLICT DO NOTHING
"""

_FILL_TOPS = """
INSERT INTO megagroup_tops
    (channel_id, fetched_at, top, user_id, rank, messages, avg_chars, deleted, kicked, banned,
     invitations, first_name, last_name, username)
SELECT s.channel_id, s.fetched_at, t.top, (e.item ->> 'user_id')::bigint, e.position,
       (e.item ->> 'messages')::bigint, (e.item ->> 'avg_chars')::bigint,
       (e.item ->> 'deleted')::bigint, (e.item ->> 'kicked')::bigint,
       (e.item ->> 'banned')::bigint, (e.item ->> 'invitations')::bigint,
       u.person ->> 'first_name', u.person ->> 'last_name', u.person ->> 'username'
FROM stats_snapshots AS s
CROSS JOIN (VALUES ('posters'), ('admins'), ('inviters')) AS t(top)
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(s.scalars -> ('top_' || t.top)) = 'array'
         THEN s.scalars -> ('top_' || t.top) ELSE '[]' END
) WITH ORDINALITY AS e(item, position)
LEFT JOIN LATERAL (
    SELECT x.person
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(s.scalars -> 'users') = 'array'
             THEN s.scalars -> 'users' ELSE '[]' END
    ) WITH ORDINALITY AS x(person, position)
    WHERE x.person ->> 'id' = e.item ->> 'user_id'
    ORDER BY x.position
    LIMIT 1
) AS u ON true
ORDER BY s.channel_id, s.fetched_at, t.top, e.position
ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.create_table(
        "stats_figures",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("figure", sa.Text, nullable=False),
        sa.Column("current", sa.Numeric),
        sa.Column("previous", sa.Numeric),
        sa.Column("part", sa.Numeric),
        sa.Column("total", sa.Numeric),
        sa.Column("period_start", TIMESTAMPTZ, nullable=False),
        sa.Column("period_end", TIMESTAMPTZ, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "fetched_at", "figure", name="pk_stats_figures"),
    )
    op.create_table(
        "post_interactions",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("post_id", sa.BigInteger, nullable=False),
        sa.Column("views", sa.BigInteger, nullable=False),
        sa.Column("forwards", sa.BigInteger, nullable=False),
        sa.Column("reactions", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "channel_id", "fetched_at", "kind", "post_id", name="pk_post_interactions"
        ),
        sa.CheckConstraint("kind IN ('message', 'story')", name=op.f("ck_post_interactions_kind")),
    )
    op.create_table(
        "megagroup_tops",
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("fetched_at", TIMESTAMPTZ, nullable=False),
        sa.Column("top", sa.Text, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
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
        sa.PrimaryKeyConstraint(
            "channel_id", "fetched_at", "top", "user_id", name="pk_megagroup_tops"
        ),
        sa.CheckConstraint(
            "top IN ('posters', 'admins', 'inviters')", name=op.f("ck_megagroup_tops_top")
        ),
    )
    op.execute(_FILL_FIGURES)
    op.execute(_FILL_POSTS)
    op.execute(_FILL_TOPS)


def downgrade() -> None:
    op.drop_table("megagroup_tops")
    op.drop_table("post_interactions")
    op.drop_table("stats_figures")
