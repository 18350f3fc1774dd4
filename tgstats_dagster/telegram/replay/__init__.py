"""The offline Telegram: scenario folders answered through Telethon's real request path.

The scenario format, with every fault it can simulate, is documented for its users in
docs/scenario-format.md.

Use ``ReplayTelegram.load(folder, log_path)`` for the server side and
``replay_client(telegram, **options)`` for a TelegramClient wired to it.

Faults (scenario.json ``faults``, or ``ReplayTelegram.add_fault``): the next ``times``
requests of that TL request class (optionally only for one ``peer`` key and/or one ``dc``)
fail with the RPC error ``error`` (its code is Telegram's for that message: 420 for
``FLOOD_WAIT_X``, 303 for ``*_MIGRATE_X``, 500 for ``*_FAIL``, else 400; ``code`` overrides).
The error ``CONNECTION_DROPPED`` makes the sender fail the request with ConnectionError, as
a connection lost mid-request does; ``NO_ANSWER`` leaves the request unanswered (in flight
until the client gives up on it, or disconnects). Scenario option ``latency`` (seconds) delays every
answer, which makes concurrency observable (``ReplayTelegram.max_in_flight``).
"""

from pathlib import Path

from tgstats_dagster.telegram.replay.client import replay_client
from tgstats_dagster.telegram.replay.scenario import (
    CONNECTION_DROPPED,
    NO_ANSWER,
    Fault,
    Scenario,
    ScenarioError,
    ScenarioPeer,
    derived_access_hash,
    load_scenario,
)
from tgstats_dagster.telegram.replay.sender import ReplaySender
from tgstats_dagster.telegram.replay.telegram import ReplayRpcError, ReplayTelegram

#: The bundled demo scenario (synthetic data, written by scripts/make_demo_scenario.py).
DEMO_SCENARIO_DIR = Path(__file__).resolve().parents[1] / "demo_scenario"

__all__ = [
    "CONNECTION_DROPPED",
    "DEMO_SCENARIO_DIR",
    "NO_ANSWER",
    "Fault",
    "ReplayRpcError",
    "ReplaySender",
    "ReplayTelegram",
    "Scenario",
    "ScenarioError",
    "ScenarioPeer",
    "derived_access_hash",
    "load_scenario",
    "replay_client",
]
