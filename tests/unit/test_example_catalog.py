"""examples/open-chat-studio/models.toml is a valid catalog that sets only fields the
Open Chat Studio mapping has a column for."""

from datetime import date

from db.platform.mapping import load_mapping
from jobs.catalog_file import read_catalog_file, validate_catalog
from tests.platforms import OPEN_CHAT_STUDIO

CATALOG = OPEN_CHAT_STUDIO.mapping.with_name("models.toml")
# Catalog keys that are model fields of the same name in a mapping's [models].
FIELDS = ("token_limit", "display_name", "litellm_model", "security_level")
FIELDS += ("vision", "tools", "reasoning")


def test_the_open_chat_studio_catalog_validates() -> None:
    catalog = validate_catalog(read_catalog_file(CATALOG.read_text()), {}, date.today())
    names = {f"{m.provider}:{m.name}" for m in catalog.models}
    assert {"openai:gpt-4", "openai:gpt-4o"} <= names
    deprecated = [m for m in catalog.models if m.deprecated]
    assert [(m.name, m.replacement) for m in deprecated] == [("gpt-4", "gpt-4o")]


def test_the_open_chat_studio_catalog_sets_only_mapped_fields() -> None:
    mapped = load_mapping(OPEN_CHAT_STUDIO.mapping).models
    raw = read_catalog_file(CATALOG.read_text())
    unmapped = {
        key
        for entry in raw["models"]
        for key in entry
        if key in FIELDS and getattr(mapped, key) is None
    }
    assert unmapped == set()
