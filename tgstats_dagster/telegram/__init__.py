"""The Telegram side: MTProto stats through Telethon, graph parsing, the offline Telegram.

Nothing in this package imports Dagster.
"""
