"""Cost-map loading, provider-aware matching and the enrichment decisions (no services)."""

import http.server
import json
import logging
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from db.queries.deprecation import EnrichmentRow
from jobs.cost_map import (
    bundled_map_path,
    candidate_keys,
    load_cost_map,
    match_model,
    parse_iso_date,
)
from jobs.deprecation import compute_enrichment

FIXTURE = Path(__file__).parent.parent / "fixtures" / "cost_map_small.json"
TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def entries() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


@pytest.mark.parametrize(
    ("provider", "name", "litellm_model", "expected"),
    [
        ("openai", "gpt-4", None, ["gpt-4", "openai/gpt-4"]),
        ("azure", "gpt-4", None, ["azure/gpt-4"]),
        ("azure", "prod-deployment", "gpt-4", ["gpt-4", "azure/gpt-4"]),
        ("azure", "prod-deployment", "azure/gpt-4", ["azure/gpt-4", "azure/azure/gpt-4"]),
        (
            "google",
            "gemini-1.5-pro",
            None,
            ["gemini/gemini-1.5-pro", "vertex_ai/gemini-1.5-pro", "gemini-1.5-pro"],
        ),
        ("groq", "llama3-8b", None, ["llama3-8b", "groq/llama3-8b"]),
    ],
)
def test_candidate_keys(
    provider: str, name: str, litellm_model: str | None, expected: list[str]
) -> None:
    assert candidate_keys(provider, name, litellm_model) == expected


def test_bedrock_candidates_add_and_strip_region_prefixes() -> None:
    plain = candidate_keys("bedrock", "anthropic.claude-v2:1")
    assert plain[0] == "anthropic.claude-v2:1"
    assert "us.anthropic.claude-v2:1" in plain and "eu.anthropic.claude-v2:1" in plain
    regional = candidate_keys("bedrock", "eu.anthropic.claude-v2:1")
    assert regional[:2] == ["eu.anthropic.claude-v2:1", "bedrock/eu.anthropic.claude-v2:1"]
    assert "anthropic.claude-v2:1" in regional and "us.anthropic.claude-v2:1" not in regional


@pytest.mark.parametrize(
    ("provider", "name", "litellm_model", "key"),
    [
        ("openai", "gpt-4", None, "gpt-4"),  # same name at two providers: each its own entry
        ("azure", "gpt-4", None, "azure/gpt-4"),
        ("azure", "prod-gpt4", "gpt-4", "azure/gpt-4"),  # override, still provider-checked
        ("azure", "prod-gpt4", "azure/gpt-4", "azure/gpt-4"),  # override as litellm users write it
        ("google", "gemini-1.5-pro", None, "gemini/gemini-1.5-pro"),
        ("vertex_ai", "gemini-1.5-pro", None, "gemini-1.5-pro"),
        ("bedrock", "eu.anthropic.claude-v2:1", None, "anthropic.claude-v2:1"),
        (
            "bedrock",
            "anthropic.claude-3-sonnet-20240229-v1:0",
            None,
            "us.anthropic.claude-3-sonnet-20240229-v1:0",
        ),
    ],
)
def test_match_accepts_only_the_providers_family(
    entries: dict[str, Any], provider: str, name: str, litellm_model: str | None, key: str
) -> None:
    assert match_model(entries, provider, name, litellm_model).key == key


def test_override_as_given_still_needs_the_providers_family(entries: dict[str, Any]) -> None:
    # `azure/gpt-4` exists, but an openai model may not take an Azure entry's date.
    found = match_model(entries, "openai", "prod", "azure/gpt-4")
    assert found.entry is None
    assert found.reason is not None and found.reason.startswith("other provider: azure/gpt-4")


def test_entry_of_another_provider_is_reported_not_guessed(entries: dict[str, Any]) -> None:
    found = match_model(entries, "openai", "claude-3-opus-20240229")
    assert found.entry is None
    assert found.reason == "other provider: claude-3-opus-20240229 (anthropic)"
    assert match_model(entries, "openai", "sample_spec").entry is None
    assert match_model(entries, "openai", "no-such-model").reason == "no entry"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01", date(2026, 3, 1)),
        ("2026-13-45", None),
        ("2026-02-30", None),
        ("July 2026", None),
        ("20260301", None),
        ("2026-03-01T00:00:00", None),
        (20260301, None),
        (["2026-03-01"], None),
        ({"date": "2026-03-01"}, None),
        (None, None),
    ],
)
def test_dates_are_parsed_strictly(value: object, expected: date | None) -> None:
    assert parse_iso_date(value) == expected


def _row(
    provider: str,
    name: str,
    *,
    litellm_model: str | None = None,
    deprecated: bool = False,
    when: date | None = None,
) -> EnrichmentRow:
    return EnrichmentRow(uuid.uuid4(), provider, name, None, litellm_model, deprecated, when)


