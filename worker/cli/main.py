"""Entry point of the ``lifecycle`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from db.platform.mapping import MappingError
from worker.cli import (
    catalog,
    cleanup,
    db,
    demo,
    enrich,
    health,
    migrate,
    notifications,
    platform,
    run_worker,
)
from worker.cli.output import EXIT_FAILED, EXIT_USAGE, CommandFailed, UsageError, error, print_json
from worker.settings import SettingsError, load_settings

COMMAND_MODULES = (
    db,
    run_worker,
    health,
    catalog,
    enrich,
    migrate,
    notifications,
    cleanup,
    platform,
    demo,
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser = argparse.ArgumentParser(
        prog="lifecycle",
        description=(
            "Model Lifecycle Worker: retire LLM models from a multi-tenant platform safely. "
            "Settings come from LIFECYCLE_* environment variables (see README). "
            "Exit codes: 0 success, 1 refused or failed, 2 bad usage or bad input."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        error(f"configuration: {exc}")
        return EXIT_USAGE
    try:
        code: int = args.handler(args, settings)
    except UsageError as exc:
        _report(args, str(exc), {})
        return EXIT_USAGE
    except MappingError as exc:
        _report(args, f"invalid platform mapping {exc}", {"mapping_errors": exc.problems})
        return EXIT_USAGE
    except CommandFailed as exc:
        _report(args, str(exc), exc.data)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except Exception as exc:  # the operator gets one line, not a traceback
        _report(args, f"{type(exc).__name__}: {exc}", {})
        return EXIT_FAILED
    return code


def _report(args: argparse.Namespace, message: str, data: dict[str, object]) -> None:
    if getattr(args, "json", False):
        print_json({"ok": False, "error": message, **data})
    error(message)


if __name__ == "__main__":
    sys.exit(main())
