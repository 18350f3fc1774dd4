"""The code location as a Dagster user meets it: lazy, and loadable with no environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _bare_environment(**extra: str) -> dict[str, str]:
    """Nothing of the project's set, as in a fresh shell."""
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TGSTATS_", "MTPROTO_", "DAGSTER_", "TG_"))
    }
    return {**keep, **extra}


def test_importing_the_definitions_starts_nothing_and_writes_nothing(tmp_path: Path) -> None:
    probe = (
        "import os, dagster, tgstats_dagster.definitions\n"
        "children = open(f'/proc/{os.getpid()}/task/{os.getpid()}/children').read().split()\n"
        "print(sorted(os.listdir('.')), children)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=_bare_environment(TGSTATS_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[] []"  # no file written, no process started
    assert not (tmp_path / "home").exists()


def test_dagster_validates_the_definitions_in_the_repository_root(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "tgstats_dagster.definitions"],
        cwd=ROOT,
        env=_bare_environment(TGSTATS_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        assert "Validation successful" in done.stdout + done.stderr
    finally:
        from tgstats_dagster.warehouse.server import stop_embedded_server

        stop_embedded_server(home)
