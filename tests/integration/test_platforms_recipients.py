"""The recipients query's rows are the host's data: no row keeps another team from being
told, and what ``platform check`` accepts, the fan-out runs. On every host platform, with
a real webhook receiver and a real SMTP server on loopback."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from db.engine import make_engine
from db.keys import HostId
from db.platform.check import PlatformReport, check_platform
from db.platform.host import Platform
from db.platform.mapping import REFERENCE_PLATFORM_FILE, Recipients
from db.queries.recipients import RecipientsQueryError
from jobs.deliveries import Backoff, send_deliveries
from jobs.faults import is_transient
from jobs.migration import run_request
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from tests.conftest import PlatformUnderTest
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform, mapped_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import migration, rows
from tests.receivers import HttpReceiver, SmtpReceiver

pytestmark = every_platform

MakeRuntime = Callable[..., Awaitable[Runtime]]
TODAY = date(2026, 11, 21)
SECRET = "whsec-recipients-0123456789"
FAST = Backoff(base_seconds=0.01, cap_seconds=0.05)


@dataclasses.dataclass
class Channels:
    """A runtime that sends webhooks and emails to real receivers on loopback."""

    runtime: Runtime
    webhook: HttpReceiver
    smtp: SmtpReceiver


@pytest.fixture
async def channels(make_runtime: MakeRuntime) -> AsyncIterator[Channels]:
    webhook, smtp = await HttpReceiver(secret=SECRET).start(), SmtpReceiver().start()
    try:
        yield Channels(
            await make_runtime(
                webhook_url=webhook.url(),
                webhook_secret=SECRET,
                smtp_url=smtp.url,
                email_from="lifecycle@example.test",
            ),
            webhook,
            smtp,
        )
    finally:
        smtp.stop()
        await webhook.stop()


def with_query(runtime: Runtime, query: str) -> Runtime:
    """``runtime`` on the same platform with another recipients query."""
    mapping = runtime.platform.mapping.model_copy(update={"recipients": Recipients(query=query)})
    return dataclasses.replace(runtime, platform=Platform(mapping))


async def check(platform: PlatformUnderTest, runtime: Runtime) -> PlatformReport:
    engine = make_engine(platform.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await check_platform(conn, runtime.platform.mapping, source="test")
    finally:
        await engine.dispose()


def cli_check(platform: PlatformUnderTest, runtime: Runtime, folder: Path) -> list[str]:
    """The recipients lines ``lifecycle platform check`` prints for a mapping file
    holding ``runtime``'s recipients query (the platform's own mapping otherwise)."""
    host = mapped_platform(platform.name)
    source = (REFERENCE_PLATFORM_FILE if host is None else host.mapping).read_text()
    start = source.index('query = """', source.index("[recipients]"))
    end = source.index('"""', start + len('query = """')) + len('"""')
    edited = folder / "platform.toml"
    query = runtime.platform.mapping.recipients.query
    edited.write_text(f"{source[:start]}query = '''{query}'''{source[end:]}")
    out = run_cli(platform.settings(platform_file=edited), "platform", "check")
    assert out.returncode in (0, 1), out.stderr
    return [line for line in out.stdout.splitlines() if " recipients: " in line]


def recipients_findings(report: PlatformReport) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in report.findings if f.subject == "recipients"]


@dataclasses.dataclass
class Teams:
    """Two teams using ``source``, their members told (``{user_id: (team, email)}``),
    and a team not affected."""

    source: HostId
    target: HostId
    first: HostId
    second: HostId
    unaffected: HostId
    members: dict[HostId, tuple[HostId, str]]

    def of(self, team: HostId) -> list[HostId]:
        return [user for user, (t, _) in self.members.items() if t == team]


async def affected_teams(platform: PlatformUnderTest, per_first: int = 2) -> Teams:
    """Two teams using a model, members allowed to manage models (and one who is not),
    and a team not affected."""
    driver = platform.driver
    source, target = await driver.model("rcpt-source"), await driver.model("rcpt-target")
    first, second, unaffected = await driver.team(), await driver.team(), await driver.team()
    members = {}
    for team, count in ((first, per_first), (second, 1)):
        for _ in range(count):
            user, email = await driver.member(team)
            members[user] = (team, email)
        await driver.member(team, permitted=False)
        await driver.live_reference(team, source, PLAIN)
    await driver.member(unaffected)
    return Teams(source, target, first, second, unaffected, members)


