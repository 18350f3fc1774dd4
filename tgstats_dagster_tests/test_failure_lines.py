"""The line of a step's error that the command's summary shows for each peer."""

from tgstats_dagster.cli.runner import _summary_line

DATABASE_ERROR = (
    "sqlalchemy.exc.OperationalError: (psycopg2.errors.ProgramLimitExceeded) index row size "
    '3344 exceeds btree version 4 maximum 2704 for index "idx_run_tags"\n'
    'DETAIL:  Index row references tuple (0,14) in relation "run_tags".\n\n'
    "[SQL: INSERT INTO run_tags (run_id, key, value) VALUES (%(run_id)s, %(key)s, %(value)s)]\n"
    "[parameters: {'run_id': '5aee', 'key': 'tgstats/changed_days'}]\n"
    "(Background on this error at: https://sqlalche.me/e/21/e3q8)\n"
)


def test_a_database_error_shows_postgresqls_message_not_sqlalchemys_link() -> None:
    line = _summary_line(DATABASE_ERROR)
    assert "index row size 3344 exceeds btree" in line
    assert "sqlalche.me" not in line


def test_other_errors_show_their_last_line() -> None:
    assert _summary_line("while loading peers\nValueError: 'x y' is not a username\n") == (
        "ValueError: 'x y' is not a username"
    )
    assert _summary_line("  \n") == "unknown error"
