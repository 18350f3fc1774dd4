"""The package builds without a warning from its own packaging, and carries its data files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_cleanly_with_its_data_files(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves build/ behind in the folder it builds.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tgstats", "build", "test-artifacts", "*.egg-info", "__pycache__"
        ),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    output = built.stdout + built.stderr
    assert "BuildBackendWarning" not in output and "SetuptoolsWarning" not in output, output
    (wheel,) = tmp_path.glob("tgstats_dagster-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for wanted in (
        "tgstats_dagster/cli/instance.yaml",
        "tgstats_dagster/telegram/demo_scenario/scenario.json",
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/graphs/growth_graph.json",
        # Beyond the stats: a zoom, posts with a post's graph, stories, revenue.
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/graphs/followers_graph.zoom/"
        "2026-11-15.json",
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/posts/posts.json",
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/posts/1480/views_graph.json",
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/stories/stories.json",
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/revenue/stars.json",
        "tgstats_dagster/telegram/demo_scenario/tgstats_demo_channel/revenue/ton/revenue_graph.json",
        "tgstats_dagster/warehouse/migrations/versions/0002_channel_peers_complete_snapshots.py",
    ):
        assert wanted in names, wanted
    assert not [name for name in names if name.startswith(("tgstats_dagster_tests/", "bench/"))]
