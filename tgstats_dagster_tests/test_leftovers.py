"""The suite's check that nothing is left running, on real pytest sessions in a subprocess."""

from __future__ import annotations

import psutil
import pytest

pytest_plugins = ["pytester"]

#: a test that leaves an orphan behind: a shell that starts ``sleep`` in the background and exits
LEAKY_TEST = """
import subprocess, sys

def test_leaks(tmp_path):
    pid_file = tmp_path / "pid"
    subprocess.run(
        ["sh", "-c", f"sleep 300 & echo $! > {pid_file}"], check=True, timeout=30
    )
    (tmp_path.parent.parent / "leaked.pid").write_text(pid_file.read_text())
"""

TIDY_TEST = """
import subprocess

def test_waits():
    subprocess.run(["sh", "-c", "sleep 0.1 & wait"], check=True, timeout=30)
"""


def test_an_orphan_fails_the_session_is_named_and_killed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LEAKY_TEST)
    result = pytester.runpytest_subprocess(
        "-p", "tgstats_dagster_tests.leftovers", f"--basetemp={pytester.path / 'tmp'}"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*processes left running*", "*pid * sleep 300*"])
    pid = int(next(pytester.path.rglob("leaked.pid")).read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_tidy_session_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TIDY_TEST)
    result = pytester.runpytest_subprocess("-p", "tgstats_dagster_tests.leftovers")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "processes left running" not in result.stdout.str()
