"""The README's commands are real: each `lifecycle …` line in a code block parses as
shown, and every CLI command appears in the README."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from worker.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def readme_commands() -> list[str]:
    commands = []
    for block in _code_blocks(README.read_text()):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("lifecycle "):
                commands.append(line.split("  #")[0].strip())
    return commands


def test_readme_shows_commands() -> None:
    assert len(readme_commands()) >= 10


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses_as_shown(command: str) -> None:
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert callable(args.handler)


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _subcommands(sub, f"{prefix}{name} ")
                names += nested or [f"{prefix}{name}"]
    return names


def test_every_cli_command_is_documented() -> None:
    text = README.read_text()
    missing = [c for c in _subcommands(build_parser()) if f"`lifecycle {c}" not in text]
    assert missing == []
