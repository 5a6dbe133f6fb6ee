"""Catalog parsing and consistency checks (pure: the database state is a dict)."""

import uuid
from datetime import date
from typing import Any

import pytest

from jobs.catalog_file import (
    CatalogError,
    KnownModel,
    ModelKey,
    parse_deleted_entries,
    read_catalog_file,
    validate_catalog,
)

TODAY = date(2026, 11, 21)


def _known(live: bool = True, deprecated: bool = False, when: date | None = None) -> KnownModel:
    return KnownModel(uuid.uuid4(), live, deprecated, when)


def _model(name: str, provider: str = "openai", **values: Any) -> dict[str, Any]:
    return {"provider": provider, "name": name, "token_limit": 8192, **values}


def _errors(raw: dict[str, Any], known: dict[ModelKey, KnownModel] | None = None) -> list[str]:
    with pytest.raises(CatalogError) as info:
        validate_catalog(raw, known or {}, TODAY)
    return info.value.errors


def test_valid_catalog_parses_from_toml() -> None:
    raw = read_catalog_file(
        """
        [[models]]
        provider = "openai"
        name = "gpt-4o"
        token_limit = 128000
        vision = true
        tools = true

        [[models]]
        provider = "openai"
        name = "gpt-4"
        token_limit = 8192
        deprecated = true
        replacement = "gpt-4o"

        [[deleted]]
        provider = "anthropic"
        name = "claude-2.0"
        replacement = "openai:gpt-4o"
        """
    )
    catalog = validate_catalog(raw, {}, TODAY)
    assert [m.key for m in catalog.models] == [("openai", "gpt-4o"), ("openai", "gpt-4")]
    assert catalog.models[0].vision and catalog.models[0].tools
    assert catalog.models[1].replacement_key() == ("openai", "gpt-4o")
    assert catalog.deleted[0].replacement_key() == ("openai", "gpt-4o")


@pytest.mark.parametrize(
    ("raw", "known", "expected"),
    [
        (
            {"models": [_model("a"), _model("a")]},
            {},
            "models: duplicate entry openai:a",
        ),
        (
            {"deleted": [{"provider": "x", "name": "a"}, {"provider": "x", "name": "a"}]},
            {},
            "deleted: duplicate entry x:a",
        ),
        (
            {"models": [_model("a", replacement="nope")]},
            {},
            "models openai:a: unknown replacement openai:nope (not in the catalog or the database)",
        ),
        (
            {"models": [_model("a", replacement="b"), _model("b", deprecated=True)]},
            {},
            "models openai:a: replacement openai:b is itself deprecated",
        ),
        (
            {"models": [_model("a", replacement="b")]},
            {("openai", "b"): _known(deprecated=True)},
            "models openai:a: replacement openai:b is itself deprecated",
        ),
        (
            {"models": [_model("a", replacement="b"), _model("b")]},
            {("openai", "b"): _known(deprecated=True, when=date(2026, 1, 1))},
            "models openai:a: replacement openai:b is deprecated (its litellm date has passed)",
        ),
        (
            {
                "models": [_model("a", replacement="b")],
                "deleted": [{"provider": "openai", "name": "b"}],
            },
            {},
            "models openai:a: replacement openai:b is deleted (listed under [[deleted]])",
        ),
        (
            {"models": [_model("a", replacement="b")]},
            {("openai", "b"): _known(live=False)},
            "models openai:a: replacement openai:b is deleted",
        ),
        (
            {"models": [_model("a", replacement="b"), _model("b", replacement="a")]},
            {},
            "replacement cycle: openai:a → openai:b → openai:a",
        ),
        (
            {"models": [_model("a", replacement="a")]},
            {},
            "models openai:a: replacement cycle: it replaces itself",
        ),
        (
            {"models": [_model("a")], "deleted": [{"provider": "openai", "name": "a"}]},
            {},
            "openai:a: both listed under [[models]] and [[deleted]]",
        ),
        (
            {"models": [_model("a", provider="open ai")]},
            {},
            "models[0].provider: unknown provider syntax 'open ai' (letters, digits, _ . - only)",
        ),
        (
            {"models": [_model("a", replacement="open ai:b")]},
            {},
            "models[0].replacement: unknown provider syntax 'open ai' (letters, digits, _ . - "
            "only)",
        ),
        (
            {"models": [_model("a", colour="red")]},
            {},
            "models[0].colour: Extra inputs are not permitted",
        ),
        (
            {"models": [_model("a")], "extra": 1},
            {},
            "extra: unknown top-level key (only [[models]], [[deleted]])",
        ),
        (
            {"models": [_model("a", token_limit="big")]},
            {},
            "models[0].token_limit: Input should be a valid integer",
        ),
        (
            {"deleted": [{"provider": "openai", "name": "a", "replacement": "gone"}]},
            {("openai", "a"): _known()},
            "deleted openai:a: unknown replacement openai:gone (not in the catalog or the "
            "database)",
        ),
    ],
    ids=[
        "duplicate-model",
        "duplicate-deleted",
        "unknown-replacement",
        "replacement-deprecated-in-catalog",
        "replacement-deprecated-in-database",
        "replacement-litellm-date-passed",
        "replacement-listed-deleted",
        "replacement-deleted-in-database",
        "cycle",
        "self-replacement",
        "listed-and-deleted",
        "provider-syntax",
        "replacement-provider-syntax",
        "unknown-key",
        "unknown-top-level-key",
        "wrong-type",
        "deleted-unknown-replacement",
    ],
)
def test_each_error_kind_is_reported(
    raw: dict[str, Any], known: dict[ModelKey, KnownModel], expected: str
) -> None:
    assert expected in _errors(raw, known)


def test_every_error_is_listed_at_once() -> None:
    raw = {
        "models": [
            _model("a"),
            _model("a"),
            _model("b", replacement="ghost"),
            _model("c", provider="bad provider"),
            _model("d"),
        ],
        "deleted": [{"provider": "openai", "name": "d"}],
    }
    errors = _errors(raw)
    assert errors == [
        "models[3].provider: unknown provider syntax 'bad provider' (letters, digits, _ . - only)",
        "models: duplicate entry openai:a",
        "openai:d: both listed under [[models]] and [[deleted]]",
        "models openai:b: unknown replacement openai:ghost (not in the catalog or the database)",
    ]


def test_replacement_in_database_is_accepted() -> None:
    catalog = validate_catalog(
        {"models": [_model("a", deprecated=True, replacement="anthropic:claude")]},
        {("anthropic", "claude"): _known()},
        TODAY,
    )
    assert catalog.models[0].replacement_key() == ("anthropic", "claude")


def test_invalid_toml_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        read_catalog_file("[[models]\nname = ")


def test_prune_check_reads_only_deleted_entries() -> None:
    deleted = parse_deleted_entries(
        {"models": [_model("a", replacement="ghost")], "deleted": [{"provider": "x", "name": "y"}]}
    )
    assert [d.key for d in deleted] == [("x", "y")]
    with pytest.raises(CatalogError, match=r"deleted\[0\]\.name: Field required"):
        parse_deleted_entries({"deleted": [{"provider": "x"}]})


def test_a_duplicate_entry_is_still_checked() -> None:
    errors = _errors({"models": [_model("a"), _model("a", replacement="ghost")]})
    assert errors == [
        "models: duplicate entry openai:a",
        "models openai:a: unknown replacement openai:ghost (not in the catalog or the database)",
    ]
