"""Real receivers on loopback for the delivery tests: an HTTP server (aiohttp) that
verifies webhook signatures and can be told to fail, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from jobs.channels.webhook import verify_signature


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A rule sees (idempotency key or "", how many calls that key has had before) and returns
# an HTTP status to answer, "hang" to answer only after the sender's timeout, or None
# to accept.
Rule = Callable[[str, int], "int | str | None"]


@dataclass
class Call:
    """One request as the receiver saw it."""

    path: str
    key: str
    body: bytes
    signature_ok: bool
    status: int


@dataclass
class HttpReceiver:
    """Accepts signed webhook calls and Slack messages; records every call."""

    secret: str = ""
    rule: Rule = lambda key, seen: None
    delay_seconds: float = 0.0
    hang_seconds: float = 3.0
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

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        signature = request.headers.get("Lifecycle-Signature")
        ok = signature is not None and verify_signature(
            self.secret, signature, body, now=int(time.time())
        )
        verdict = self.rule(key, self.seen(key))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if verdict == "hang":
            self.calls.append(Call(request.path, key, body, ok, 0))
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=200)
        if self.secret and not ok:
            status = 401
        elif isinstance(verdict, int):
            status = verdict
        else:
            status = 200
        self.calls.append(Call(request.path, key, body, ok, status))
        if status == 200:
            self.accepted.setdefault(key or request.path, []).append(body)
        return web.json_response({"ok": status == 200}, status=status)

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
    """A real SMTP server (aiosmtpd, its own thread) on a spare loopback port."""

    def __init__(self) -> None:
        self.handler = _Collect()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

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
