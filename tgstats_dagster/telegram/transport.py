"""Sending one request to a data centre under the retry policy, counting every attempt."""

from __future__ import annotations

from collections import Counter
from typing import Any

from telethon import TelegramClient
from telethon.tl.tlobject import TLRequest

from tgstats_dagster.telegram import dc as dc_routing
from tgstats_dagster.telegram.retry import RetryPolicy


def request_label(request: TLRequest, dc_id: int) -> str:
    """``GetBroadcastStatsRequest@dc4``: how requests are counted."""
    return f"{type(request).__name__}@dc{dc_id}"


class Transport:
    """Sends requests on the home DC (the normal client call) or on another DC (an exported
    sender, dc.py), both under one RetryPolicy."""

    def __init__(self, client: TelegramClient, policy: RetryPolicy) -> None:
        self.client = client
        self.policy = policy
        #: Every request sent (each attempt), "<RequestName>@dc<N>" -> count.
        self.requests: Counter[str] = Counter()

    @property
    def home_dc(self) -> int:
        return dc_routing.home_dc(self.client)

    async def send(
        self,
        request: TLRequest,
        *,
        dc: int | None = None,
        peer: str | None = None,
        counter: Counter[str] | None = None,
    ) -> Any:
        """Send on ``dc`` (home when None); each attempt is counted here and in ``counter``."""
        home = self.home_dc
        target = home if dc is None else dc
        label = request_label(request, target)

        async def attempt() -> Any:
            self.requests[label] += 1
            if counter is not None:
                counter[label] += 1
            if target == home:
                return await self.client(request)
            return await dc_routing.send_on_dc(self.client, target, request)

        return await self.policy.run(attempt, what=type(request).__name__, peer=peer, dc=target)