async def shaped(
    platform: PlatformUnderTest, runtime: Runtime, query: str
) -> tuple[Teams, Runtime, list[tuple[str, str]]]:
    """Affected teams, ``runtime`` with ``query`` (``{query}`` standing for the
    platform's own), and what ``platform check`` says of that query."""
    teams = await affected_teams(platform)
    edited = with_query(runtime, query.format(query=runtime.platform.recipients_sql()))
    return teams, edited, recipients_findings(await check(platform, edited))


async def checked(
    platform: PlatformUnderTest,
    runtime: Runtime,
    query: str,
    folder: Path,
    verdict: tuple[str, str],
) -> tuple[Teams, Runtime]:
    """:func:`shaped`, asserting the check's one recipients ``(level, message)``, as a
    finding and as the CLI prints it."""
    teams, edited, findings = await shaped(platform, runtime, query)
    assert findings == [verdict]
    level, message = verdict
    assert cli_check(platform, edited, folder) == [f"{level:<8}recipients: {message}"]
    return teams, edited


async def migrate_and_fan_out(runtime: Runtime, teams: Teams) -> list[dict[str, Any]]:
    """Migrate the teams' model and fan out its event: what each fan-out reported."""
    result = await run_request(runtime, migration(teams.source, teams.target), today=TODAY)
    assert result.status == "succeeded", result
    events = await rows(runtime, "SELECT id FROM lifecycle_events WHERE fanned_out_at IS NULL")
    return [await fanout_event(runtime, FanoutPayload(event_id=e.id)) for e in events]


async def notified(runtime: Runtime) -> dict[str, Any]:
    """``{user_id: email in the notification's data}`` of every in-app row."""
    found = await rows(
        runtime,
        "SELECT CAST(user_id AS text) AS user_id, data->>'email' AS email FROM notifications",
    )
    return {r.user_id: r.email for r in found}


async def email_rows(runtime: Runtime) -> dict[str, tuple[str, str, str | None]]:
    """``{user_id: (status, target, last_error)}`` of the email deliveries."""
    found = await rows(
        runtime,
        "SELECT CAST(user_id AS text) AS user_id, status, target, last_error "
        "FROM deliveries WHERE channel = 'email'",
    )
    return {r.user_id: (r.status, r.target, r.last_error) for r in found}


def webhook_recipients(rx: HttpReceiver) -> dict[str, list[tuple[str, str | None]]]:
    """``{team_id: [(user_id, email), …]}`` as the webhook bodies list them."""
    return {
        b["team"]["id"]: sorted((r["user_id"], r["email"]) for r in b["recipients"])
        for b in rx.bodies()
    }


def expected_webhook(teams: Teams) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = {}
    for user, (team, email) in teams.members.items():
        out.setdefault(str(team), []).append((str(user), email))
    return {team: sorted(people) for team, people in out.items()}


def emailed(smtp: SmtpReceiver) -> list[str]:
    return sorted(rcpt for rcpts, _ in smtp.messages for rcpt in rcpts)


# Point 4: no recipient row can block another team ------------------------------------


