"""The client against an in-memory Redis (fakeredis): no services needed."""

import pytest

from worker.client import ClientError, LifecycleClient
from worker.serialization import deserialize


async def test_same_key_enqueues_once(client: LifecycleClient) -> None:
    first = await client.enqueue("ping", {"message": "a"}, key="req-1")
    second = await client.enqueue("ping", {"message": "a"}, key="req-1")
    assert first.created and not second.created
    assert first.job_id == second.job_id == "lifecycle-unit:ping:req-1"
    assert await client.redis.zcard("lifecycle-unit") == 1


async def test_different_keys_enqueue_separately(client: LifecycleClient) -> None:
    await client.enqueue("ping", {}, key="a")
    await client.enqueue("ping", {}, key="b")
    assert await client.redis.zcard("lifecycle-unit") == 2


async def test_queued_job_is_stored_as_json(client: LifecycleClient) -> None:
    handle = await client.enqueue("ping", {"message": "json"}, key="k")
    raw = await client.redis.get(f"arq:job:{handle.job_id}")
    assert deserialize(raw)["a"] == [{"message": "json"}]
    state = await client.status(handle.job_id)
    assert state.status == "queued"


async def test_odd_keys_map_to_stable_safe_ids(client: LifecycleClient) -> None:
    a = await client.enqueue("ping", {}, key="team 7 / model ☃")
    b = await client.enqueue("ping", {}, key="team 7 / model ☃")
    assert a.job_id == b.job_id and a.job_id.startswith("lifecycle-unit:ping:h:")


@pytest.mark.parametrize(
    ("job", "payload", "key", "message"),
    [
        ("no_such_job", {}, "k", "unknown job 'no_such_job'"),
        ("ping", {"message": 42}, "k", "invalid payload"),
        ("ping", {"unexpected": 1}, "k", "invalid payload"),
        ("ping", {}, "", "idempotency key"),
    ],
)
async def test_bad_requests_never_reach_the_queue(
    client: LifecycleClient, job: str, payload: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ClientError, match=message):
        await client.enqueue(job, payload, key=key)
    assert await client.redis.zcard("lifecycle-unit") == 0


async def test_unknown_job_id_has_status_not_found(client: LifecycleClient) -> None:
    state = await client.status("ping:never")
    assert state.status == "not_found"
    with pytest.raises(LookupError, match="not found"):
        await client.result("ping:never", timeout_s=1)