def test_enrichment_golden_cases(entries: dict[str, Any]) -> None:
    openai_gpt4 = _row("openai", "gpt-4")
    azure_gpt4 = _row("azure", "gpt-4")
    inside = _row("openai", "gpt-4-32k")
    outside = _row("openai", "gpt-4-vision-preview")
    malformed = _row("openai", "o1-preview")
    vanished = _row("openai", "gpt-3.5-turbo-0301", deprecated=True, when=date(2025, 6, 1))
    override = _row("azure", "prod-gpt4", litellm_model="gpt-4")
    nodate = _row("openai", "gpt-4o")
    elsewhere = _row("openai", "claude-3-opus-20240229")
    rows = [openai_gpt4, azure_gpt4, inside, outside, malformed, vanished, override, nodate]
    rows.append(elsewhere)

    result = compute_enrichment(rows, entries, TODAY, window_days=30)

    assert result.dates == {
        openai_gpt4.id: date(2026, 3, 1),
        azure_gpt4.id: date(2027, 6, 30),
        inside.id: date(2026, 12, 1),
        outside.id: date(2027, 1, 15),
        override.id: date(2027, 6, 30),
    }
    assert result.deprecate == {openai_gpt4.id}
    assert result.deprecated_events == [(openai_gpt4, date(2026, 3, 1))]
    # Reminders: 10 days before → the 30-day milestone; 55 days before → the 90-day one.
    assert result.retiring_events == [
        (inside, date(2026, 12, 1), 30),
        (outside, date(2027, 1, 15), 90),
    ]
    report = result.report
    assert report["matched"] == 7
    assert report["unmatched"] == ["openai:claude-3-opus-20240229", "openai:gpt-3.5-turbo-0301"]
    assert report["other_provider"] == [
        {
            "model": "openai:claude-3-opus-20240229",
            "reason": "other provider: claude-3-opus-20240229 (anthropic)",
        }
    ]
    assert report["kept"] == [
        {"model": "openai:gpt-3.5-turbo-0301", "id": str(vanished.id), "date": "2025-06-01"}
    ]
    assert report["invalid_dates"] == [
        {
            "model": "openai:o1-preview",
            "id": str(malformed.id),
            "key": "o1-preview",
            "value": "2026-13-45",
        }
    ]
    assert [r["days_left"] for r in report["retiring"]] == [10]
    assert report["unchanged"] == 1


def test_enrichment_is_quiet_once_applied(entries: dict[str, Any]) -> None:
    done = _row("openai", "gpt-4", deprecated=True, when=date(2026, 3, 1))
    later = _row("azure", "gpt-4", when=date(2027, 6, 30))
    result = compute_enrichment([done, later], entries, TODAY, window_days=30)
    assert not result.dates and not result.deprecate and not result.deprecated_events
    assert result.report["unchanged"] == 2


def test_catalog_deprecated_model_keeps_its_flag_and_gets_the_date(
    entries: dict[str, Any],
) -> None:
    flagged = _row("openai", "gpt-4", deprecated=True)
    result = compute_enrichment([flagged], entries, TODAY, window_days=30)
    assert result.dates == {flagged.id: date(2026, 3, 1)}
    assert result.deprecate == set() and result.deprecated_events == []


def test_bundled_map_is_found_without_importing_litellm() -> None:
    code = (
        "import sys\n"
        "from jobs.cost_map import load_cost_map\n"
        "m = load_cost_map()\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
        "print(len(m.entries), m.entries['gpt-4']['litellm_provider'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    count, provider = done.stdout.split()
    assert int(count) > 1000 and provider == "openai"
    assert bundled_map_path().name == "model_prices_and_context_window_backup.json"


def test_configured_source_at_least_half_the_size_is_used(tmp_path: Path) -> None:
    copy = tmp_path / "fresh.json"
    shutil.copy(bundled_map_path(), copy)
    loaded = load_cost_map(str(copy))
    assert loaded.origin == str(copy) and loaded.warning is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "FileNotFoundError"),
        (b"{not json", "JSONDecodeError"),
        (b"[1, 2]", "expected a JSON object"),
        (FIXTURE.read_bytes(), "fewer than half of the bundled"),
    ],
    ids=["missing", "malformed", "not-an-object", "too-small"],
)
def test_unusable_source_falls_back_to_bundled_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | None, reason: str
) -> None:
    source = tmp_path / "override.json"
    if content is not None:
        source.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="lifecycle.cost_map"):
        loaded = load_cost_map(str(source))
    assert loaded.origin == str(bundled_map_path())
    assert loaded.warning is not None and reason in loaded.warning
    assert reason in caplog.text


@pytest.fixture
def map_server() -> Iterator[str]:
    body = bundled_map_path().read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/map.json"
    server.shutdown()
    server.server_close()


def test_url_source_is_fetched(map_server: str) -> None:
    loaded = load_cost_map(map_server)
    assert loaded.origin == map_server and loaded.warning is None
    assert loaded.entries["gpt-4"]["litellm_provider"] == "openai"
