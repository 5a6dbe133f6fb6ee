"""The platform mapping file: its form, its cross-field rules, and the shipped mappings."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from db.platform.host import Platform, reference_host
from db.platform.mapping import MappingError, load_mapping, parse_mapping, reference_platform
from db.reference import IdForm, JsonPath, NotLive, Role, Shape
from tests.platforms import MAPPED_PLATFORMS, OPEN_CHAT_STUDIO

BASE: dict[str, Any] = tomllib.loads(OPEN_CHAT_STUDIO.mapping.read_text())


def _problems(edit: Any) -> list[str]:
    data = copy.deepcopy(BASE)
    edit(data)
    with pytest.raises(MappingError) as caught:
        parse_mapping(data, "test")
    return caught.value.problems


def test_shipped_mappings_load() -> None:
    assert reference_platform().name == "reference"
    for platform in MAPPED_PLATFORMS:
        assert load_mapping(platform.mapping).name == platform.name


def test_reference_platform_references() -> None:
    references = reference_host().references
    spaces = next(r for r in references if r.label == "spaces")
    assert spaces.shape is Shape.LINK and spaces.team_via is not None
    assert spaces.team_via.level_column == "required_security_level"
    pipelines = next(r for r in references if r.label == "pipelines")
    assert pipelines.shape is Shape.JSON
    assert pipelines.json == JsonPath("definition", ("nodes", "params", "llm_model_id"), 0)
    templates = next(r for r in references if r.label == "templates")
    assert templates.not_live == (NotLive("deleted_at"),)
    assert {r.label for r in references if r.role is Role.HISTORY} == {"questions", "app_runs"}


def test_open_chat_studio_references_take_every_shape() -> None:
    mapping = load_mapping(OPEN_CHAT_STUDIO.mapping)
    by_label = {r.label: r for r in Platform(mapping).references}
    nodes = by_label["pipeline_nodes"]
    assert nodes.json_copy == JsonPath("params", ("llm_provider_model_id",), None, IdForm.NUMBER)
    assert nodes.not_live == (NotLive("is_archived", boolean=True),)
    assert nodes.team_column is None and nodes.team_via is not None
    assert by_label["assistants"].not_live == (NotLive("is_archived", boolean=True),)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nodes[*].params[*].llm_id", "steps into more than one array: at most one '[*]'"),
        ("a.ids[*]", "ends in '[*]': the last key must hold the id"),
    ],
)
def test_json_paths_the_builders_cannot_follow_are_refused(path: str, message: str) -> None:
    problems = _problems(lambda d: d["references"][0]["json_copy"].__setitem__("path", path))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("path", ["llm_id", "a.b.c", "nodes[*].params.llm_model_id"])
def test_json_paths_with_at_most_one_array_load(path: str) -> None:
    data = copy.deepcopy(BASE)
    data["references"][0]["json_copy"]["path"] = path
    ref = parse_mapping(data).registry_references()[0]
    assert ref.json_copy is not None and ref.json_copy.text() == path


@pytest.mark.parametrize(
    "bad",
    ["llm_models; DROP TABLE users", "Models", "x" * 64, "1abc", 'a"b'],
)
def test_identifiers_must_be_plain_sql_names(bad: str) -> None:
    problems = _problems(lambda d: d["models"].__setitem__("table", bad))
    assert problems == [
        f"models.table: {bad!r} is not a plain SQL name: lower-case letters, digits and _, "
        "not starting with a digit, at most 63 characters"
    ]


def test_unknown_keys_are_refused_everywhere_and_listed_together() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["models"]["tokens"] = "max_token_limit"
        d["references"][2]["clearble"] = True
        d["recipients"]["sql"] = "SELECT 1"

    assert sorted(_problems(edit)) == [
        "models.tokens: unknown key",
        "recipients.sql: unknown key",
        'references["transcript_analyses"].clearble: unknown key',
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["references"][1].pop("column"),
            "references[\"assistants\"]: give exactly one of 'column' or 'json'",
        ),
        (
            lambda d: d["references"][1].__setitem__(
                "json", {"column": "params", "path": "llm_id"}
            ),
            "references[\"assistants\"]: give exactly one of 'column' or 'json'",
        ),
        (
            lambda d: d["references"][0]["json_copy"].__setitem__("path", "nodes[].params"),
            "references[\"pipeline_nodes\"]: json_copy.path 'nodes[].params' has invalid step(s)",
        ),
        (
            lambda d: d["references"][2].__setitem__("link", True),
            'references["transcript_analyses"]: a link table reaches its team through its parent',
        ),
        (
            lambda d: d["references"][3].__setitem__("role", "history"),
            'references["transcript_translations"]: history is never moved',
        ),
        (
            lambda d: d["references"][0].__setitem__("parameters", {"column": "params"}),
            "references[\"pipeline_nodes\"]: 'parameters' names 'params', which holds the model id",
        ),
        (
            lambda d: d["references"][1].update(
                parameters={"column": "extra", "mode": "reset"}, reset={"extra": "empty_object"}
            ),
            "references[\"assistants\"]: 'extra' is both in 'reset' and in 'parameters'",
        ),
        (
            lambda d: (
                d["references"][1].pop("column"),
                d["references"][1].update(
                    json={"column": "config", "path": "llm_id"},
                    parameters={"column": "extra", "mode": "reset"},
                ),
            ),
            "references[\"assistants\"]: 'parameters' in reset mode goes with a 'column' reference",
        ),
        (
            lambda d: d["references"][3].update(role="history", parameters={"column": "extra"}),
            "references[\"transcript_translations\"]: history is never moved: no 'clearable', "
            "'reset' or 'parameters'",
        ),
        (
            lambda d: d["references"][4].__setitem__("label", "assistants"),
            "references: label 'assistants' is used more than once",
        ),
        (
            lambda d: d["recipients"].__setitem__("query", "SELECT 1; DELETE FROM teams_team"),
            "recipients.query: must take the teams as ':team_ids' (an array)",
        ),
        (
            lambda d: d["references"][1].update(
                column=None,
                json={"column": "params", "path": "llm_id"},
                reset={"params": "empty_object"},
            ),
            "references[\"assistants\"]: 'reset' goes with a 'column' reference that is not a "
            "'link'",
        ),
        (
            lambda d: d["references"][0].update(
                link=True,
                key="pipeline_id",
                json_copy=None,
                reset={"params": "empty_object"},
            ),
            "references[\"pipeline_nodes\"]: 'reset' goes with a 'column' reference",
        ),
        (
            lambda d: d["recipients"].__setitem__(
                "query", "SELECT 1 WHERE x = ANY(:team_ids); DELETE FROM teams_team"
            ),
            "recipients.query: one statement only",
        ),
        (
            lambda d: (
                [r.__setitem__("role", "history") for r in d["references"]]
                and [r.pop("clearable", None) for r in d["references"]]
            ),
            "references: at least one 'live' reference is needed",
        ),
    ],
)
def test_cross_field_rules(edit: Any, message: str) -> None:
    assert any(p.startswith(message) for p in _problems(edit)), _problems(edit)


def test_casts_are_not_parameters() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["recipients"]["query"] = (
            "SELECT m.team_id::bigint FROM t m WHERE m.team_id = ANY(:team_ids)"
        )

    data = copy.deepcopy(BASE)
    edit(data)
    assert parse_mapping(data).recipients.query.endswith("ANY(:team_ids)")


def test_unreadable_and_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[models\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(broken)


def test_errors_name_a_reference_by_its_label_and_only_the_form_the_file_used() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["models"]["name"] = "Bad Name!"  # a column name, or a joined column
        d["models"]["provider"] = {"table": "providers"}  # a joined column, incomplete
        d["references"][1]["role"] = "alive"
        del d["references"][2]["label"]

    assert sorted(_problems(edit)) == [
        "models.name: 'Bad Name!' is not a plain SQL name: lower-case letters, digits and _, "
        "not starting with a digit, at most 63 characters",
        "models.provider.column: Field required",
        "models.provider.via: Field required",
        "references #3.label: Field required",
        "references[\"assistants\"].role: Input should be 'live' or 'history'",
    ]


@pytest.mark.parametrize(
    ("query", "runs"),
    [
        ("SELECT 1 WHERE x = ANY(:team_ids);", "SELECT 1 WHERE x = ANY(:team_ids)"),
        (
            "SELECT 1 WHERE x = ANY(:team_ids); -- the managers\n-- of each team;\n",
            "SELECT 1 WHERE x = ANY(:team_ids)",
        ),
        (
            "SELECT 1 WHERE x = ANY(:team_ids)\n-- the managers",
            "SELECT 1 WHERE x = ANY(:team_ids)\n-- the managers",
        ),
    ],
)
def test_a_closing_semicolon_and_comments_after_it_are_accepted(query: str, runs: str) -> None:
    data = copy.deepcopy(BASE)
    data["recipients"]["query"] = query
    assert parse_mapping(data).recipients.sql() == runs
