"""Host platforms the tests run against: the reference platform and mapped host schemas.

Each mapped platform is a schema file (its tables, as the host builds them) and the
mapping shipped for it in ``examples/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def seed_sql(platform: HostPlatform) -> Path:
    """The rows every test on ``platform`` starts from."""
    return platform.schema_sql.with_name(platform.schema_sql.stem + "_seed.sql")
