"""What an operator reads: dry runs worded like real runs, history of unknown models, usage
errors reported by the command they belong to. The CLI runs in a subprocess."""

import json
import uuid

from sqlalchemy import update

from db.models import LlmModel
from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from worker.settings import Settings

NO_REDIS = {"LIFECYCLE_REDIS_URL": "redis://127.0.0.1:1/0"}


def test_dry_run_of_a_missing_source_names_it(e2e_settings: Settings) -> None:
    done = run_cli(
        e2e_settings, "migrate", "openai:gpt-5", "openai:gpt-4o", "--dry-run", **NO_REDIS
    )
    assert done.returncode == 1, done.stderr
    first, status = done.stdout.splitlines()[:2]
    assert first == "dry run, nothing changed: migration openai:gpt-5 -> openai:gpt-4o"
    assert status == "status: rejected"
    assert "None" not in done.stdout

    as_json = run_cli(
        e2e_settings, "migrate", "openai:gpt-5", "openai:gpt-4o", "--dry-run", "--json", **NO_REDIS
    )
    report = json.loads(as_json.stdout)
    assert report["status"] == "rejected"
    assert report["source"] == {"id": None, "provider": "openai", "name": "gpt-5"}
    assert report["codes"] == ["source_not_found", "target_not_found"]


async def test_dry_run_and_real_run_say_rejected_alike(
    e2e_settings: Settings, factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    a = await factory.model("word-a", token_limit=8000)
    await factory.model("word-b", token_limit=4000)
    await factory.assistant(team, a)
    dry = run_cli(e2e_settings, "migrate", "openai:word-a", "openai:word-b", "--dry-run")
    assert dry.returncode == 1
    assert "status: rejected" in dry.stdout and "refused" not in dry.stdout
    assert "would change" in dry.stdout

    request = Request(
        "migration", "openai:word-a", "openai:word-b", "t", f"w-{uuid.uuid4()}", False
    )
    assert (await run_request(runtime, request)).status == "rejected"
    history = run_cli(e2e_settings, "history", "openai:word-a")
    assert history.returncode == 0, history.stderr
    header, _, row = history.stdout.splitlines()[:3]
    assert "changed" in header
    assert "nothing (would have: 1 assistants)" in row
    [as_json] = json.loads(run_cli(e2e_settings, "history", "openai:word-a", "--json").stdout)
    assert as_json["counts"] == {"assistants": 1}
    assert as_json["counts_are"] == "would_have_changed"


async def test_delete_dry_run_names_the_model_it_was_migrated_to(
    e2e_settings: Settings, factory: Factory, runtime: Runtime
) -> None:
    a = await factory.model("old-a")
    b = await factory.model("new-b")
    async with runtime.engine.begin() as conn:
        await conn.execute(update(LlmModel).where(LlmModel.id == a).values(migrated_to_model_id=b))
    done = run_cli(e2e_settings, "delete", "openai:old-a", "--dry-run", **NO_REDIS)
    assert done.returncode == 1
    assert "already migrated to openai:new-b" in done.stdout
    assert str(b) not in done.stdout


async def test_history_of_a_model_that_never_existed_is_an_error(
    e2e_settings: Settings, factory: Factory
) -> None:
    for named in ("openai:does-not-exist", str(uuid.uuid4())):
        done = run_cli(e2e_settings, "history", named)
        assert done.returncode == 1, done.stdout
        assert f"no model {named} exists" in done.stderr
        assert done.stdout == ""
    await factory.model("quiet")
    known = run_cli(e2e_settings, "history", "openai:quiet")
    assert known.returncode == 0
    assert known.stdout.strip() == "no migrations or deletions recorded for openai:quiet"


def test_history_limit_beyond_the_cap_is_a_usage_error(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "history", "--limit", "500")
    assert done.returncode == 2
    assert "must be between 1 and 200" in done.stderr


def test_json_before_the_command_is_accepted(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "--json", "health")
    assert done.returncode in (0, 1), done.stderr
    assert {c["name"] for c in json.loads(done.stdout)["checks"]} >= {"redis", "postgres"}


def test_unknown_option_shows_the_commands_usage_with_a_hint(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "migrate", "openai:a", "openai:b", "--dryrun")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: lifecycle migrate ")
    assert "unrecognized arguments: --dryrun (did you mean --dry-run?)" in done.stderr
    nested = run_cli(e2e_settings, "catalog", "sync", "x.toml", "--dryrun")
    assert nested.returncode == 2 and nested.stderr.startswith("usage: lifecycle catalog sync ")


def test_every_command_has_a_description(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "worker", "--help")
    assert done.returncode == 0
    assert "Run a worker in the foreground" in done.stdout
    commands = ["db upgrade", "health", "history", "notifications", "catalog prune-check"]
    for command in commands:
        shown = run_cli(e2e_settings, *command.split(), "--help")
        _usage, description = shown.stdout.split("\n\n")[:2]
        assert not description.startswith(("positional", "options")), command
