"""``lifecycle worker --http PORT``: Prometheus metrics at ``/metrics``, a probe at ``/healthz``.

Counters and histograms count what this worker did (jobs, batches, rows moved, delivery
attempts): Prometheus sums them over the workers it scrapes. Gauges describe the platform
as a whole and are read from PostgreSQL at each scrape (models by state, the outbox,
models that live configuration still uses with a retirement date, active requests), so
every worker reports the same values.

The HTTP server runs in a thread of its own (the standard library's WSGI server, with the
client library's exposition app); anything it needs from the database or Redis it asks
the worker's event loop for, so a probe that gets an answer also shows that the loop is
not stuck.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from arq import Retry
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from db.queries import metrics as q
from db.queries.overview import STATES
from jobs.channels import CHANNELS
from jobs.deliveries import REPORTED_STATUS
from jobs.observer import Observer
from jobs.registry import all_jobs
from jobs.runtime import Runtime
from worker.health import DEADLINE_S, check_health
from worker.settings import Settings

log = logging.getLogger("lifecycle.metrics")

# How long a scrape waits for the database reads before reporting the database down.
SCRAPE_TIMEOUT_S = 5.0
# The checks /healthz answers 200 on.
PROBE_CHECKS = ("redis", "worker", "postgres", "schema")
JOB_OUTCOMES = ("succeeded", "failed", "retried", "cancelled")
DELIVERY_OUTCOMES = tuple(REPORTED_STATUS.values())
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class HttpUnavailable(RuntimeError):
    """The configured address cannot be served (taken, or not this host's)."""


@dataclass(frozen=True)
class Snapshot:
    """What one scrape read from PostgreSQL."""

    models: dict[str, int]
    delivery_rows: dict[tuple[str, str], int]
    backlog: list[q.Backlog]
    retiring: list[q.Retiring]
    requests: list[q.RequestProgress]


async def read_snapshot(runtime: Runtime) -> Snapshot:
    """The platform-wide gauges, read in one connection."""
    async with runtime.engine.connect() as conn:
        return Snapshot(
            models=await q.models_by_state(conn),
            delivery_rows=await q.deliveries_by_status(conn),
            backlog=await q.outbox_backlog(conn),
            retiring=await q.retiring_in_use(conn, runtime.platform),
            requests=await q.active_requests(conn),
        )


def _gauges(snap: Snapshot) -> Iterator[Metric]:
    models = GaugeMetricFamily(
        "lifecycle_models", "Models by lifecycle state (the first that applies)", labels=["state"]
    )
    for state in STATES:
        models.add_metric([state], snap.models.get(state, 0))
    yield models

    rows = GaugeMetricFamily(
        "lifecycle_delivery_rows",
        "Delivery rows by channel and status",
        labels=["channel", "status"],
    )
    for (channel, status), n in sorted(snap.delivery_rows.items()):
        rows.add_metric([channel, status], n)
    yield rows

    pending = {b.channel: b for b in snap.backlog}
    backlog = GaugeMetricFamily(
        "lifecycle_outbox_backlog", "Deliveries waiting to be sent, by channel", labels=["channel"]
    )
    oldest = GaugeMetricFamily(
        "lifecycle_outbox_oldest_age_seconds",
        "Age of the oldest delivery waiting to be sent, by channel (0: none waiting)",
        labels=["channel"],
    )
    for channel in CHANNELS:
        found = pending.get(channel)
        backlog.add_metric([channel], found.pending if found else 0)
        oldest.add_metric([channel], found.oldest_seconds if found else 0.0)
    yield backlog
    yield oldest

    per_model = GaugeMetricFamily(
        "lifecycle_model_retirement_days",
        "Days until the deprecation date of a model live configuration still uses "
        "(negative: passed)",
        labels=["model_id", "model"],
    )
    for r in snap.retiring:
        per_model.add_metric([str(r.id), r.model], r.days_left)
    yield per_model
    if snap.retiring:
        yield GaugeMetricFamily(
            "lifecycle_next_retirement_days",
            "Days until the next deprecation date of a model with live references",
            value=min(r.days_left for r in snap.retiring),
        )

    done = GaugeMetricFamily(
        "lifecycle_request_rows_done",
        "Rows an active migration or deletion has changed so far",
        labels=["request_key", "kind"],
    )
    planned = GaugeMetricFamily(
        "lifecycle_request_rows_planned",
        "Rows an active migration or deletion planned to change",
        labels=["request_key", "kind"],
    )
    for req in snap.requests:
        done.add_metric([req.request_key, req.kind], req.done)
        planned.add_metric([req.request_key, req.kind], req.planned)
    yield done
    yield planned


class _DatabaseGauges(Collector):
    """Reads the gauges from PostgreSQL at each scrape, through the worker's loop."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # nothing to read when the collector is registered

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.ask_loop(read_snapshot, SCRAPE_TIMEOUT_S)
        yield GaugeMetricFamily(
            "lifecycle_database_up",
            "1 when this scrape read the database gauges, 0 when it could not",
            value=0 if snap is None else 1,
        )
        if snap is not None:
            yield from _gauges(snap)


class WorkerMetrics(Observer):
    """This worker's counters and the HTTP server that exposes them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # No `_created` series beside each counter: they double the output for no alert.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "lifecycle_jobs",
            "Jobs this worker ran, by job and outcome",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "lifecycle_job_duration_seconds",
            "How long this worker's jobs ran, by job",
            ["job"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "lifecycle_batch_duration_seconds",
            "How long each committed batch of a migration or deletion took, by reference",
            ["reference"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.rows_moved = Counter(
            "lifecycle_rows_moved",
            "Rows of live configuration this worker's batches re-pointed or cleared, by reference",
            ["reference"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "lifecycle_deliveries",
            "Delivery attempts this worker made, by channel and how they ended",
            ["channel", "status"],
            registry=self.registry,
        )
        # Every series exists from the start, so rate() and increase() see the first event.
        for spec in all_jobs():
            for outcome in JOB_OUTCOMES:
                self.jobs.labels(spec.name, outcome)
        for channel in CHANNELS:
            for status in DELIVERY_OUTCOMES:
                self.deliveries.labels(channel, status)
        self.registry.register(_DatabaseGauges(self))
        self._runtime: Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: WSGIServer | None = None
        self._serving: threading.Thread | None = None

    # Observer hooks: called by the jobs on the worker's loop.
    def batch_done(self, reference: str, rows: int, seconds: float) -> None:
        self.batch_seconds.labels(reference).observe(seconds)
        self.rows_moved.labels(reference).inc(rows)

    def delivery_done(self, channel: str, status: str) -> None:
        self.deliveries.labels(channel, status).inc()

    @asynccontextmanager
    async def timing(self, job: str) -> AsyncIterator[None]:
        """Count the job run in the body by how it ended, and time it."""
        started = time.perf_counter()
        outcome = "failed"
        try:
            yield
            outcome = "succeeded"
        except Retry:
            outcome = "retried"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"  # the worker stopped; ARQ runs the job again
            raise
        finally:
            self.jobs.labels(job, outcome).inc()
            self.job_seconds.labels(job).observe(time.perf_counter() - started)

    def ask_loop(self, read: Callable[[Runtime], Any], timeout_s: float) -> Any:
        """Run ``read(runtime)`` on the worker's loop from the server's thread; ``None``
        when the worker is not running or the read failed or took too long."""
        runtime, loop = self._runtime, self._loop
        if runtime is None or loop is None or loop.is_closed():
            return None
        future = asyncio.run_coroutine_threadsafe(read(runtime), loop)
        try:
            return future.result(timeout_s)
        except Exception as exc:
            future.cancel()  # a read that outlived the scrape is not left running
            log.warning("metrics: could not read the database: %s: %s", type(exc).__name__, exc)
            return None

    # The HTTP server.
    def app(self) -> WSGIApp:
        """``/metrics`` (the client library's app) and ``/healthz``; 404 elsewhere."""
        metrics = make_wsgi_app(self.registry)

        def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics(environ, start_response)  # type: ignore[no-any-return]
            if path == "/healthz":
                status, body = self.probe()
                start_response(status, [("Content-Type", "application/json")])
                return [json.dumps(body).encode() + b"\n"]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: /metrics and /healthz are served here\n"]

        return route

    def probe(self) -> tuple[str, dict[str, Any]]:
        """``/healthz``: 200 when the worker's loop answers and its heartbeat, PostgreSQL
        (schema at head) and Redis are fine; 503 naming what is not."""

        async def checks(_: Runtime) -> dict[str, Any]:
            report = await check_health(self.settings)
            return {c.name: {"ok": c.ok, "detail": c.detail} for c in report.checks}

        found = self.ask_loop(checks, DEADLINE_S + 2)
        if found is None:
            body: dict[str, Any] = {
                "healthy": False,
                "error": "the worker did not answer (not started, stopping, or its loop is busy)",
            }
            return "503 Service Unavailable", body
        probed = {name: found[name] for name in PROBE_CHECKS if name in found}
        healthy = all(c["ok"] for c in probed.values())
        body = {"healthy": healthy, "checks": probed}
        return ("200 OK" if healthy else "503 Service Unavailable"), body

    def bind(self) -> None:
        """Take the configured address now (``HttpUnavailable`` if it cannot be had), so a
        worker refuses before it starts; nothing is answered until ``start``."""
        if self.settings.http_port is None or self._server is not None:
            return
        host, port = self.settings.http_host, self.settings.http_port
        try:
            self._server = make_server(
                host, port, self.app(), server_class=_ThreadingServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise HttpUnavailable(
                f"cannot serve /metrics and /healthz on {host}:{port} (--http / "
                f"LIFECYCLE_HTTP_PORT, LIFECYCLE_HTTP_HOST): {exc.strerror or exc}"
            ) from exc

    async def start(self, runtime: Runtime) -> None:
        """Attach the worker's runtime and loop; serve HTTP when a port is configured."""
        self._runtime, self._loop = runtime, asyncio.get_running_loop()
        self.bind()
        if self._server is None:
            return
        self._serving = threading.Thread(
            target=self._server.serve_forever, name="lifecycle-http", daemon=True
        )
        self._serving.start()
        bound_host, bound_port = self._server.server_address[:2]
        log.info("serving /metrics and /healthz on http://%s:%s", bound_host, bound_port)

    async def stop(self) -> None:
        """Stop serving (a scrape in flight gets ``lifecycle_database_up 0``)."""
        self._runtime = None
        server, serving = self._server, self._serving
        self._server = self._serving = None
        if serving is not None and server is not None:
            await asyncio.to_thread(server.shutdown)  # waits for serve_forever to return
        if server is not None:
            server.server_close()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """A slow scrape does not hold up a probe."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
