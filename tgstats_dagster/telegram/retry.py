"""The one retry policy of the Telegram side: what is retried, how long it waits, when it stops.

The TelegramClient is configured not to retry or sleep by itself (connect.client_options), so
this policy is the only one, and it applies the same on the home DC (Telethon's ``_call``) and
on the exported senders of other DCs (where Telethon never retried or slept anyway):

- a transient failure (Telegram's 5xx errors such as ``CHP_CALL_FAIL``, ``TIMEOUT``, a dropped
  connection) is sent again after an exponential backoff, at most ``retries`` times;
- ``FLOOD_WAIT_X`` with X up to ``flood_sleep_threshold`` is slept, then sent again (each such
  wait uses one of the ``retries`` too, so a request cannot loop forever);
- ``FLOOD_WAIT_X`` with X over the threshold raises FloodWaitTooLong at once;
- anything else is raised unchanged.

Every attempt is bounded by ``request_timeout``: Telethon waits for an answer as long as it
takes, so a request that Telegram never answers would hold its peer's work (and the run)
forever. An attempt that takes longer is abandoned and counts as a dropped connection
(NoAnswer): retried like one, and when the retries are used up the peer's work fails naming
the request and "no answer within N s".

When the retries are used up, TelegramRequestFailed names the request, the peer and the last
cause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telethon import errors

from tgstats_dagster.telegram.errors import FloodWaitTooLong, TelegramRequestFailed, describe

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Failures worth another try after a pause: Telegram's internal (5xx) errors and a dropped
#: connection (ConnectionError is an OSError; IncompleteReadError an EOFError).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    errors.ServerError,
    errors.RpcCallFailError,
    errors.RpcMcgetFailError,
    errors.InterdcCallErrorError,
    errors.InterdcCallRichErrorError,
    errors.TimedOutError,
    asyncio.IncompleteReadError,
    OSError,
)
FLOOD_ERRORS: tuple[type[BaseException], ...] = (
    errors.FloodWaitError,
    errors.FloodPremiumWaitError,
)
#: Seconds an attempt may wait for its answer (MTPROTO_REQUEST_TIMEOUT's default).
REQUEST_TIMEOUT = 60


class NoAnswer(ConnectionError):
    """Telegram did not answer a request within the policy's ``request_timeout``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


#: Flood waits longer than this are logged at WARNING (they hold the work up visibly).
LONG_WAIT_SECONDS = 5

Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class RetryPolicy:
    """How requests are retried; ``sleep`` is how waits are waited (tests record them)."""

    retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    flood_sleep_threshold: int = 60
    request_timeout: float = REQUEST_TIMEOUT
    sleep: Sleep = field(default=asyncio.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retries and delays must not be negative")
        if self.flood_sleep_threshold < 0:
            raise ValueError("flood_sleep_threshold must not be negative")
        if self.request_timeout <= 0:
            raise ValueError("request_timeout must be positive")

    def backoff(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1, 2, ...) after a transient failure."""
        return float(min(self.base_delay * 2 ** (retry - 1), self.max_delay))

    async def _bounded(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()``, abandoned (NoAnswer) after ``request_timeout`` seconds."""
        started = time.monotonic()
        try:
            return await asyncio.wait_for(attempt(), self.request_timeout)
        except asyncio.TimeoutError as exc:
            if time.monotonic() - started < self.request_timeout:
                raise  # the attempt's own timeout, not this one
            raise NoAnswer(self.request_timeout) from exc

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        what: str,
        peer: str | None = None,
        dc: int | None = None,
    ) -> T:
        """``attempt()`` until it succeeds, under this policy.

        ``what`` names the request in errors (``GetBroadcastStatsRequest``, ``connect``);
        ``peer`` the peer it is for and ``dc`` where it is sent, if known (for logs).
        """
        where = f"{what}@dc{dc}" if dc is not None else what
        if peer:
            where += f" (peer {peer})"
        retry = 0
        while True:
            try:
                return await self._bounded(attempt)
            except FLOOD_ERRORS as exc:
                seconds = max(int(exc.seconds), 1)  # FLOOD_WAIT_0 has been seen: wait 1 s
                if seconds > self.flood_sleep_threshold:
                    raise FloodWaitTooLong(seconds, what, peer, self.flood_sleep_threshold) from exc
                if retry >= self.retries:
                    raise TelegramRequestFailed(peer, what, exc) from exc
                retry += 1
                level = logging.WARNING if seconds > LONG_WAIT_SECONDS else logging.INFO
                log.log(
                    level,
                    "flood wait of %d s on %s (within the threshold of %d s): sleeping",
                    seconds,
                    where,
                    self.flood_sleep_threshold,
                )
                await self.sleep(seconds)
            except TRANSIENT_ERRORS as exc:
                if retry >= self.retries:
                    raise TelegramRequestFailed(peer, what, exc) from exc
                retry += 1
                delay = self.backoff(retry)
                log.warning(
                    "%s failed (%s); retry %d/%d in %.1f s",
                    where,
                    describe(exc),
                    retry,
                    self.retries,
                    delay,
                )
                await self.sleep(delay)
