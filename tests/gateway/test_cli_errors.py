"""The CLIs outside the stack's environment: one line saying what was tried and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.ops import keys_cli, status_cli


@pytest.mark.parametrize("cli", [keys_cli.main, status_cli.main])
def test_unreachable_nats_names_what_was_tried_and_how_to_point_at_the_stack(
        cli: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("NATS_PORT", "1")  # nothing listens there
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    assert callable(cli)
    assert cli(["list"] if cli is keys_cli.main else []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot reach NATS (NATS_PORT=1 on 127.0.0.1")
    assert f"GATEWAY_DATA_DIR={tmp_path / 'data'}" in err
    assert "the stack's own GATEWAY_DATA_DIR" in err and "NATS_OPERATOR_PASSWORD" in err
