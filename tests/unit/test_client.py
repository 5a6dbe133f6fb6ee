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


@pytest.mark.parametrize(
    ("teams", "message"),
    [
        ([], "name at least one team"),
        (["  "], "cannot be empty"),
        ([True], "is not a team id or slug"),
        ("team-a", "a list of team ids or slugs, not the string 'team-a'"),
    ],
)
async def test_a_bad_team_list_never_reaches_the_queue(
    client: LifecycleClient, teams: object, message: str
) -> None:
    with pytest.raises(ClientError, match=message):
        await client.migrate_model(
            "openai:a",
            "openai:b",
            requested_by="t",
            request_key="teams-bad",
            teams=teams,  # type: ignore[arg-type]
        )
    assert await client.redis.zcard("lifecycle-unit") == 0


async def test_a_request_key_names_the_teams_it_was_queued_for(client: LifecycleClient) -> None:
    async def migrate(teams: list[str] | None) -> bool:
        handle = await client.migrate_model(
            "openai:a", "openai:b", requested_by="t", request_key="teams-key", teams=teams
        )
        return handle.created

    assert await migrate(["7", "team-b"])
    # The same teams, in any order, written once or twice: the same request.
    assert not await migrate(["team-b", "7", "7"])
    for other in (["7"], None, ["7", "team-b", "8"]):
        with pytest.raises(ClientError, match=r"request_key_conflict: .* for team\(s\) 7, team-b"):
            await migrate(other)
    assert await client.redis.zcard("lifecycle-unit") == 1
