"""Ctrl-C in the first moments of a command: exit 130, one line, no traceback.

A command's first fraction of a second is spent importing (argparse, then Dagster, SQLAlchemy,
Telethon ...). The stop signals' handlers are installed before any of it, so a Ctrl-C there
ends the command as one later does. Each case starts the real entry point (the installed
``tgstats`` script, and ``python -m tgstats_dagster.cli``) with Python's import trace on
(``PYTHONPROFILEIMPORTTIME``: one stderr line per import, as it completes), and sends SIGINT
a small delay after the entry point's module is imported, as the command's own imports begin.
(Before that, the interpreter is still starting up, and a signal is Python's to handle.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.storage

TGSTATS = Path(sys.executable).parent / "tgstats"
ENTRY_POINTS = {
    "tgstats": [str(TGSTATS)],
    "python-m": [sys.executable, "-m", "tgstats_dagster.cli"],
}
#: The entry point's module: once imported (its trace line printed), the command's code runs.
ENTRY_MODULE = "tgstats_dagster.cli.entry"
DELAYS = (0.0, 0.005, 0.02, 0.05, 0.1, 0.3)
QUERY = "SELECT pg_sleep(60)"


def _start(entry: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*entry, "db", "sql", QUERY],
        env={**os.environ, **env, "PYTHONPROFILEIMPORTTIME": "1", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _until_imported(process: subprocess.Popen, module: str) -> list[str]:
    """Read the process's stderr up to the trace line of ``module``; the lines read."""
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("import time:") and line.split("|")[-1].strip() == module:
            return lines
    raise AssertionError(f"{module} was never imported:\n{''.join(lines)[-3000:]}")


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_an_early_ctrl_c_exits_130_with_one_line(
    pipeline_env: dict[str, str], entry: str, delay: float
) -> None:
    process = _start(ENTRY_POINTS[entry], pipeline_env)
    try:
        read = _until_imported(process, ENTRY_MODULE)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
    stderr = "".join(read).splitlines() + err.splitlines()
    said = [line for line in stderr if line.strip() and not line.startswith("import time:")]
    assert process.returncode == 130, "\n".join(said)[-3000:]
    assert "Traceback" not in err, "\n".join(said)[-3000:]
    assert said == ["tgstats: stopped"], said
    assert out == ""
