"""Graph payloads: which ones jsonb can hold, and the exact bytes of the others.

Whatever Telegram sends is kept. A payload goes into ``stats_raw.data`` (jsonb) only when
PostgreSQL takes it and keeps every value; otherwise ``stats_raw.data_raw`` holds its
exact bytes. The decision is made here, in Python, before the COPY: a payload PostgreSQL
refused mid-COPY would fail the whole snapshot, not just its own graph.

jsonb cannot hold: text that is not JSON, NaN and Infinity, the escape ``\\u0000``, lone
surrogates (escaped or raw), a raw NUL, numbers beyond PostgreSQL's numeric range, and deep
nesting (PostgreSQL's limit depends on the server's ``max_stack_depth``; the bound here is
far below it). An object with a repeated key goes to ``data_raw`` too: jsonb keeps only the
last value of the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from itertools import accumulate
from typing import Any

MAX_JSONB_DEPTH = 200
"""Deepest nesting of arrays and objects stored as jsonb."""

# Exponent bound of the numbers stored as jsonb, well inside PostgreSQL's numeric range.
_MAX_EXPONENT = 1000
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# A NUL or a UTF-16 surrogate: PostgreSQL text holds neither.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class _Unstorable(ValueError):
    """The payload is JSON that jsonb would refuse or alter."""


def _depth(payload: str) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", payload))
    return max(accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def _refuse_constant(name: str) -> Any:
    raise _Unstorable(f"{name} is not JSON jsonb holds")


def _number(text: str) -> Decimal:
    number = Decimal(text)
    if number and abs(number.adjusted()) > _MAX_EXPONENT:
        raise _Unstorable(f"{text[:20]} is beyond the numeric range")
    return number


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise _Unstorable("an object repeats a key")
    return dict(pairs)


def _strings(value: Any) -> Iterator[str]:
    """Every string of a parsed payload: keys and values, at any depth."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            yield from item
            pending.extend(item.values())


def fits_jsonb(payload: str) -> bool:
    """Whether ``payload`` is JSON that jsonb holds without losing or refusing anything."""
    if _UNSTORABLE.search(payload) or _depth(payload) > MAX_JSONB_DEPTH:
        return False
    try:
        parsed = json.loads(
            payload,
            parse_constant=_refuse_constant,
            parse_float=_number,
            parse_int=_number,
            object_pairs_hook=_object,
        )
    except ValueError:
        return False
    return not any(_UNSTORABLE.search(text) for text in _strings(parsed))


def payload_bytes(payload: str) -> bytes:
    """The payload's exact bytes (lone surrogates kept as their UTF-8 style encoding)."""
    return payload.encode("utf-8", "surrogatepass")


def payload_text(raw: bytes) -> str:
    """The payload of :func:`payload_bytes`, as it was."""
    return raw.decode("utf-8", "surrogatepass")


def stored_payload(payload: str | None) -> tuple[str | None, bytes | None]:
    """``(data, data_raw)`` of a payload: jsonb text when jsonb holds it, else its exact bytes."""
    if payload is None or fits_jsonb(payload):
        return payload, None
    return None, payload_bytes(payload)
