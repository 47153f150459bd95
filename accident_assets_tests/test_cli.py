from types import SimpleNamespace

import pytest
import typer

from accident_assets import cli


def test_a_failed_run_prints_its_id_to_stderr_and_exits_non_zero(monkeypatch, capsys):
    failed = SimpleNamespace(success=False, run_id="run-123")
    job = SimpleNamespace(execute_in_process=lambda **_: failed)
    monkeypatch.setattr(cli, "_job", lambda name: job)
    with pytest.raises(typer.Exit) as raised:
        cli._execute("france_ingest_job", instance=None, partition_key="2021")
    assert raised.value.exit_code == 1
    err = capsys.readouterr().err
    assert "france_ingest_job" in err
    assert "run-123" in err
