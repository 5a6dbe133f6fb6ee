"""Unit-test fixtures: no services (an in-memory Redis stands in for the real one)."""

from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from fakeredis import FakeServer
from fakeredis.aioredis import FakeAsyncRedisConnection
from redis.asyncio import ConnectionPool

from worker.client import LifecycleClient
from worker.serialization import deserialize, serialize
from worker.settings import load_settings


@pytest.fixture
async def client() -> AsyncIterator[LifecycleClient]:
    """A client on an in-memory Redis, queue ``lifecycle-unit``."""
    pool = ConnectionPool(server=FakeServer(), connection_class=FakeAsyncRedisConnection)
    redis = ArqRedis(
        connection_pool=pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name="lifecycle-unit",
    )
    async with LifecycleClient(load_settings(queue_name="lifecycle-unit"), redis=redis) as c:
        yield c
    await redis.aclose()
