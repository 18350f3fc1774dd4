"""tgstats-dagster: official Telegram channel and supergroup statistics, kept by Dagster."""

__version__ = "0.1.0"
