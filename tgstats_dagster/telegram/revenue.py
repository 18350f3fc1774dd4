"""A channel's Stars and TON revenue: ``payments.getStarsRevenueStats(peer, ton)``.

Asked on the home DC, once with ``ton`` false (Stars) and once true (TON), as TDLib does.
A channel that is not monetized, or an account that is not its owner, gets
CHAT_ADMIN_REQUIRED: that is a state (NoRevenue), never a failure. A currency refused while
the other answers is left out. Async graph tokens (Telegram sends these graphs inline so
far) are loaded on the peer's stats DC, like every graph token.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from tgstats_dagster.telegram.content_models import (
    Currency,
    CurrencyRevenue,
    NoRevenue,
    RevenueStats,
)
from tgstats_dagster.telegram.errors import (
    PeerNotFound,
    StatsUnavailable,
    cause_text,
)
from tgstats_dagster.telegram.models import PeerInfo, RawGraph
from tgstats_dagster.telegram.stats_route import StaleToken, StatsRoute, missing

REVENUE_GRAPHS = ("revenue_graph", "top_hours_graph")
NANOS = Decimal(1_000_000_000)
_REFUSED = (errors.ChatAdminRequiredError, errors.ChannelPrivateError)


def amount(value: Any) -> Decimal:
    """A StarsAmount (whole stars + nanos, same sign) or StarsTonAmount (nanotons)."""
    if isinstance(value, types.StarsAmount):
        return Decimal(value.amount) + Decimal(value.nanos) / NANOS
    if isinstance(value, types.StarsTonAmount):
        return Decimal(value.amount)
    raise TypeError(f"not a revenue amount: {type(value).__name__}")


class RevenueFetcher:
    """Fetches revenue statistics through a StatsRoute (its transport for the home DC)."""

    def __init__(self, route: StatsRoute) -> None:
        self._route = route

    async def fetch(
        self, peer: PeerInfo, counter: Counter[str] | None = None
    ) -> RevenueStats | NoRevenue:
        """Both currencies' revenue, or NoRevenue when Telegram refuses both.

        Raises PeerNotFound, FloodWaitTooLong, TelegramRequestFailed or StatsUnavailable.
        """
        counter = Counter() if counter is None else counter
        fetched_at = datetime.now(timezone.utc)
        currencies: list[CurrencyRevenue] = []
        refusals: list[str] = []
        for currency in ("stars", "ton"):
            answer = await self._ask(peer, currency, counter)
            if isinstance(answer, str):
                refusals.append(answer)
            else:
                currencies.append(await self._currency(peer, currency, answer, counter))
        if not currencies:
            return NoRevenue(
                f"Telegram says {refusals[0]} to GetStarsRevenueStatsRequest (the channel is "
                "not monetized, or this account is not its owner)"
            )
        return RevenueStats(fetched_at=fetched_at, currencies=tuple(currencies))

    async def _ask(self, peer: PeerInfo, currency: Currency, counter: Counter[str]) -> Any:
        """The StarsRevenueStats of one currency, or Telegram's refusal text."""
        channel = types.InputPeerChannel(peer.channel_id, peer.access_hash)
        ton = currency == "ton"
        request = functions.payments.GetStarsRevenueStatsRequest(peer=channel, ton=ton)
        name = type(request).__name__
        try:
            return await self._route.transport.send(request, peer=peer.key, counter=counter)
        except _REFUSED as exc:
            return cause_text(exc)
        except errors.ChannelInvalidError as exc:
            raise PeerNotFound(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.RPCError as exc:
            raise StatsUnavailable(peer.key, name, exc) from exc

    async def _currency(
        self, peer: PeerInfo, currency: Currency, stats: Any, counter: Counter[str]
    ) -> CurrencyRevenue:
        status = stats.status
        graphs: list[RawGraph] = []
        for field in REVENUE_GRAPHS:
            value = getattr(stats, field, None)
            if value is None:
                continue  # top_hours_graph is optional
            try:
                graphs.append(await self._route.graph(peer, field, value, counter))
            except StaleToken as exc:
                graphs.append(missing(field, str(exc)))
        next_withdrawal = status.next_withdrawal_at
        return CurrencyRevenue(
            currency=currency,
            current_balance=amount(status.current_balance),
            available_balance=amount(status.available_balance),
            overall_revenue=amount(status.overall_revenue),
            usd_rate=None if stats.usd_rate is None else Decimal(repr(float(stats.usd_rate))),
            withdrawal_enabled=bool(status.withdrawal_enabled),
            next_withdrawal_at=(
                None
                if next_withdrawal is None
                else datetime.fromtimestamp(int(next_withdrawal), tz=timezone.utc)
            ),
            graphs=tuple(graphs),
        )
