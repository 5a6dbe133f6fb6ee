"""Each parameter's fate on a target, decided by litellm's own translation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.parameters import Change, Target, decide, rule, tally

O3_MINI = Target("openai", "o3-mini", 100_000)
GPT_4O_MINI = Target("openai", "gpt-4o-mini", 16_384)
CLAUDE = Target("anthropic", "claude-3-5-sonnet-20240620", 8_192)


@pytest.mark.parametrize(
    ("target", "key", "value", "action", "to_key", "to_value"),
    [
        (O3_MINI, "max_tokens", 512, "renamed", "max_completion_tokens", 512),
        (O3_MINI, "temperature", 0.2, "dropped", "temperature", 0.2),
        (O3_MINI, "temperature", 1, "kept", "temperature", 1),
        (O3_MINI, "top_p", 0.9, "dropped", "top_p", 0.9),
        (O3_MINI, "max_tokens", 250_000, "clamped", "max_completion_tokens", 100_000),
        (GPT_4O_MINI, "max_tokens", 512, "kept", "max_tokens", 512),
        (GPT_4O_MINI, "temperature", 0.2, "kept", "temperature", 0.2),
        (GPT_4O_MINI, "top_p", 0.9, "kept", "top_p", 0.9),
        (CLAUDE, "max_completion_tokens", 300, "renamed", "max_tokens", 300),
        (CLAUDE, "stop", ["END"], "kept", "stop", ["END"]),  # not stop_sequences
        (CLAUDE, "n", 2, "dropped", "n", 2),
        (GPT_4O_MINI, "house_style", "terse", "unchecked", "house_style", "terse"),
        (GPT_4O_MINI, "stream", True, "unchecked", "stream", True),
    ],
)
def test_each_pair_is_decided_by_litellm(
    target: Target, key: str, value: object, action: str, to_key: str, to_value: object
) -> None:
    assert decide(target, key, value) == Change(action, key, value, to_key, to_value)  # type: ignore[arg-type]


def test_rules_name_only_what_changes() -> None:
    assert rule(decide(O3_MINI, "max_tokens", 512)) == {
        "k": "max_tokens",
        "v": 512,
        "to": "max_completion_tokens",
    }
    assert rule(decide(O3_MINI, "temperature", 0.2)) == {"k": "temperature", "v": 0.2, "drop": True}
    assert rule(decide(GPT_4O_MINI, "seed", 3)) == {"k": "seed", "v": 3}


def test_tally_counts_rows_per_change() -> None:
    found = tally(
        "assistants.model_parameters",
        O3_MINI,
        [("max_tokens", 512, 3), ("max_tokens", 64, 2), ("temperature", 0.2, 4)],
    )
    assert found.lines("renamed") == [
        "assistants.model_parameters: max_tokens renamed to max_completion_tokens in 5 row(s)"
    ]
    assert found.lines("dropped") == [
        "assistants.model_parameters: temperature dropped (values 0.2) in 4 row(s)"
    ]


def test_the_cli_and_the_worker_start_without_importing_litellm() -> None:
    # litellm's import takes seconds: only a migration that carries parameters pays it.
    code = (
        "import sys, worker.cli.main, worker.app, jobs.request_execution, jobs.validation; "
        "print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
