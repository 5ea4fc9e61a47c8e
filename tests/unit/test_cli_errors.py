"""What `peacewatch` prints when a command fails: one line for what the user can fix, a
traceback said to be a bug for anything else."""

from __future__ import annotations

import sys

import pulsar
import pytest

from peacewatch.cli import app as cli
from peacewatch.platform.errors import InvalidArgument, PeacewatchError


def _failing_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def app() -> None:
        raise exc

    monkeypatch.setattr(cli, "app", app)


def _run(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        cli.run()
    code = exited.value.code
    return int(code) if isinstance(code, int) else 1, capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (PeacewatchError("the force north is not onboarded"), "not onboarded"),
        (InvalidArgument("invalid tenant name 'X'"), "invalid tenant name"),
        (pulsar.ConnectError("connection refused"), "is it running?"),
        (OSError("Generic S3 error: error sending request"), "is MinIO running?"),
    ],
)
def test_what_the_user_can_fix_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: BaseException, says: str
) -> None:
    _failing_with(monkeypatch, exc)
    code, err = _run(capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert says in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("an internal invariant broke"),
        FileNotFoundError(2, "No such file or directory", "/nowhere/kit/token"),
        KeyError("partition"),
    ],
)
def test_anything_else_is_a_bug_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: BaseException
) -> None:
    _failing_with(monkeypatch, exc)
    code, err = _run(capsys)
    assert code == 70
    assert "Traceback" in err
    assert "this is a bug in peacewatch" in err
    assert "MinIO" not in err


def test_an_invalid_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PEACEWATCH_PULSAR__BROKER_PORT", "not-a-port")
    monkeypatch.setattr(sys, "argv", ["peacewatch", "stack", "status"])
    code, err = _run(capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "invalid setting pulsar.broker_port" in err
