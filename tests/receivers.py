"""Real receivers on loopback for the delivery tests: an HTTP server (aiohttp) that
verifies webhook signatures and can be told to fail, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from sqlalchemy import text

from jobs.channels.webhook import verify_signature
from jobs.runtime import Runtime

# The webhook secret the delivery tests sign with.
SECRET = "whsec-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A rule sees (idempotency key or "", how many calls that key has had before) and returns
# an HTTP status to answer, None to accept, or a misbehaviour:
# - "hang": answer only after ``hang_seconds``;
# - "drip": answer 200 at once, then send the body a byte at a time for ``hang_seconds``
#   (every read gets a byte, so no per-read timeout ever fires);
# - "echo": 404 with the request's path and query in the body, as many servers do;
# - "huge": 503 with a body of ``huge_bytes`` (``streamed`` counts what got out).
Rule = Callable[[str, int], "int | str | None"]


@dataclass
class Call:
    """One request as the receiver saw it."""

    path: str
    key: str
    body: bytes
    signature_ok: bool
    status: int
    started: float = 0.0
    ended: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpReceiver:
    """Accepts signed webhook calls and Slack messages; records every call."""

    secret: str = ""
    rule: Rule = lambda key, seen: None
    delay_seconds: float = 0.0
    hang_seconds: float = 3.0
    huge_bytes: int = 64 * 1024 * 1024
    streamed: int = 0
    answer_headers: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    accepted: dict[str, list[bytes]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> HttpReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def seen(self, key: str) -> int:
        return sum(1 for c in self.calls if c.key == key)

    def accepted_counts(self) -> Counter[str]:
        return Counter({k: len(v) for k, v in self.accepted.items()})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        signature = request.headers.get("Lifecycle-Signature")
        ok = signature is not None and verify_signature(
            self.secret, signature, body, now=int(time.time())
        )
        verdict = self.rule(key, self.seen(key))
        call = Call(request.path, key, body, ok, 0, started, headers=dict(request.headers))
        self.calls.append(call)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        try:
            if verdict in ("hang", "drip", "huge"):
                return await self._misbehave(request, call, str(verdict))
            if verdict == "echo":
                call.status = 404
                return web.Response(status=404, text=f"Cannot POST {request.path_qs}")
            if self.secret and not ok:
                call.status = 401
            else:
                call.status = verdict if isinstance(verdict, int) else 200
            if call.status == 200:
                self.accepted.setdefault(key or request.path, []).append(body)
            return web.json_response(
                {"ok": call.status == 200}, status=call.status, headers=self.answer_headers
            )
        finally:
            call.ended = time.monotonic()

    async def _misbehave(self, request: web.Request, call: Call, how: str) -> web.StreamResponse:
        if how == "hang":
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=200)
        call.status = 200 if how == "drip" else 503
        response = web.StreamResponse(status=call.status)
        await response.prepare(request)
        try:
            if how == "drip":
                for _ in range(int(self.hang_seconds / 0.1)):
                    await response.write(b" ")
                    await asyncio.sleep(0.1)
            else:
                chunk = b"x" * 65536
                while self.streamed < self.huge_bytes:
                    await response.write(chunk)
                    self.streamed += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the sender hung up: what it read is all it wanted
        return response

    def bodies(self) -> list[dict[str, Any]]:
        """Every accepted body, parsed."""
        return [json.loads(b) for bodies in self.accepted.values() for b in bodies]


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd, its own thread) on a spare loopback port.

    With ``auth``, it offers AUTH without TLS (and no STARTTLS) and records every login
    it is sent, as a careless server would."""

    def __init__(self, *, auth: bool = False) -> None:
        self.handler = _Collect()
        self.port = free_port()
        self.logins: list[tuple[str, str]] = []
        extra: dict[str, Any] = {}
        if auth:
            extra = {"authenticator": self._login, "auth_require_tls": False}
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **extra)

    def _login(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return self.handler.messages

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


async def webhook_rows(runtime: Runtime, count: int, payload: str = '{"n": 1}') -> uuid.UUID:
    """``count`` pending webhook deliveries of one event, written as a fan-out would."""
    async with runtime.engine.begin() as conn:
        event_id = await conn.scalar(
            text(
                "INSERT INTO lifecycle_events (slug, dedup_key, model_provider, model_name) "
                "VALUES ('llm-model-deprecated', :key, 'openai', 'm') RETURNING id"
            ),
            {"key": f"test:{uuid.uuid4()}"},
        )
        await conn.execute(
            text(
                "INSERT INTO deliveries (event_id, channel, team_id, target, payload) "
                "SELECT :event_id, 'webhook', gen_random_uuid(), 'http://receiver', "
                "CAST(:payload AS jsonb) FROM generate_series(1, :count)"
            ),
            {"event_id": event_id, "count": count, "payload": payload},
        )
    assert isinstance(event_id, uuid.UUID)
    return event_id
