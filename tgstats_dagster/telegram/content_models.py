"""Plain values of a channel's statistics beyond its stats snapshot (no Telethon inside).

Zoomed graphs (the hourly detail of a day), posts and stories with their own statistics and
public forwards, and Stars and TON revenue. Each value keeps what Telegram sent exactly
(``RawGraph``), so nothing is lost between the fetch and the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from tgstats_dagster.telegram.models import RawGraph

#: A channel message, or a story of the channel.
PostKind = Literal["message", "story"]
#: ``payments.getStarsRevenueStats`` with ``ton`` false (``stars``) or true (``ton``).
Currency = Literal["stars", "ton"]


@dataclass(frozen=True)
class ZoomedGraph:
    """One ``stats.loadAsyncGraph(zoom_token, x)`` answer: the hourly detail around ``day``.

    ``graph.kind`` is ``inline`` (the zoom), ``error`` (Telegram's StatsGraphError, such as
    ``NOT_ENOUGH_DATA`` for a day without detail) or ``missing`` (it could not be loaded:
    asked again next time). A zoom usually spans several days around the day asked.
    """

    field: str  # the zoomed graph's TL field, e.g. "growth_graph"
    day: date  # the day asked (its 00:00 UTC is the request's x)
    graph: RawGraph
    fetched_at: datetime  # UTC, aware


@dataclass(frozen=True)
class Post:
    """A channel's message (``messages.getHistory``) or story (``stories.getStoriesArchive``)."""

    kind: PostKind
    post_id: int
    published_at: datetime  # UTC, aware
    views: int | None
    forwards: int | None
    replies: int | None
    reactions: int | None  # the total of all reactions
    reactions_by_emoji: dict[str, int]
    text: str | None  # the message's text or the story's caption, as sent
    fetched_at: datetime  # when these counters were read


@dataclass(frozen=True)
class PublicForward:
    """One public forward of a post or story (``stats.get*PublicForwards``)."""

    source_kind: PostKind  # a channel's message, or a story that reposts it
    source_channel_id: int
    source_message_id: int  # the message's id, or the story's
    forwarded_at: datetime
    views: int | None
    title: str | None
    username: str | None


@dataclass(frozen=True)
class PostStats:
    """A post's or story's own statistics: its graphs and every public forward.

    Complete unless ``missing`` names a graph or the forwards (``public_forwards``) that kept
    failing; an incomplete one is fetched again next time.
    """

    kind: PostKind
    post_id: int
    graphs: tuple[RawGraph, ...]  # views_graph, reactions_by_emotion_graph
    forwards: tuple[PublicForward, ...]
    fetched_at: datetime
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class CurrencyRevenue:
    """``payments.starsRevenueStats`` of one currency: its balances and graphs.

    Amounts as Telegram gives them: Stars in whole stars with their nanos as the fraction,
    TON in nanotons.
    """

    currency: Currency
    current_balance: Decimal
    available_balance: Decimal
    overall_revenue: Decimal
    usd_rate: Decimal | None
    withdrawal_enabled: bool
    next_withdrawal_at: datetime | None
    graphs: tuple[RawGraph, ...]  # revenue_graph, top_hours_graph


@dataclass(frozen=True)
class RevenueStats:
    """A monetized channel's revenue, Stars and TON, as fetched at ``fetched_at``."""

    fetched_at: datetime
    currencies: tuple[CurrencyRevenue, ...]


@dataclass(frozen=True)
class NoRevenue:
    """The channel has no revenue statistics for this account: a state, not a failure.

    Not monetized, or the account is not its owner (Telegram answers CHAT_ADMIN_REQUIRED).
    """

    reason: str


@dataclass(frozen=True)
class PeerContent:
    """Everything beyond the snapshot fetched for one peer in one run."""

    zooms: tuple[ZoomedGraph, ...] = ()
    posts: tuple[Post, ...] = ()
    post_stats: tuple[PostStats, ...] = ()
    revenue: RevenueStats | NoRevenue | None = None  # None: not asked
    requests: dict[str, int] = field(default_factory=dict)  # "<Request>@dc<N>" -> count
