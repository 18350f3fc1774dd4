"""Errors users of the Telegram side see, each naming the peer, the request and the cause.

No message ever holds the session string or the API hash: they are built only from peer
keys, request class names and Telegram's error text.
"""

from __future__ import annotations

from telethon import errors as telethon_errors
from telethon.errors.rpcbaseerrors import base_errors
from telethon.errors.rpcerrorlist import rpc_errors_dict

#: Telethon error class -> Telegram's error string, for messages users read.
_RPC_NAMES = {cls: message for message, cls in rpc_errors_dict.items()}
_BASE_RPC_ERRORS = frozenset({telethon_errors.RPCError, *base_errors.values()})


def rpc_text(exc: BaseException) -> str | None:
    """Telegram's error string (``GRAPH_EXPIRED_RELOAD``) of an RPC error, else None."""
    if type(exc) in _RPC_NAMES:
        return _RPC_NAMES[type(exc)]
    if isinstance(exc, telethon_errors.RPCError) and type(exc) in _BASE_RPC_ERRORS:
        return str(exc.message) if exc.message else None  # no class for it: the text stays
    return None


def describe(exc: BaseException) -> str:
    """``CHP_CALL_FAIL (The statistics cannot be retrieved ...)`` or ``OSError: ...``."""
    name = rpc_text(exc)
    return f"{name} ({exc})" if name else f"{type(exc).__name__}: {exc}"


def cause_text(exc: BaseException) -> str:
    """The short cause kept with a graph that could not be loaded.

    Telegram's error string (``GRAPH_INVALID_RELOAD``), ``CONNECTION: ...`` for a dropped
    connection, ``FLOOD_WAIT_3600 (wait 3600 s)``; the cause of a TelegramRequestFailed.
    """
    if isinstance(exc, FloodWaitTooLong):
        return exc.text
    if isinstance(exc, TelegramRequestFailed):
        return cause_text(exc.cause)
    name = rpc_text(exc)
    if name:
        return name
    if isinstance(exc, (OSError, EOFError)):
        return f"CONNECTION: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


class TelegramStatsError(Exception):
    """Base class of the errors raised by the stats client."""


class FloodWaitTooLong(TelegramStatsError):
    """Telegram asked to wait longer than the flood sleep threshold allows this client to sleep."""

    def __init__(
        self, seconds: int, request_name: str, peer: str | None, threshold: int | None = None
    ) -> None:
        self.seconds = seconds
        self.request_name = request_name
        self.peer = peer
        self.threshold = threshold
        limit = "" if threshold is None else f" of {threshold} s"
        super().__init__(
            f"Telegram asks to wait {seconds} s before {request_name}"
            f"{f' for peer {peer}' if peer else ''}; that is over the flood sleep threshold"
            f"{limit} (MTPROTO_FLOOD_SLEEP_THRESHOLD), so this work stops here: retry it after "
            "the wait"
        )

    @property
    def text(self) -> str:
        """``FLOOD_WAIT_3600 (wait 3600 s)``: the short form kept with a graph it kept out."""
        return f"FLOOD_WAIT_{self.seconds} (wait {self.seconds} s)"


class NoStatsRights(TelegramStatsError):
    """The account may not read this peer's statistics."""

    def __init__(self, peer: str, reason: str) -> None:
        self.peer = peer
        self.reason = reason
        super().__init__(f"no statistics for peer {peer}: {reason}")


class PeerNotFound(TelegramStatsError):
    """A configured peer entry does not lead to a channel or supergroup."""

    def __init__(self, entry: str, reason: str = "no such username or channel id") -> None:
        self.entry = entry
        self.reason = reason
        super().__init__(f"peer {entry!r} not found: {reason}")


class TelegramRequestFailed(TelegramStatsError):
    """A request failed for good (after the retries it was entitled to)."""

    def __init__(self, peer: str | None, request_name: str, cause: BaseException) -> None:
        self.peer = peer
        self.request_name = request_name
        self.cause = cause
        super().__init__(
            f"{request_name}{f' for peer {peer}' if peer else ''} failed: {describe(cause)}"
        )


class StatsUnavailable(TelegramRequestFailed):
    """Telegram answered, but not with statistics this client can use."""


class PostNotFound(TelegramStatsError):
    """Telegram knows no such message or story of the peer (deleted, or never there)."""

    def __init__(self, peer: str, kind: str, post_id: int, reason: str) -> None:
        self.peer = peer
        self.kind = kind
        self.post_id = post_id
        self.reason = reason
        super().__init__(f"{kind} {post_id} of peer {peer} not found: {reason}")
