"""The PostgreSQL side: tables, migrations, the embedded server, upserts, stores, IO manager.

Nothing in this package imports the Telegram side.
"""
