"""Entry point of the ``lifecycle`` command line."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from db.platform.mapping import MappingError
from worker.cli import (
    catalog,
    cleanup,
    db,
    demo,
    enrich,
    health,
    history,
    migrate,
    models,
    notifications,
    platform,
    requests,
    run_worker,
    undo,
)
from worker.cli.failures import explain_unreachable
from worker.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    CommandFailed,
    UsageError,
    error,
    escaped_output,
    print_json,
)
from worker.services_env import with_checkout_services
from worker.settings import SettingsError, load_settings

COMMAND_MODULES = (
    db,
    run_worker,
    health,
    catalog,
    enrich,
    migrate,
    history,
    requests,
    undo,
    models,
    notifications,
    cleanup,
    platform,
    demo,
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a command's own default must not undo `lifecycle --json COMMAND`.
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON"
    )
    parser = argparse.ArgumentParser(
        prog="lifecycle",
        description=(
            "Model Lifecycle Worker: retire LLM models from a multi-tenant platform safely. "
            "Settings come from LIFECYCLE_* environment variables (docs/configuration.md). "
            "Exit codes: 0 success, 1 refused or failed, 2 bad usage or bad input."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON (also after COMMAND)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub, common)
    for command in leaf_parsers(parser):
        command.set_defaults(command_parser=command)
    return parser


def leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every runnable command (``health``, ``catalog sync``, …), also of a
    command that runs by itself and has sub-commands (``notifications`` and its
    ``retry``)."""
    leaves: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                nested = leaf_parsers(child)
                runs_itself = child.get_default("handler") is not None
                leaves += [*nested, child] if runs_itself or not nested else nested
    return leaves


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> Any:
    """Parse ``argv``; an unknown option is reported by the command it was given to."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        owner: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        owner.error(unrecognized(owner, extras))
    return args


def unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """``unrecognized arguments: --dryrun (did you mean --dry-run?)``; the hints follow
    every argument, so a value after an option is not split from it."""
    known = [o for a in parser._actions for o in a.option_strings]
    close = {}
    for extra in extras:
        option = extra.split("=", 1)[0]
        match = difflib.get_close_matches(option, known, n=1)
        if match and extra.startswith("-"):
            close[option] = match[0]
    message = "unrecognized arguments: " + " ".join(extras)
    if len(close) == 1:
        return message + f" (did you mean {next(iter(close.values()))}?)"
    hints = "; ".join(f"{wrong}: did you mean {right}?" for wrong, right in close.items())
    return message + (f" ({hints})" if hints else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its text output shows control characters escaped."""
    with escaped_output():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    environ, services_file = with_checkout_services(os.environ, Path.cwd())
    args.services_file = services_file
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        error(f"configuration: {exc}")
        return EXIT_USAGE
    try:
        code: int = args.handler(args, settings)
    except UsageError as exc:
        _report(args, str(exc), {})
        return EXIT_USAGE
    except MappingError as exc:
        # Every problem on a line of its own: a mapping with errors usually has several.
        if getattr(args, "json", False):
            print_json({"ok": False, "source": exc.source, "mapping_errors": exc.problems})
        error(f"invalid platform mapping {exc.source}:")
        for problem in exc.problems:
            error(f"  {problem}")
        return EXIT_USAGE
    except CommandFailed as exc:
        _report(args, str(exc), exc.data)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except Exception as exc:  # the operator gets one line, not a traceback
        _report(args, explain_unreachable(exc, settings) or f"{type(exc).__name__}: {exc}", {})
        return EXIT_FAILED
    return code


def _report(args: argparse.Namespace, message: str, data: dict[str, object]) -> None:
    if getattr(args, "json", False):
        print_json({"ok": False, "error": message, **data})
    error(message)


if __name__ == "__main__":
    sys.exit(main())
