"""The bad input catalogue: malformed input through the CLI, the client and raw Redis.

Each gets a clear error — exit 2 from the CLI, ``ClientError`` from the client, a failed
job that is not retried from the worker — and leaves every table exactly as it was.
"""

from __future__ import annotations

import json
import pickle
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.worker import Worker
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.checksum import table_checksums
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from worker.client import ClientError, JobFailed, LifecycleClient
from worker.serialization import MAX_JOB_BYTES
from worker.settings import Settings

pytestmark = pytest.mark.faults

MALFORMED_UUID = "123e4567-e89b-12d3-a456-42661417400"  # one digit short
GOOD = {"requested_by": "faults", "request_key": "bad-input"}

RawSender = Callable[[LifecycleClient, str], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """One malformed input: ``cli`` args, a ``client`` call, or a ``raw`` Redis write."""

    name: str
    message: str
    cli: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    client: Callable[[LifecycleClient], Awaitable[object]] | None = None
    raw: RawSender | None = None
    # A refusal the design keeps a record of (like a rejected migration request): that
    # table gains exactly one "rejected" row, and nothing else changes.
    records_refusal_in: str | None = None
    # The raw job names a cron function, so the worker runs with its cron jobs.
    crons: bool = False


def _raw_job(job: str, *args: Any, **kwargs: Any) -> RawSender:
    async def send(client: LifecycleClient, job_id: str) -> None:
        await client.redis.enqueue_job(job, *args, _job_id=job_id, **kwargs)

    return send


def _raw_bytes(body: bytes) -> RawSender:
    async def send(client: LifecycleClient, job_id: str) -> None:
        await client.redis.set(job_key_prefix + job_id, body, px=60_000)
        await client.redis.zadd(client.settings.queue_name, {job_id: int(time.time() * 1000)})

    return send


def _envelope(**fields: Any) -> RawSender:
    """An ARQ job envelope with ``fields`` of the wrong type (the rest well-formed)."""
    envelope = {"t": 1, "f": "ping", "a": [{}], "k": {}, "et": int(time.time() * 1000)}
    return _raw_bytes(json.dumps({**envelope, **fields}).encode())


def _migrate(**changes: Any) -> dict[str, Any]:
    payload = {"source": "openai:src", "target": "openai:dst", **GOOD, "confirm_warnings": False}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def _catalog_entry(fields: str, name: str = "x") -> str:
    return f'[[models]]\nprovider = "openai"\nname = "{name}"\n{fields}\n'


CATALOG_DUPLICATE = {
    "models": [
        {"provider": "openai", "name": "dup", "token_limit": 1000},
        {"provider": "openai", "name": "dup", "token_limit": 2000},
    ]
}

CASES = [
    # The CLI: exit 2, nothing queued, nothing written.
    Case(
        "cli-malformed-model",
        "use the model's id (a number or a UUID",
        ("migrate", "src", "openai:dst"),
    ),
    Case("cli-malformed-uuid", "is not a model reference", ("delete", MALFORMED_UUID)),
    Case(
        "cli-ambiguous-bare-name",
        "provider:name",
        ("delete", "gpt-4o", "--replacement", "openai:dst"),
    ),
    Case(
        "cli-missing-target",
        "the following arguments are required: TARGET",
        ("migrate", "openai:src"),
    ),
    Case("cli-unknown-option", "unrecognized arguments: --force", ("cleanup", "--force")),
    Case("cli-wrong-type", "'many' is not a whole number", ("history", "--limit", "many")),
    Case("cli-unknown-command", "invalid choice", ("destroy", "openai:src")),
    Case(
        "cli-bad-toml",
        "refused",
        ("catalog", "sync", "{tmp}/bad.toml"),
        files={"bad.toml": "[[models]\nprovider = \n"},
    ),
    Case(
        "cli-catalog-wrong-types",
        "token_limit",
        ("catalog", "sync", "{tmp}/types.toml"),
        files={"types.toml": '[[models]]\nprovider = "openai"\nname = "x"\ntoken_limit = "lots"\n'},
    ),
    Case(
        "cli-catalog-missing-file", "cannot read catalog", ("catalog", "sync", "{tmp}/absent.toml")
    ),
    # Values that pass a type check and would then fail in PostgreSQL.
    Case(
        "cli-catalog-integer-overflow",
        "token_limit: Input should be less than or equal to 2147483647",
        ("catalog", "sync", "{tmp}/big.toml"),
        files={"big.toml": _catalog_entry("token_limit = 99999999999")},
    ),
    Case(
        "cli-catalog-negative-level",
        "security_level: Input should be greater than or equal to 0",
        ("catalog", "sync", "{tmp}/level.toml"),
        files={"level.toml": _catalog_entry("token_limit = 10\nsecurity_level = -1")},
    ),
    Case(
        "cli-catalog-nul-in-name",
        "models[0].name: must not contain a NUL character",
        ("catalog", "sync", "{tmp}/nul.toml"),
        files={"nul.toml": _catalog_entry("token_limit = 10", name="bad\\u0000name")},
    ),
    Case(
        "cli-catalog-nul-in-display-name",
        "display_name: must not contain a NUL character",
        ("catalog", "sync", "{tmp}/nul2.toml"),
        files={"nul2.toml": _catalog_entry('token_limit = 10\ndisplay_name = "a\\u0000b"')},
    ),
    Case(
        "cli-catalog-nul-in-deleted-replacement",
        "must not contain a NUL character",
        ("catalog", "sync", "{tmp}/nul3.toml"),
        files={
            "nul3.toml": '[[deleted]]\nprovider = "openai"\nname = "old"\n'
            'replacement = "openai:x\\u0000"\n'
        },
    ),
    Case(
        "cli-catalog-huge-display-name",
        "display_name: String should have at most 200 characters",
        ("catalog", "sync", "{tmp}/huge.toml"),
        files={"huge.toml": _catalog_entry(f'token_limit = 10\ndisplay_name = "{"x" * 300_000}"')},
    ),
    Case(
        "cli-misspelled-setting",
        "unknown setting(s): LIFECYCLE_BACH_SIZE",
        ("cleanup", "--dry-run"),
        env={"LIFECYCLE_BACH_SIZE": "5"},
    ),
    # The client: ClientError before anything reaches the queue.
    Case(
        "client-unknown-job",
        "unknown job 'drop_all_models'",
        client=lambda c: c.enqueue("drop_all_models", {}, key=f"k-{uuid.uuid4()}"),
    ),
    Case(
        "client-missing-field",
        "target",
        client=lambda c: c.enqueue("migrate_model", _migrate(target=...), key=f"k-{uuid.uuid4()}"),
    ),
    Case(
        "client-wrong-type",
        "confirm_warnings",
        client=lambda c: c.enqueue(
            "migrate_model", _migrate(confirm_warnings=[1]), key=f"k-{uuid.uuid4()}"
        ),
    ),
    Case(
        "client-extra-field",
        "Extra inputs are not permitted",
        client=lambda c: c.enqueue(
            "delete_model", {"model": "openai:src", **GOOD, "force": True}, key=f"k-{uuid.uuid4()}"
        ),
    ),
    Case("client-malformed-uuid", "event_id", client=lambda c: c.fanout_event(MALFORMED_UUID)),
    Case(
        "client-ambiguous-name",
        "provider:name",
        client=lambda c: c.delete_model(
            "gpt-4o", requested_by="faults", request_key=f"k-{uuid.uuid4()}"
        ),
    ),
    Case("client-empty-key", "idempotency key", client=lambda c: c.enqueue("ping", {}, key="")),
    Case(
        "client-oversized-key",
        "idempotency key",
        client=lambda c: c.enqueue("ping", {}, key="k" * 600),
    ),
    Case(
        "client-bad-trigger",
        "trigger",
        client=lambda c: c.enqueue(
            "cleanup_retired_models", {"trigger": "weekly"}, key=f"k-{uuid.uuid4()}"
        ),
    ),
    Case(
        "client-nul-in-request-key",
        "request_key\n  Value error, must not contain a NUL character",
        client=lambda c: c.migrate_model(
            "openai:src", "openai:dst", requested_by="faults", request_key="k\x00"
        ),
    ),
    Case(
        "client-nul-in-requested-by",
        "requested_by\n  Value error, must not contain a NUL character",
        client=lambda c: c.delete_model(
            "openai:src", requested_by="fa\x00ults", request_key=f"k-{uuid.uuid4()}"
        ),
    ),
    Case(
        "client-nul-in-model-reference",
        "source\n  Value error, must not contain a NUL character",
        client=lambda c: c.migrate_model(
            "openai:sr\x00c", "openai:dst", requested_by="faults", request_key=f"k-{uuid.uuid4()}"
        ),
    ),
    Case(
        "client-nul-in-catalog",
        "must not contain a NUL character",
        client=lambda c: c.sync_catalog(
            {"models": []}, key=f"k-{uuid.uuid4()}", requested_by="cat\x00alog"
        ),
    ),
    Case(
        "client-requested-by-empty",
        "requested_by",
        client=lambda c: c.migrate_model(
            "openai:src", "openai:dst", requested_by="", request_key=f"k-{uuid.uuid4()}"
        ),
    ),
    # Raw Redis, as a buggy or hostile producer would write it: failed once, never retried.
    Case(
        "raw-pickle",
        "DeserializationError",
        raw=_raw_bytes(pickle.dumps({"t": 1, "f": "ping", "a": [], "k": {}, "et": 0})),
    ),
    Case("raw-not-json", "DeserializationError", raw=_raw_bytes(b"\x00\xffnot json at all")),
    Case("raw-json-array", "DeserializationError", raw=_raw_bytes(b"[1, 2, 3]")),
    Case(
        "raw-oversized",
        "DeserializationError",
        raw=_raw_bytes(
            json.dumps(
                {"t": 1, "f": "ping", "a": [{"message": "x" * MAX_JOB_BYTES}], "k": {}, "et": 0}
            ).encode()
        ),
    ),
    # Envelope fields ARQ reads before it runs a job: each once ended the worker process.
    Case("raw-envelope-try-text", "DeserializationError", raw=_envelope(t="x")),
    Case("raw-envelope-try-list", "DeserializationError", raw=_envelope(t=[1])),
    Case("raw-envelope-time-text", "DeserializationError", raw=_envelope(et="soon")),
    Case("raw-envelope-time-huge", "DeserializationError", raw=_envelope(et=10**20)),
    Case("raw-envelope-function-list", "DeserializationError", raw=_envelope(f=["ping"])),
    Case(
        "raw-cron-function",
        "cron:cleanup_retired_models runs only on its schedule",
        raw=_raw_job("cron:cleanup_retired_models"),
        crons=True,
    ),
    Case(
        "raw-unknown-job",
        "function 'drop_all_models' not found",
        raw=_raw_job("drop_all_models", {}),
    ),
    Case(
        "raw-payload-not-object",
        "payload must be a JSON object",
        raw=_raw_job("migrate_model", "openai:src -> openai:dst"),
    ),
    Case(
        "raw-keyword-arguments",
        "expected one JSON object",
        raw=_raw_job("fanout_event", event_id=str(uuid.uuid4())),
    ),
    Case(
        "raw-missing-field",
        "request_key: Field required",
        raw=_raw_job("migrate_model", _migrate(request_key=...)),
    ),
    Case(
        "raw-malformed-uuid",
        "is not a model reference",
        raw=_raw_job("delete_model", {"model": MALFORMED_UUID, **GOOD}),
    ),
    Case(
        "raw-unknown-event-id",
        "no lifecycle event",
        raw=_raw_job("fanout_event", {"event_id": str(uuid.uuid4())}),
    ),
    Case(
        "raw-wrong-type",
        "dry_run",
        raw=_raw_job("cleanup_retired_models", {"dry_run": "sometimes"}),
    ),
    Case(
        "raw-nul-in-request-key",
        "request_key: Value error, must not contain a NUL character",
        raw=_raw_job("migrate_model", _migrate(request_key="bad\x00key")),
    ),
    Case(
        "raw-catalog-integer-overflow",
        "token_limit: Input should be less than or equal to 2147483647",
        raw=_raw_job(
            "sync_catalog",
            {"catalog": {"models": [{"provider": "openai", "name": "x", "token_limit": 10**11}]}},
        ),
        records_refusal_in="lifecycle_runs",
    ),
    Case(
        "raw-invalid-catalog",
        "duplicate entry openai:dup",
        raw=_raw_job("sync_catalog", {"catalog": CATALOG_DUPLICATE}),
        records_refusal_in="lifecycle_runs",
    ),
]


async def _seed(factory: Factory) -> None:
    """Something in most tables, so that an unchanged checksum means something."""
    team = await factory.team()
    await factory.member(team)
    src, dst = await factory.model("src"), await factory.model("dst")
    await factory.assistant(team, src)
    await factory.pipeline(team, [src, None])
    await factory.space(team, [src, dst])
    await factory.question(team, src)
    await factory.model_migration_row(src, dst, status="rejected")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_is_refused_and_changes_nothing(
    case: Case,
    e2e_settings: Settings,
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    factory: Factory,
    runtime: Runtime,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _seed(factory)
    excluded = (case.records_refusal_in,) if case.records_refusal_in else ()
    before = await table_checksums(runtime.engine, exclude=excluded)

    if case.cli:
        for name, content in case.files.items():
            (tmp_path / name).write_text(content)
        args = [a.replace("{tmp}", str(tmp_path)) for a in case.cli]
        done = run_cli(e2e_settings, *args, **case.env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert case.message in done.stderr, done.stderr
    elif case.client is not None:
        with pytest.raises(ClientError, match=re.escape(case.message)):
            await case.client(client)
        assert await client.redis.zcard(e2e_settings.queue_name) == 0
    else:
        assert case.raw is not None
        job_id = f"raw-{uuid.uuid4()}"
        await case.raw(client, job_id)
        worker = burst_worker(with_crons=True) if case.crons else burst_worker(cron_jobs=[])
        for cron_job in worker.cron_jobs:  # none falls due during the run
            cron_job.next_run = datetime.now(e2e_settings.zone) + timedelta(days=7)
        try:
            await worker.main()  # returns: the worker goes on
            assert (worker.jobs_failed, worker.jobs_retried, worker.jobs_complete) == (1, 0, 0)
        finally:
            await worker.close()
        # Nothing left to stop the next worker: nothing queued, no in-progress key.
        assert await client.redis.zcard(e2e_settings.queue_name) == 0
        if case.crons:
            # ARQ keeps no result of a cron function (and its in-progress key for a
            # minute, so that one instant runs once): the failure is in the worker's log.
            assert case.message in caplog.text
        else:
            assert not await client.redis.exists(in_progress_key_prefix + job_id)
            with pytest.raises(JobFailed, match=re.escape(case.message)):
                await client.result(job_id, timeout_s=5)
            state = await client.status(job_id)
            assert (state.status, state.tries) == ("complete", 1)

    assert await table_checksums(runtime.engine, exclude=excluded) == before
    if case.records_refusal_in:
        async with runtime.engine.connect() as conn:
            statuses = await conn.scalars(text(f"SELECT status FROM {case.records_refusal_in}"))
            assert list(statuses) == ["rejected"]


async def test_unknown_model_ids_are_refused_with_their_code_and_only_recorded(
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    factory: Factory,
    runtime: Runtime,
) -> None:
    """Well-formed but unknown ids are a refusal (a ``rejected`` row with its code), the
    one trace a refused request leaves; every other table is unchanged."""
    await _seed(factory)
    before = await table_checksums(runtime.engine, exclude=("model_migrations",))
    key = f"unknown-{uuid.uuid4()}"
    handle = await client.migrate_model(
        str(uuid.uuid4()), str(uuid.uuid4()), requested_by="faults", request_key=key
    )
    worker = burst_worker(cron_jobs=[])
    try:
        await worker.main()
    finally:
        await worker.close()
    result = await client.result(handle.job_id, timeout_s=5)
    assert result["status"] == "rejected"
    assert {"source_not_found", "target_not_found"} <= set(result["codes"])
    assert await table_checksums(runtime.engine, exclude=("model_migrations",)) == before
