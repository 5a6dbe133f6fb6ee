"""The cleanup keeps a model while a request that retired it can still be undone
(``undo_window``, LIFECYCLE_UNDO_DAYS), on every platform; once the cleanup removed the
source, undo is refused with ``source_deleted``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from db.keys import HostId
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN, HostDriver
from tests.platforms.lifecycle import migration, rows

pytestmark = every_platform


async def retired(runtime: Runtime, driver: HostDriver) -> tuple[HostId, HostId, str]:
    """A source migrated (by a journaled request) to a target; the request's key."""
    source, target = await driver.model("uw-source"), await driver.model("uw-target")
    await driver.live_reference(await driver.team(), source, PLAIN)
    request = migration(source, target)
    assert (await run_request(runtime, request)).status == "succeeded"
    return source, target, request.request_key


async def cleanup(runtime: Runtime, *, dry_run: bool = False) -> dict[str, Any]:
    return await cleanup_retired_models(runtime, CleanupPayload(dry_run=dry_run))


async def test_a_source_that_can_be_undone_is_kept_by_the_cleanup(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, _, key = await retired(runtime, driver)

    for report in (await cleanup(runtime, dry_run=True), await cleanup(runtime)):
        assert report["removed"] == []
        [skipped] = report["skipped"]
        assert (skipped["name"], skipped["reason"]) == ("uw-source", "undo_window")
        assert (skipped["requests"], skipped["undo_days"]) == ([key], 7)
    assert await driver.model_exists(source)


async def test_the_window_ends_with_its_days_and_undo_is_then_refused(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, key = await retired(runtime, driver)
    # Finished eight days ago: past the default seven-day window.
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE model_migrations SET finished_at = now() - interval '8 days' "
                "WHERE request_key = :k"
            ),
            {"k": key},
        )

    report = await cleanup(runtime)

    assert [r["name"] for r in report["removed"]] == ["uw-source"]
    assert not await driver.model_exists(source)
    refused = await undo_request(runtime, UndoRequestPayload(request_key=key, requested_by="ops"))
    assert (refused.status, refused.codes) == ("rejected", ["source_deleted"])
    assert refused.request_status == "succeeded"
    [status] = await rows(
        runtime, "SELECT status FROM model_migrations WHERE request_key = :k", k=key
    )
    assert status.status == "succeeded", "a refusal leaves the request as it was"
    assert await driver.live_counts(target)


async def test_no_window_when_undo_days_is_zero(
    platform: PlatformUnderTest, make_runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, _, key = await retired(runtime, driver)
    unwindowed = await make_runtime(undo_days=0)

    report = await cleanup(unwindowed)

    assert [r["name"] for r in report["removed"]] == ["uw-source"]
    assert not await driver.model_exists(source)
    refused = await undo_request(
        runtime, UndoRequestPayload(request_key=key, requested_by="ops", dry_run=True)
    )
    assert refused.codes == ["source_deleted"]
