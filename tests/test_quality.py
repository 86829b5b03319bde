"""Lint, format and type checks are part of the test suite, so CI enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(command: list[str]) -> None:
    result = subprocess.run(
        [_tool(command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_library_does_not_import_telegram_clients() -> None:
    """models, storage, text, rules, export... stay free of telethon and aiogram."""
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in (ROOT / "dozor").rglob("*.py")
        if path.parent.name != "cli"
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith(
            ("import telethon", "from telethon", "import aiogram", "from aiogram")
        )
    ]
    assert offenders == []


def test_archiver_and_bot_do_not_import_each_other() -> None:
    pairs = {"archiver": ("bot",), "bot": ("archiver",)}
    offenders = [
        str(path.relative_to(ROOT))
        for package, forbidden in pairs.items()
        for path in (ROOT / package).rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        for name in forbidden
        if line.lstrip().startswith((f"import {name}", f"from {name}"))
    ]
    assert offenders == []


def test_commands_load_telegram_clients_only_when_they_need_them() -> None:
    """`dozor search`, `import`, `export`... start fast and small: no aiogram, no Telethon,
    and no HTTP client (`dozor wayback` loads it)."""
    check = (
        "import sys, dozor.cli.main; "
        "print(sorted(m for m in ('aiogram', 'telethon', 'aiohttp') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
