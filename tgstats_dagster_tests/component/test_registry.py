"""The component as ``dg`` sees it: registered, and a bad attribute reported by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tgstats_dagster_tests.component.conftest import dg

COMPONENT = "tgstats_dagster.component.TgstatsComponent"


def test_dg_lists_the_component(project: Path) -> None:
    result = dg(project, "list", "components", "--json")
    assert result.returncode == 0, result.stderr
    keys = {item["key"] for item in json.loads(result.stdout)["items"]}
    assert COMPONENT in keys


def test_dg_checks_the_example_project(project: Path) -> None:
    result = dg(project, "check", "defs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout


def test_a_bad_peer_is_an_error_naming_it(
    project: Path, edit_attributes: Callable[[Callable[[dict[str, Any]], None]], None]
) -> None:
    edit_attributes(lambda attributes: attributes["peers"].append("not a peer!"))
    result = dg(project, "check", "defs")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "peers: 'not a peer!' is not a Telegram username" in output
