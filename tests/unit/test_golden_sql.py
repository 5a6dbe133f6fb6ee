"""Every statement shape the reference builders generate, checked as SQL text.

For each shipped mapping (the reference platform and Open Chat Studio), the
joined-provider fixture (a team reached through a parent by a key other than its id), and
each of their references, the statements are rendered and compared with the files under
``tests/golden/<platform>/<label>/<shape>.sql``: a change to the builders shows up as a
diff of SQL a reviewer can read. After an intended change, regenerate the files and
review the diff before committing it::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_golden_sql.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import TextClause, text

from db.platform.host import Platform, reference_host
from db.platform.mapping import load_mapping
from db.platform.model_view import ModelView
from db.platform.privileges import Privileges, host_privileges, render_grants
from db.queries.cleanup import (
    count_not_live_statement,
    holders_statement,
    repoint_not_live_statement,
)
from db.queries.deprecation import usage_of_models_statement
from db.queries.overview import recent_use_statement
from db.queries.parameters import parameter_pairs_statement
from db.queries.references import count_statement, exists_statement, recent_statement
from db.queries.repointing import (
    move_batch_statement,
    scope_probe_statement,
)
from db.queries.undo import undo_batch_statement
from db.reference import Reference, Role
from tests.platforms import JOINED_PROVIDER, MAPPED_PLATFORMS

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MAPPINGS = (*MAPPED_PLATFORMS, JOINED_PROVIDER)
PLATFORMS = [reference_host(), *(Platform(load_mapping(p.mapping)) for p in MAPPINGS)]
# The type of each platform's reference row keys (undo reads it from the database).
ROW_KEYS = {"reference": "uuid", "open-chat-studio": "bigint", "joined-provider": "integer"}


def _shapes(ref: Reference, row_key: str) -> Iterator[tuple[str, TextClause | None]]:
    yield "count", count_statement(ref)
    yield "exists", exists_statement(ref)
    if ref.not_live:
        yield "count_with_not_live", count_statement(ref, include_not_live=True)
    if ref.time_column:
        yield "recent", recent_statement(ref)
        yield "recent_use", recent_use_statement(ref)
    if ref.role is not Role.LIVE:
        return
    yield "usage_of_models", usage_of_models_statement(ref)
    yield "exists_team_scoped", exists_statement(ref, team_scoped=True)
    if ref.parameters:
        yield "parameter_pairs", parameter_pairs_statement(ref)
        yield "parameter_pairs_team_scoped", parameter_pairs_statement(ref, team_scoped=True)
    yield "move_first", move_batch_statement(ref, clear=False, first=True)
    yield "move_next", move_batch_statement(ref, clear=False)
    yield "move_next_team_scoped", move_batch_statement(ref, clear=False, team_scoped=True)
    if ref.parameters:
        yield (
            "move_next_parameters_kept",
            move_batch_statement(ref, clear=False, parameters_kept=True),
        )
    if ref.clearable:
        yield "clear_first", move_batch_statement(ref, clear=True, first=True)
        yield "clear_next", move_batch_statement(ref, clear=True)
        yield "clear_next_team_scoped", move_batch_statement(ref, clear=True, team_scoped=True)
    yield "undo_first", undo_batch_statement(ref, row_key, clear=False, first=True)
    yield "undo_next", undo_batch_statement(ref, row_key, clear=False)
    yield "undo_dry_run", undo_batch_statement(ref, row_key, clear=False, dry_run=True)
    if ref.clearable:
        yield "undo_clear_next", undo_batch_statement(ref, row_key, clear=True)
    yield "scope_probe_level", scope_probe_statement(ref, team=False)
    yield "scope_probe_team", scope_probe_statement(ref, team=True)
    yield "scope_probe_level_team_scoped", scope_probe_statement(ref, team=False, within_teams=True)
    if ref.not_live:
        yield "cleanup_repoint", repoint_not_live_statement(ref, clear=False)
        yield "cleanup_count", count_not_live_statement(ref, clear=False)
        if ref.clearable:
            yield "cleanup_clear", repoint_not_live_statement(ref, clear=True)


def _rendered() -> dict[str, str]:
    """``{relative path: SQL}`` of every statement of every shipped platform."""
    out = {}
    for platform in PLATFORMS:
        out[f"{platform.name}/holders.sql"] = _sql(holders_statement(platform.references))
        view = ModelView(platform.mapping, "lifecycle", platform.mapping.host_schema)
        out[f"{platform.name}/models_view.sql"] = _sql(text(view.script()))
        out[f"{platform.name}/host_grants.sql"] = _host_grants(platform)
        for ref in platform.references:
            for shape, statement in _shapes(ref, ROW_KEYS[platform.name]):
                if statement is not None:
                    out[f"{platform.name}/{ref.label}/{shape}.sql"] = _sql(statement)
    return out


def _host_grants(platform: Platform) -> str:
    """What ``platform grants`` prints for the host's tables the mapping names (the
    worker's schema and the recipients query's relations are read from a database)."""
    privileges = Privileges("lifecycle", worker_owner="lifecycle_owner")
    host_privileges(platform.mapping, privileges)
    return render_grants(privileges, "lifecycle_worker", header=f"platform {platform.name}")


def _sql(statement: TextClause) -> str:
    lines = [line.rstrip() for line in str(statement).strip().splitlines()]
    return "\n".join(lines) + "\n"


RENDERED = _rendered()


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_generated_sql_matches_its_golden_file(name: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RENDERED[name])
    assert path.is_file(), f"no golden file {path}: run with UPDATE_GOLDEN=1 and review it"
    assert RENDERED[name] == path.read_text(), f"{name} changed: review, then UPDATE_GOLDEN=1"


def test_no_golden_file_is_stale() -> None:
    on_disk = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.sql")}
    assert on_disk <= set(RENDERED), f"no statement renders {sorted(on_disk - set(RENDERED))}"


def test_no_statement_casts_a_host_id() -> None:
    for name, sql in RENDERED.items():
        # Undo reads row keys the journal keeps as text, cast to the type read from the
        # database (as an unnest of bound ids is): no bound id is cast.
        sql = sql.replace("row_key AS uuid)", "row_key)")
        assert "AS uuid" not in sql and "::uuid" not in sql, name