async def test_hostile_recipient_rows_are_skipped_one_by_one_and_the_rest_are_told(
    platform: PlatformUnderTest, channels: Channels
) -> None:
    teams = await affected_teams(platform, per_first=4)
    no_mail, too_long, two_lines, fine = teams.of(teams.first)
    [other] = teams.of(teams.second)
    original = channels.runtime.platform.recipients_sql()
    # Three of the first team's members get an address that is none; each row comes
    # twice, once with no team, once with no user, once for a team not asked for.
    runtime = with_query(
        channels.runtime,
        f"""
WITH base AS ({original}
), shaped AS (
    SELECT team_id, user_id,
           CASE CAST(user_id AS text)
                WHEN '{no_mail}' THEN NULL
                WHEN '{too_long}' THEN repeat('x', 100000) || '@example.test'
                WHEN '{two_lines}' THEN email || chr(13) || chr(10) || 'Bcc: all@example.test'
                ELSE email END AS email
    FROM base
)
SELECT team_id, user_id, email FROM shaped
UNION ALL SELECT team_id, user_id, email FROM shaped
UNION ALL SELECT NULL, user_id, email FROM shaped
UNION ALL SELECT team_id, NULL, email FROM shaped
UNION ALL SELECT '{teams.unaffected}', user_id, email FROM shaped
""",
    )

    [fanned] = await migrate_and_fan_out(runtime, teams)

    assert fanned["status"] == "fanned_out"
    # Per member: once told, then skipped as a repeat, with no team, with no user, and
    # for a team not asked for; three told in-app only.
    assert (fanned["recipient_rows_skipped"], fanned["emails_not_sent"]) == (20, 3)
    assert (
        f"user {no_mail} of team {teams.first}: no email address (NULL); told in-app only"
        in (fanned["skipped"])
    )
    email_of = {str(u): e for u, (_, e) in teams.members.items()}
    assert await notified(runtime) == {
        str(no_mail): None,
        str(too_long): None,
        str(two_lines): None,
        str(fine): email_of[str(fine)],
        str(other): email_of[str(other)],
    }
    assert await email_rows(runtime) == {
        str(no_mail): ("failed", "", "not sent: no email address (NULL)"),
        str(too_long): (
            "failed",
            "",
            "not sent: the email is 100013 characters long (at most 254)",
        ),
        str(two_lines): ("failed", "", "not sent: the email is not one address"),
        str(fine): ("pending", email_of[str(fine)], None),
        str(other): ("pending", email_of[str(other)], None),
    }
    report = await send_deliveries(runtime, EmptyPayload(), backoff=FAST, linger_seconds=0)
    assert report == {"delivered": 4, "retrying": 0, "failed": 0}  # two emails, two webhooks
    assert emailed(channels.smtp) == sorted([email_of[str(fine)], email_of[str(other)]])
    told = webhook_recipients(channels.webhook)
    assert told[str(teams.second)] == [(str(other), email_of[str(other)])]
    assert told[str(teams.first)] == sorted(
        [(str(u), None) for u in (no_mail, too_long, two_lines)]
        + [(str(fine), email_of[str(fine)])]
    )

    listing = run_cli(platform.settings(), "notifications", "--failed", "--json")
    assert listing.returncode == 0, listing.stderr
    failed = json.loads(listing.stdout)["deliveries"]
    assert sorted(d["last_error"] for d in failed) == [
        "not sent: no email address (NULL)",
        "not sent: the email is 100013 characters long (at most 254)",
        "not sent: the email is not one address",
    ]
    assert "x" * 300 not in listing.stdout and "Bcc" not in listing.stdout

    # Queued again, they still have nowhere to go: failed at once, nothing sent.
    retry = run_cli(platform.settings(), "notifications", "retry")
    assert "3 failed delivery(ies) queued again" in retry.stdout, retry.stderr
    report = await send_deliveries(runtime, EmptyPayload(), backoff=FAST, linger_seconds=0)
    assert report == {"delivered": 0, "retrying": 0, "failed": 3}
    assert len(channels.smtp.messages) == 2
    assert {v[2] for k, v in (await email_rows(runtime)).items() if v[0] == "failed"} == {
        "not sent: the recipient has no email address"
    }


# Point 5: what the check accepts, the fan-out runs; what it cannot run, the check refuses


READ_BY_NAME = "the query returns team_id, user_id, email (read by name)"
ACCEPTED = {
    "columns in another order": (
        "SELECT base.email, base.user_id, base.team_id FROM ({query}\n) AS base",
        READ_BY_NAME,
    ),
    "a fourth column": (
        "SELECT base.*, 'extra' AS note FROM ({query}\n) AS base",
        "the query returns team_id, user_id, email (read by name; note ignored)",
    ),
    "a comment on its last line": ("{query}\n-- the members who manage models", READ_BY_NAME),
    "a semicolon, then comments": ("{query};  -- the managers\n-- of each team\n", READ_BY_NAME),
}


@pytest.mark.parametrize("shape", list(ACCEPTED))
async def test_a_query_the_check_accepts_tells_every_member_on_every_channel(
    platform: PlatformUnderTest, channels: Channels, shape: str, tmp_path: Path
) -> None:
    query, ok = ACCEPTED[shape]
    teams, runtime = await checked(platform, channels.runtime, query, tmp_path, ("ok", ok))
    [fanned] = await migrate_and_fan_out(runtime, teams)
    await send_deliveries(runtime, EmptyPayload(), backoff=FAST, linger_seconds=0)

    assert fanned["status"] == "fanned_out" and "skipped" not in fanned
    assert await notified(runtime) == {str(u): e for u, (_, e) in teams.members.items()}
    assert webhook_recipients(channels.webhook) == expected_webhook(teams)
    assert emailed(channels.smtp) == sorted(e for _, e in teams.members.values())


