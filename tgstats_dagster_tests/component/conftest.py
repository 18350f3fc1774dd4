"""The example project of docs/component.md, copied for each test, its YAML edited there."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLE = Path(__file__).parents[2] / "examples" / "component_project"
DEFS_YAML = Path("component_project", "defs", "telegram_stats", "defs.yaml")
#: The dg CLI of the environment that runs the tests (installed by the `test` extra).
DG = Path(sys.executable).with_name("dg")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the example project; its package leaves ``sys.modules`` afterwards, so that
    each test imports its own copy."""
    root = tmp_path / "component_project"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".tgstats"))
    yield root
    for name in [m for m in sys.modules if m.partition(".")[0] == "component_project"]:
        del sys.modules[name]


@pytest.fixture
def edit_attributes(project: Path) -> Callable[[Callable[[dict[str, Any]], None]], None]:
    """Change the component's attributes in the project's defs.yaml with ``change(attributes)``."""

    def edit(change: Callable[[dict[str, Any]], None]) -> None:
        path = project / DEFS_YAML
        document = yaml.safe_load(path.read_text())
        change(document["attributes"])
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    return edit


def dg(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``dg ARGS`` run from the project's folder, as an adopter runs it."""
    return subprocess.run(
        [str(DG), *args], cwd=project, capture_output=True, text=True, timeout=300, check=False
    )
