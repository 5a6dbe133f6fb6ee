"""Model parameters carried to a migration's target (translated by litellm), or reset."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from db.platform.mapping import REFERENCE_PLATFORM_FILE
from jobs.request_admission import Request, preview_request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.factories import Factory

# A reference mapping whose assistants' parameters are reset instead of translated.
RESET_MAPPING = REFERENCE_PLATFORM_FILE.read_text().replace(
    'parameters = { column = "model_parameters" }',
    'parameters = { column = "model_parameters", mode = "reset" }',
)


def req(source: object, target: object, *, confirm: bool = False) -> Request:
    return Request("migration", str(source), str(target), "tester", f"p-{uuid.uuid4()}", confirm)


async def params_of(runtime: Runtime, assistant: uuid.UUID) -> Any:
    async with runtime.sessions() as session:
        value = await session.scalar(
            text("SELECT CAST(model_parameters AS text) FROM assistants WHERE id = :id"),
            {"id": assistant},
        )
    return json.loads(value)


async def test_chat_to_reasoning_model_renames_and_drops_with_a_warning(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("o3-mini", supports_reasoning=True)
    both = await factory.assistant(
        team, source, model_parameters={"max_tokens": 512, "temperature": 0.2, "top_p": 0.9}
    )
    neutral = await factory.assistant(team, source, model_parameters={"temperature": 1})
    empty = await factory.assistant(team, source)

    refused = await run_request(runtime, req(source, target))
    assert refused.status == "rejected"
    assert "parameters_dropped" in refused.codes
    assert await params_of(runtime, both) == {
        "max_tokens": 512,
        "temperature": 0.2,
        "top_p": 0.9,
    }, "a refused request changes nothing"

    done = await run_request(runtime, req(source, target, confirm=True))
    assert done.status == "succeeded", done
    assert {"parameters_translated", "parameters_dropped"} <= set(done.codes)
    assert await params_of(runtime, both) == {"max_completion_tokens": 512}
    assert await params_of(runtime, neutral) == {"temperature": 1}, "o3-mini takes temperature 1"
    assert await params_of(runtime, empty) == {}


async def test_dry_run_lists_each_change_per_key_with_rows(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("o3-mini")
    for _ in range(2):
        await factory.assistant(team, source, model_parameters={"max_tokens": 512})
    await factory.assistant(team, source, model_parameters={"temperature": 0.2, "seed": 7})

    preview = await preview_request(runtime, req(source, target))
    messages = "\n".join(preview.messages)
    assert "max_tokens renamed to max_completion_tokens in 2 row(s)" in messages
    assert "1 value(s) kept as they are" in messages  # seed
    assert "temperature dropped (values 0.2) in 1 row(s)" in messages
    assert preview.codes_by_kind.warnings == ["parameters_dropped"]


async def test_output_limit_is_clamped_to_the_targets(factory: Factory, runtime: Runtime) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("o3-mini")  # max_output_tokens 100000 in litellm's map
    row = await factory.assistant(team, source, model_parameters={"max_tokens": 250_000})

    done = await run_request(runtime, req(source, target, confirm=True))
    assert done.status == "succeeded", done
    assert await params_of(runtime, row) == {"max_completion_tokens": 100_000}


async def test_provider_change_keeps_openai_names_litellm_maps_at_call_time(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("claude-3-5-sonnet-20240620", "anthropic")
    row = await factory.assistant(
        team,
        source,
        model_parameters={"max_completion_tokens": 300, "stop": ["END"], "n": 2, "top_p": 0.5},
    )

    done = await run_request(runtime, req(source, target, confirm=True))
    assert done.status == "succeeded", done
    # Renamed to the OpenAI name Anthropic's translation reads; `stop` stays `stop` (not
    # Anthropic's own `stop_sequences`); `n` is not taken by Anthropic and is dropped.
    assert await params_of(runtime, row) == {"max_tokens": 300, "stop": ["END"], "top_p": 0.5}


async def test_unknown_keys_and_non_objects_are_kept_as_written(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("gpt-4o")
    custom = await factory.assistant(
        team, source, model_parameters={"house_style": "terse", "temperature": 0.3}
    )
    odd = await factory.assistant(team, source, model_parameters=[1, 2])

    done = await run_request(runtime, req(source, target))
    assert done.status == "succeeded", done
    assert await params_of(runtime, custom) == {"house_style": "terse", "temperature": 0.3}
    assert await params_of(runtime, odd) == [1, 2]


async def test_a_renamed_key_yields_to_the_same_key_the_team_set_itself(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("o3-mini")
    row = await factory.assistant(
        team, source, model_parameters={"max_tokens": 900, "max_completion_tokens": 400}
    )

    done = await run_request(runtime, req(source, target))
    assert done.status == "succeeded", done
    assert await params_of(runtime, row) == {"max_completion_tokens": 400}


async def test_reset_mode_keeps_todays_behaviour(
    factory: Factory,
    make_runtime: Callable[..., Awaitable[Runtime]],
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "platform.toml"
    mapping.write_text(RESET_MAPPING)
    runtime = await make_runtime(platform_file=mapping)
    team = await factory.team()
    source, target = await factory.model("gpt-4o-mini"), await factory.model("o3-mini")
    row = await factory.assistant(team, source, model_parameters={"temperature": 0.9})

    done = await run_request(runtime, req(source, target))
    assert done.status == "succeeded", done
    assert done.codes == ["parameters_reset"]
    assert await params_of(runtime, row) == {}


async def test_rows_written_during_the_run_with_new_values_are_translated_by_the_sweep(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("o3-mini")
    first = await factory.assistant(team, source, model_parameters={"max_tokens": 100})
    late: list[uuid.UUID] = []

    async def write_late(label: str, moved: int) -> None:
        # The main application adds an assistant with values no rule was made for.
        if not late:
            late.append(
                await factory.assistant(
                    team, source, model_parameters={"max_tokens": 64, "temperature": 0.7}
                )
            )

    done = await run_request(runtime, req(source, target, confirm=True), after_batch=write_late)
    assert done.status == "succeeded", done
    assert await params_of(runtime, first) == {"max_completion_tokens": 100}
    assert await params_of(runtime, late[0]) == {"max_completion_tokens": 64}


async def test_parameters_the_target_takes_as_they_are_are_not_rewritten(
    factory: Factory, runtime: Runtime
) -> None:
    # The host notes every write that names the parameters column (a trigger on UPDATE OF
    # it fires whenever an UPDATE sets it, even to the same value).
    async with runtime.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE public.parameter_writes (id uuid)"))
        await conn.execute(
            text(
                "CREATE FUNCTION public.note_parameter_write() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO public.parameter_writes VALUES (NEW.id); RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER parameter_writes AFTER UPDATE OF model_parameters "
                "ON public.assistants FOR EACH ROW EXECUTE FUNCTION public.note_parameter_write()"
            )
        )

    async def writes() -> int:
        async with runtime.engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM public.parameter_writes")))

    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    same_family = await factory.model("gpt-4o")
    reasoning = await factory.model("o3-mini", supports_reasoning=True)
    written = {"max_tokens": 512, "temperature": 0.2}
    assistant = await factory.assistant(team, source, model_parameters=written)

    kept = await run_request(runtime, req(source, same_family))
    assert kept.status == "succeeded", kept
    assert await params_of(runtime, assistant) == written
    assert await writes() == 0, "a move that changes no parameter leaves the column alone"

    renamed = await run_request(runtime, req(same_family, reasoning, confirm=True))
    assert renamed.status == "succeeded", renamed
    assert await params_of(runtime, assistant) == {"max_completion_tokens": 512}
    assert await writes() == 1

    # Undone last request first, each puts back what it changed: the names, then the model.
    for request in (renamed, kept):
        undone = await undo_request(
            runtime, UndoRequestPayload(request_key=request.request_key, requested_by="ops")
        )
        assert (undone.status, undone.restored) == ("undone", {"assistants": 1}), undone
        assert await params_of(runtime, assistant) == written
