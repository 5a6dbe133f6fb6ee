"""``.data/services.env``: where ``make run``/``make test`` found PostgreSQL and Redis.

``python -m worker.devservices up`` writes it; the ``lifecycle`` CLI reads it by itself
when started from the checkout (the directory holding this project's ``pyproject.toml``),
so a second shell next to ``make run`` reaches the same services. Variables already set
in the environment always win.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

ENV_FILE = Path(".data") / "services.env"
PROJECT_NAME = 'name = "model-lifecycle-worker"'


def render_env_file(env: Mapping[str, str]) -> str:
    """``export KEY=VALUE`` lines, quoted for a POSIX shell."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def parse_env_file(text: str) -> dict[str, str]:
    """The ``LIFECYCLE_*`` assignments of a file written by :func:`render_env_file`."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            key, sep, value = word.partition("=")
            if sep and key.startswith("LIFECYCLE_"):
                values[key] = value
    return values


def checkout_env_file(cwd: Path) -> Path | None:
    """``cwd/.data/services.env`` when ``cwd`` is this project's checkout and it exists."""
    path = cwd / ENV_FILE
    try:
        is_checkout = PROJECT_NAME in (cwd / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return path if is_checkout and path.is_file() else None


def with_checkout_services(
    environ: Mapping[str, str], cwd: Path
) -> tuple[dict[str, str], Path | None]:
    """``environ`` plus the checkout's service URLs it does not set; and the file used."""
    env = dict(environ)
    path = checkout_env_file(cwd)
    if path is None:
        return env, None
    found = parse_env_file(path.read_text(encoding="utf-8"))
    missing = {k: v for k, v in found.items() if k not in env}
    env.update(missing)
    return env, path if missing else None
