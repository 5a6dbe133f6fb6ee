"""Host platforms the tests run against: the reference platform and mapped host schemas.

Each mapped platform is a schema file (its tables, as the host builds them) and the
mapping shipped for it in ``examples/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class HostPlatform:
    name: str
    schema_sql: Path
    mapping: Path


OPEN_CHAT_STUDIO = HostPlatform(
    "open-chat-studio",
    Path(__file__).with_name("open_chat_studio.sql"),
    ROOT / "examples" / "open-chat-studio" / "platform.toml",
)
MAPPED_PLATFORMS = (OPEN_CHAT_STUDIO,)
# A host keeping its provider one foreign key away, with no lifecycle columns (its schema
# file holds its few rows; there is no seed file).
JOINED_PROVIDER = HostPlatform(
    "joined-provider",
    Path(__file__).with_name("joined_provider.sql"),
    Path(__file__).with_name("joined_provider.toml"),
)
# An Eneo-shaped host whose spaces' security levels are two keys away, reached through a
# host view as docs/platform-mapping.md describes (no seed file either).
SPACE_LEVELS = HostPlatform(
    "space-levels",
    Path(__file__).with_name("space_levels.sql"),
    Path(__file__).with_name("space_levels.toml"),
)

# The built-in reference platform: no schema file, no mapping (the migrations build it).
REFERENCE = "reference"
# Every platform the cross-platform tests run on, by name (the ids in test names).
PLATFORM_NAMES = (REFERENCE, OPEN_CHAT_STUDIO.name)


# Marks a test (or, as ``pytestmark``, a module) to run once per platform.
every_platform = pytest.mark.parametrize("platform_name", PLATFORM_NAMES)


def mapped_platform(name: str) -> HostPlatform | None:
    """The mapped platform called ``name`` (``None``: the reference platform)."""
    if name == REFERENCE:
        return None
    for platform in MAPPED_PLATFORMS:
        if platform.name == name:
            return platform
    raise ValueError(f"unknown test platform {name!r}")


def seed_sql(platform: HostPlatform) -> Path:
    """The rows every test on ``platform`` starts from."""
    return platform.schema_sql.with_name(platform.schema_sql.stem + "_seed.sql")
