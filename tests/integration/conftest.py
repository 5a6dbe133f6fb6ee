"""Real receivers on loopback for the delivery tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.receivers import SECRET, HttpReceiver, SmtpReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    """An HTTP receiver checking signatures made with ``SECRET``."""
    r = await HttpReceiver(secret=SECRET).start()
    yield r
    await r.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()
