"""Constants a mapping supplies (``insert``, ``filter``): where they may go, and how they
reach SQL (as literals that cannot end a quoted body or carry a bind parameter)."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from db.platform.mapping import MappingError, parse_mapping
from db.platform.model_view import ModelView
from db.queries.repointing import move_batch_statement
from db.reference import constant_sql
from tests.platforms import JOINED_PROVIDER, OPEN_CHAT_STUDIO

OCS: dict[str, Any] = tomllib.loads(OPEN_CHAT_STUDIO.mapping.read_text())
JOINED: dict[str, Any] = tomllib.loads(JOINED_PROVIDER.mapping.read_text())


def _problems(base: dict[str, Any], edit: Any) -> list[str]:
    data = copy.deepcopy(base)
    edit(data)
    with pytest.raises(MappingError) as caught:
        parse_mapping(data, "test")
    return caught.value.problems


@pytest.mark.parametrize(
    ("value", "sql"),
    [
        (True, "true"),
        (7, "7"),
        ("now()", "now()"),
        ("it's", "E'it''s'"),
        ("a\\b", "E'a\\\\b'"),
        ("$body$ :x", "E'\\x24body\\x24 \\x3ax'"),
    ],
)
def test_constants_become_literals(value: Any, sql: str) -> None:
    assert constant_sql(value) == sql


def test_insert_goes_with_a_link_table_only() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["references"][1]["insert"] = {"created_at": "now()"}

    assert _problems(OCS, edit) == [
        "references[\"assistants\"]: 'insert' fills a link table's new rows (link = true)"
    ]


def test_model_insert_names_no_mapped_column_and_filters_compare_constants() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["models"]["insert"] = {"model_name": "x", "hosting": "eu"}
        data["models"]["provider"]["filter"] = {"created": "now()"}

    assert _problems(JOINED, edit) == [
        "models.insert: model_name is mapped as 'name'; the worker writes it",
        "models.provider.filter: compare with constants, not now()",
    ]


def test_a_constant_holds_no_nul_and_no_table() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["models"]["insert"] = {"hosting": "a\x00b", "region": {"x": 1}}

    problems = _problems(JOINED, edit)
    assert len(problems) >= 2
    assert all(p.startswith("models.insert.") for p in problems), problems


def test_the_view_and_the_link_move_write_the_constants() -> None:
    data = copy.deepcopy(JOINED)
    data["models"]["insert"] = {"hosting": "it's"}
    data["models"]["provider"]["filter"] = {"org_id": 1}
    view = ModelView(parse_mapping(data), "lifecycle", "public")
    assert not view.is_plain()
    function = view.write_function_sql()
    assert '"context_tokens", "hosting")' in function
    assert "NEW.token_limit, E'it''s')" in function
    assert 'j."kind" = NEW.provider AND j."org_id" = 1' in function

    reference = tomllib.loads(
        (JOINED_PROVIDER.mapping.parents[2] / "db/platform/reference.toml").read_text()
    )
    [spaces] = [r for r in reference["references"] if r["label"] == "spaces"]
    spaces["insert"] = {"created_at": "now()", "added_by": "worker"}
    link = next(r for r in parse_mapping(reference).registry_references() if r.label == "spaces")
    statement = str(move_batch_statement(link, clear=False))
    assert "INSERT INTO space_models (space_id, llm_model_id, created_at, added_by)" in statement
    assert "SELECT space_id, :target, now(), E'worker' FROM batch" in statement
