"""Which payloads jsonb holds: decided in Python, checked against PostgreSQL itself."""

from __future__ import annotations

import psycopg
import pytest

from tgstats_dagster.warehouse.payloads import (
    MAX_JSONB_DEPTH,
    fits_jsonb,
    payload_bytes,
    payload_text,
)
from tgstats_dagster.warehouse.server import libpq_url

HELD = [
    '{"columns": [["x", 1], ["y0", 2.5]], "names": {"y0": "Views 👍"}}',
    '["\\ud83d\\ude00", "\\u00e9", "[not a bracket"]',
    '{"big": 123456789012345678901234567890, "small": 1e-300}',
    "[" * MAX_JSONB_DEPTH + "]" * MAX_JSONB_DEPTH,
    '"text"',
]
NOT_HELD = {
    "not JSON": "<html>502</html>",
    "empty": "",
    "NaN": "[NaN]",
    "Infinity": '{"y": -Infinity}',
    "NUL escape": '["\\u0000"]',
    "NUL escape in a key": '{"\\u0000": 1}',
    "lone high surrogate escape": '["\\ud800"]',
    "lone low surrogate escape": '["\\udc00 x"]',
    "raw NUL": '["\x00"]',
    "raw lone surrogate": '["\ud800"]',
    "too deep": "[" * (MAX_JSONB_DEPTH + 1) + "]" * (MAX_JSONB_DEPTH + 1),
    "far too deep": "{" + '"a":[' * 5000 + "]" * 5000 + "}",
    "beyond numeric": "[1e200000]",
    "repeated key": '{"a": 1, "a": 2}',
}


@pytest.mark.parametrize("payload", HELD)
def test_jsonb_holds_these(payload: str) -> None:
    assert fits_jsonb(payload)


@pytest.mark.parametrize("payload", NOT_HELD.values(), ids=NOT_HELD.keys())
def test_jsonb_cannot_hold_these(payload: str) -> None:
    assert not fits_jsonb(payload)


@pytest.mark.parametrize("payload", [*HELD, *NOT_HELD.values()])
def test_the_bytes_give_the_payload_back(payload: str) -> None:
    assert payload_text(payload_bytes(payload)) == payload


# What PostgreSQL itself refuses as jsonb (the raw characters cannot even be sent as text;
# deep nesting is refused only past the server's stack limit, far beyond MAX_JSONB_DEPTH).
POSTGRESQL_REFUSES = [
    "not JSON",
    "empty",
    "NaN",
    "Infinity",
    "NUL escape",
    "NUL escape in a key",
    "lone high surrogate escape",
    "lone low surrogate escape",
    "beyond numeric",
]


@pytest.mark.storage
def test_postgresql_takes_what_is_held_and_refuses_or_alters_the_rest(pg_admin_url: str) -> None:
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        for payload in HELD:  # the deepest nesting kept as jsonb included
            conn.execute("SELECT %s::text::jsonb", (payload,))
        for name in POSTGRESQL_REFUSES:
            with pytest.raises(psycopg.DataError):
                conn.execute("SELECT %s::text::jsonb", (NOT_HELD[name],))
                pytest.fail(f"PostgreSQL took {name}")
        row = conn.execute("SELECT %s::text::jsonb::text", (NOT_HELD["repeated key"],)).fetchone()
    assert row == ('{"a": 2}',)
