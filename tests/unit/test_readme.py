"""The README and docs/ stay true and short: each `lifecycle …` line in a code block of
README.md or docs/*.md parses as shown, every CLI command is documented in docs/cli.md,
every relative link resolves, and the README stays a newcomer's page."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from worker.cli.main import build_parser, parse_arguments

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
CLI_DOC = ROOT / "docs" / "cli.md"
README_MAX_LINES = 250


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


# A command shown on purpose as a usage error carries this comment.
USAGE_ERROR = "# exit 2"
# Output lines such as `lifecycle migrate: error: …` are not commands.
_OUTPUT = re.compile(r"^lifecycle [\w-]+:")


def shown_commands(page: Path, *, usage_errors: bool = False) -> list[str]:
    commands = []
    for block in _code_blocks(page.read_text()):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line.startswith("lifecycle ") or _OUTPUT.match(line):
                continue
            if line.endswith(USAGE_ERROR) == usage_errors:
                commands.append(line.split("  #")[0].strip())
    return commands


def _all_shown(*, usage_errors: bool = False) -> list[tuple[str, str]]:
    return [
        (page.relative_to(ROOT).as_posix(), command)
        for page in PAGES
        for command in shown_commands(page, usage_errors=usage_errors)
    ]


def test_the_readme_and_the_docs_show_commands() -> None:
    assert len(shown_commands(README)) >= 5
    assert len(_all_shown()) >= 30


@pytest.mark.parametrize(("page", "command"), _all_shown())
def test_a_shown_command_parses_as_shown(page: str, command: str) -> None:
    args = parse_arguments(build_parser(), shlex.split(command)[1:])
    assert callable(args.handler), (page, command)


@pytest.mark.parametrize(("page", "command"), _all_shown(usage_errors=True))
def test_a_shown_usage_error_is_one(page: str, command: str) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_arguments(build_parser(), shlex.split(command)[1:])
    assert exc.value.code == 2, (page, command)


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Every command line the CLI accepts: each subcommand, and each command that runs
    by itself as well as having subcommands (`notifications`, `notifications retry`)."""
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix}{name} ")
                if not nested or sub.get_default("handler") is not None:
                    names.append(f"{prefix}{name}")
                names += nested
    return names


def test_every_cli_command_is_documented_in_the_cli_page() -> None:
    text = CLI_DOC.read_text()
    commands = _commands(build_parser())
    assert {"notifications", "notifications retry", "db upgrade"} <= set(commands)
    missing = [c for c in commands if f"`lifecycle {c}" not in text]
    assert missing == []


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"(?m)^#+ (.+)$", text)}


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+://", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        missing = not (path.is_relative_to(ROOT) and path.exists())
        if missing or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
            broken.append(target)
    assert broken == []


def test_the_readme_is_a_short_page() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_readme_sections_in_a_newcomers_order() -> None:
    headings = re.findall(r"(?m)^## (.+)$", README.read_text())
    expected = [
        "Quick start",
        "What happens to a model",
        "Adopting the worker on your platform",
        "Integrating the main application",
        "Documentation",
    ]
    assert [next(h for h in headings if h.startswith(e)) for e in expected] == headings


def test_python_in_the_docs_lives_in_checked_files() -> None:
    """Python is shown as files under examples/ (type-checked and run by the tests),
    never as a code block that nothing checks."""
    assert [p.name for p in PAGES if "```python" in p.read_text()] == []


SOURCES = [
    path
    for package in ("worker", "jobs", "db", "tests", "examples", "benchmarks")
    for path in sorted((ROOT / package).rglob("*.py"))
]


def test_the_code_cites_only_docs_a_clone_has() -> None:
    """Docstrings point at the project's own docs, never at a design document a clone
    does not have, and every `docs/….md` they name exists."""
    design = [p.name for p in SOURCES if re.search(r"DESIGN (§|section)", p.read_text())]
    cited = {d for p in SOURCES for d in re.findall(r"docs/[\w-]+\.md", p.read_text())}
    assert design == []
    assert sorted(d for d in cited if not (ROOT / d).exists()) == []
