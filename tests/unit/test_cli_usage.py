import pytest

from worker.cli.main import build_parser, leaf_parsers, main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("db", "worker", "health"):
        assert command in out


def test_unknown_command_is_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_bad_configuration_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIFECYCLE_TIMEZONE", "Nowhere/Land")
    assert main(["health"]) == 2
    assert "unknown timezone" in capsys.readouterr().err


def test_every_command_has_a_description() -> None:
    missing = [p.prog for p in leaf_parsers(build_parser()) if not p.description]
    assert missing == []
