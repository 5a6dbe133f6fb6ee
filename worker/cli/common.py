"""Pieces every CLI command shares: model arguments, in-process runtimes, submit-and-wait."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import ValidationError

from db.queries.audit import run_summary
from jobs.model_ref import ModelRef, ModelRefError, parse_model_ref
from jobs.runtime import Runtime
from jobs.spec import JobResult, Payload
from worker.app import build_runtime
from worker.cli.output import CommandFailed, print_json
from worker.cli.progress import JobDisplay
from worker.cli.watch import JobWatch, Progress
from worker.client import JobFailed, LifecycleClient
from worker.job_results import FULL_REPORT
from worker.settings import Settings

R = TypeVar("R", bound=JobResult)


def model_argument(value: str) -> ModelRef:
    """argparse ``type=`` for a model named by id or ``provider:name`` (bad → exit 2)."""
    try:
        return parse_model_ref(value)
    except ModelRefError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_wait_options(
    parser: argparse.ArgumentParser,
    no_wait_help: str = "print the job id instead of waiting for the result",
) -> None:
    """``--no-wait`` and ``--timeout`` for commands that enqueue a job."""
    parser.add_argument("--no-wait", action="store_true", help=no_wait_help)
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help=(
            "how long to wait for the result (default 3600); with no worker running, the "
            "command says so within seconds and keeps waiting"
        ),
    )


@asynccontextmanager
async def local_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime for in-process, read-only work (dry runs); no queue attached."""
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


def new_request_key(prefix: str) -> str:
    """A fresh idempotency key for a request typed at the CLI."""
    return f"{prefix}-{uuid.uuid4()}"


async def submit_and_wait(
    settings: Settings,
    job: str,
    payload: dict[str, Any],
    *,
    key: str,
    wait: bool = True,
    timeout_s: float = 3600.0,
    progress: Progress | None = None,
    show_progress: bool = True,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Enqueue ``job`` and (unless ``wait`` is false) wait for its result.

    Says within seconds when no worker heartbeat is live (the job stays queued and runs
    when a worker starts; the command keeps waiting). With ``progress`` and a terminal on
    stderr, shows rows done, rows per second and time left from what the job records in
    PostgreSQL. Returns ``{"job_id": …}`` when not waiting.
    """
    async with LifecycleClient(settings) as client:
        handle = await client.enqueue(job, payload, key=key, retry_failed=retry_failed)
        if not wait:
            return {"job_id": handle.job_id, "queued": handle.created}
        display = JobDisplay.for_stderr(rich=show_progress)
        runtime = build_runtime(settings) if progress is not None and display.console else None
        watch = JobWatch(client, handle.job_id, display)
        try:
            async with asyncio.timeout(timeout_s):
                await watch.until_finished(runtime, progress)
            result = await client.result(handle.job_id, timeout_s=5)
            display.finish_rows()
        except TimeoutError as exc:
            message = watch.timeout_message(timeout_s)
            raise CommandFailed(message, {"job_id": handle.job_id}) from exc
        except JobFailed as exc:
            raise CommandFailed(str(exc), {"job_id": handle.job_id, **exc.error}) from exc
        finally:
            display.close()
            if runtime is not None:
                await runtime.engine.dispose()
    if not isinstance(result, dict):
        return {"job_id": handle.job_id, "result": result}
    return {"job_id": handle.job_id, **await with_full_report(settings, result)}


def read_result(model: type[R], answer: dict[str, Any]) -> R:
    """A job's JSON result read back as its typed ``model``. One the worker had to cut to
    its plain values (too large to keep whole) cannot be: that is said instead."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        if "truncated" not in answer:
            raise
        cut = ", ".join(answer["truncated"])
        raise CommandFailed(
            f"the job's result was too large to keep whole ({cut} left out); "
            "`lifecycle requests` and `lifecycle history` show the request",
            answer,
        ) from exc


async def with_full_report(settings: Settings, result: dict[str, Any]) -> dict[str, Any]:
    """A shortened job result completed from the report its run stored in full."""
    if result.get("full_report") != FULL_REPORT or result.get("run_id") is None:
        return result
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        summary = await run_summary(session, uuid.UUID(str(result["run_id"])))
    if summary is None:
        return result
    full = {k: v for k, v in result.items() if k != "full_report"} | summary
    still_cut = {
        path: n
        for path, n in result.get("truncated", {}).items()
        if path.split(".")[0].removesuffix("[]") not in summary
    }
    if still_cut:
        full["truncated"] = still_cut
    else:
        full.pop("truncated", None)
    return full


def run_now(
    args: argparse.Namespace,
    settings: Settings,
    *,
    job: str,
    payload: Payload,
    run: Callable[[Runtime, Any], Awaitable[dict[str, Any]]],
    render: Callable[[dict[str, Any]], str],
) -> dict[str, Any] | None:
    """What a "run the periodic job now" command does, and prints.

    ``--dry-run`` calls the job's function in-process on a dry copy of ``payload``;
    otherwise the job is queued and waited for (``--no-wait`` prints its id). Returns the
    report, or ``None`` when it was not waited for.
    """
    if args.dry_run:

        async def dry() -> dict[str, Any]:
            async with local_runtime(settings) as runtime:
                return await run(runtime, payload.model_copy(update={"dry_run": True}))

        report = asyncio.run(dry())
    else:
        report = asyncio.run(
            submit_and_wait(
                settings,
                job,
                payload.model_dump(mode="json"),
                key=new_request_key(job),
                wait=not args.no_wait,
                timeout_s=args.timeout,
            )
        )
        if args.no_wait:
            print_json(report) if args.json else print(f"queued {report['job_id']}")
            return None
    print_json(report) if args.json else print(render(report))
    return report
