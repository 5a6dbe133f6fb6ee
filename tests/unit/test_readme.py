"""The README's commands are real: each `lifecycle …` line in a code block parses as
shown, and every CLI command appears in the README."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from worker.cli.main import build_parser, parse_arguments

README = Path(__file__).resolve().parents[2] / "README.md"


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


# A command shown on purpose as a usage error carries this comment.
USAGE_ERROR = "# exit 2"
# Output lines such as `lifecycle migrate: error: …` are not commands.
_OUTPUT = re.compile(r"^lifecycle [\w-]+:")


def readme_commands(*, usage_errors: bool = False) -> list[str]:
    commands = []
    for block in _code_blocks(README.read_text()):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line.startswith("lifecycle ") or _OUTPUT.match(line):
                continue
            if line.endswith(USAGE_ERROR) == usage_errors:
                commands.append(line.split("  #")[0].strip())
    return commands


def test_readme_shows_commands() -> None:
    assert len(readme_commands()) >= 10


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses_as_shown(command: str) -> None:
    args = parse_arguments(build_parser(), shlex.split(command)[1:])
    assert callable(args.handler)


@pytest.mark.parametrize("command", readme_commands(usage_errors=True))
def test_readme_usage_error_is_one(command: str) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_arguments(build_parser(), shlex.split(command)[1:])
    assert exc.value.code == 2


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


def test_readme_links_stay_inside_the_repository() -> None:
    root = README.parent
    for target in re.findall(r"\]\(([^)]+)\)", README.read_text()):
        if target.startswith("#"):
            continue
        path = (root / target.split("#")[0]).resolve()
        assert path.is_relative_to(root) and path.exists(), target


def test_readme_sections_in_a_newcomers_order() -> None:
    headings = re.findall(r"(?m)^## (.+)$", README.read_text())
    expected = [
        "Quick start",
        "What happens to a model",
        "Adopting the worker on your platform",
        "Integrating the main application",
        "CLI reference",
        "Configuration",
        "Deployment",
        "Guarantees",
    ]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(e)) for e in expected]
    assert positions == sorted(positions), headings
