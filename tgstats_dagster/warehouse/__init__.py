"""The PostgreSQL side: tables, migrations, the embedded server, upserts, the IO manager.

Nothing in this package imports the Telegram side.
"""