REFUSED = {
    "a data-modifying CTE": (
        "WITH logged AS (INSERT INTO recipients_log (n) VALUES (1) RETURNING n) "
        "SELECT base.* FROM ({query}\n) AS base, logged",
        "the query writes (INSERT into recipients_log): it runs in a read-only transaction "
        "and may only read",
        "it writes or locks rows, and it runs read-only "
        r"\(cannot execute SELECT in a read-only transaction\)",
    ),
    "row locks": (
        "{query}\nFOR UPDATE",
        "the query locks rows (FOR UPDATE/SHARE): it runs in a read-only transaction, "
        "which refuses row locks",
        "it writes or locks rows, and it runs read-only "
        r"\(cannot execute SELECT FOR UPDATE in a read-only transaction\)",
    ),
}


@pytest.mark.parametrize("shape", list(REFUSED))
async def test_a_query_that_cannot_run_read_only_is_refused_and_writes_nothing(
    platform: PlatformUnderTest, runtime: Runtime, shape: str, tmp_path: Path
) -> None:
    query, refusal, failure = REFUSED[shape]
    async with platform.driver.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE recipients_log (n integer)"))
    teams, writing = await checked(platform, runtime, query, tmp_path, ("error", refusal))

    with pytest.raises(RecipientsQueryError, match=failure):
        await migrate_and_fan_out(writing, teams)
    assert await rows(runtime, "SELECT n FROM recipients_log") == []
    assert await notified(runtime) == {}


# Point 7: one verdict per query; wrong column types are refused and still block no one

WRONG_TYPES = {
    "user_id as text": (
        "SELECT base.team_id, CAST(base.user_id AS text) AS user_id, base.email "
        "FROM ({query}\n) AS base",
        "user_id is text, expected a key type",
    ),
    "email as a number": (
        "SELECT base.team_id, base.user_id, length(base.email) AS email FROM ({query}\n) AS base",
        "email is int4, expected text",
    ),
}


@pytest.mark.parametrize("shape", list(WRONG_TYPES))
async def test_a_wrongly_typed_column_is_only_an_error_and_blocks_no_team(
    platform: PlatformUnderTest, channels: Channels, shape: str, tmp_path: Path
) -> None:
    query, error = WRONG_TYPES[shape]
    teams, runtime = await checked(platform, channels.runtime, query, tmp_path, ("error", error))
    [fanned] = await migrate_and_fan_out(runtime, teams)

    assert fanned["status"] == "fanned_out"
    members = len(teams.members)
    if shape == "user_id as text":  # no row names a user: nobody can be told
        assert (fanned["recipient_rows_skipped"], fanned["emails_not_sent"]) == (members, 0)
        assert await notified(runtime) == {}
    else:  # every member told in-app; no email without an address
        assert (fanned["recipient_rows_skipped"], fanned["emails_not_sent"]) == (0, members)
        assert await notified(runtime) == {str(u): None for u in teams.members}
        assert {e[2] for e in (await email_rows(runtime)).values()} == {
            "not sent: the email is int, not text"
        }
    assert len(channels.webhook.calls) == 0  # nothing sent yet; the webhooks wait in the outbox
    assert {str(t) for t in (teams.first, teams.second)} == {
        str(r.team_id)
        for r in await rows(runtime, "SELECT team_id FROM deliveries WHERE channel = 'webhook'")
    }


@pytest.mark.parametrize(
    ("sqlstate", "transient"), [("40P01", True), ("57014", True), ("22012", False)]
)
async def test_a_transient_fault_in_the_query_is_retried_and_another_names_the_query(
    platform: PlatformUnderTest, runtime: Runtime, sqlstate: str, transient: bool
) -> None:
    async with platform.driver.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION recipients_fault() RETURNS boolean LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{sqlstate}'; END $$"
            )
        )
    teams, faulty, _ = await shaped(
        platform, runtime, "SELECT base.* FROM ({query}\n) AS base WHERE recipients_fault()"
    )

    with pytest.raises(Exception) as raised:
        await migrate_and_fan_out(faulty, teams)
    assert is_transient(raised.value) is transient
    if not transient:
        assert str(raised.value) == (
            "the recipients query failed: injected; see `lifecycle platform check`"
        )
    assert await notified(runtime) == {}


async def test_a_query_that_fails_to_plan_is_an_error_every_time_it_is_checked(
    platform: PlatformUnderTest, runtime: Runtime
) -> None:
    query = runtime.platform.recipients_sql()
    failing = with_query(runtime, f"SELECT base.* FROM ({query}\n) AS base WHERE 1/0 = 1")
    engine = make_engine(platform.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:  # one connection: nothing may be left on it
            reports = [
                await check_platform(conn, failing.platform.mapping, source="test")
                for _ in range(2)
            ]
    finally:
        await engine.dispose()
    for report in reports:
        assert recipients_findings(report) == [
            ("error", "the query does not prepare: division by zero")
        ]
