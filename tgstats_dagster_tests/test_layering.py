"""The two sides stay independent, and Telethon's private API stays in one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tgstats_dagster"


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize(
    ("side", "forbidden"),
    [
        ("telegram", ("dagster", "tgstats_dagster.warehouse")),
        ("warehouse", ("telethon", "tgstats_dagster.telegram")),
        ("report", ("dagster", "tgstats_dagster.telegram")),
        ("report", ("telethon", "tgstats_dagster.assets")),
    ],
)
def test_sides_do_not_import_each_other(side: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in _modules(side)
        for module in _imports(path)
        if module.split(".")[0] == forbidden[0] or module.startswith(forbidden[1])
    }
    assert _modules(side) and not offenders


def test_telethon_private_calls_only_in_dc_module() -> None:
    private = re.compile(r"\bclient\._\w+|_borrow_exported_sender|_return_exported_sender")
    production = [p for p in _modules("telegram") if "replay" not in p.parts]
    users = {p.name for p in production if private.search(p.read_text(encoding="utf-8"))}
    assert users == {"dc.py"}
