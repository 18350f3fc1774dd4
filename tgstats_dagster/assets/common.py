"""What the assets share: the group, the Telegram pool, and the flags-off no-op."""

from __future__ import annotations

import dagster as dg

GROUP = "telegram_stats"
# One pool for every step that talks to Telegram: dagster.yaml limits it across runs, so
# one account is never used by more steps at once than Telegram tolerates.
TELEGRAM_POOL = "telegram"


def flags_off(context: dg.AssetExecutionContext, reason: str | None) -> bool:
    """True (after saying why) when the feature flags make this step a no-op."""
    if reason is None:
        return False
    context.log.warning(f"nothing materialized: {reason}")
    return True
