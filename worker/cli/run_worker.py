"""``lifecycle worker [--burst]``."""

from __future__ import annotations

import argparse
import asyncio
import logging

from worker.app import make_worker
from worker.cli.output import EXIT_FAILED, EXIT_OK, CommandFailed, print_json
from worker.metrics import HttpUnavailable, WorkerMetrics
from worker.platform import PlatformNotReady, check_platform_ready
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "worker",
        parents=[common],
        help="run the worker (foreground)",
        description=(
            "Run a worker in the foreground: it takes jobs from the queue "
            "(LIFECYCLE_QUEUE_NAME on LIFECYCLE_REDIS_URL), runs the cron schedules "
            "(cleanup, enrichment, outbox sweep) and writes the heartbeat that "
            "`lifecycle health` checks. It refuses to start, naming every problem, when the "
            "database does not match the platform mapping (LIFECYCLE_PLATFORM_FILE, or the "
            "built-in reference platform; see `lifecycle platform check`). SIGTERM hands the "
            "running job back to the queue and exits 0. --burst stops once the queue is "
            "empty (exit 1 if a job failed)."
        ),
    )
    p.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    p.add_argument(
        "--http",
        type=_port,
        metavar="PORT",
        help="serve Prometheus /metrics and a /healthz probe on PORT (LIFECYCLE_HTTP_PORT; "
        "bound to LIFECYCLE_HTTP_HOST, default 127.0.0.1; 0 picks a free port, logged)",
    )
    p.set_defaults(handler=cmd_worker)


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535)")
    return int(value)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.http is not None:
        settings = settings.model_copy(update={"http_port": args.http})
    # Refuse before the worker announces itself: a worker that cannot run on this
    # database says why and never logs "Starting worker".
    metrics = WorkerMetrics(settings)
    try:
        asyncio.run(check_platform_ready(settings))
        metrics.bind()
    except (PlatformNotReady, HttpUnavailable) as exc:
        raise CommandFailed(str(exc)) from exc
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = make_worker(settings, burst=args.burst, metrics=metrics)
    worker.run()
    summary = {
        "complete": worker.jobs_complete,
        "failed": worker.jobs_failed,
        "retried": worker.jobs_retried,
    }
    if args.burst:
        if args.json:
            print_json(summary)
        else:
            print(f"burst finished: {summary}")
    return EXIT_OK if not args.burst or worker.jobs_failed == 0 else EXIT_FAILED
